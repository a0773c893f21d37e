//! Impatient user: outfits, one like/dislike, and a pull to refresh for more
//! outfits. Slow answers are abandoned and sent again (`refresh_after`); shed
//! answers are retried after `Retry-After` or at once (`on_503`), both up to
//! `max_retries`; the retries themselves live in [`super::Mix::after`].

use super::{Learned, SimUser, Stage, keep_ids, signed_in_start};

pub(super) fn first(user: &SimUser) -> Stage {
    signed_in_start(user, Stage::Outfits)
}

pub(super) fn after(user: &mut SimUser, ok: bool, learned: &Learned) -> Stage {
    match (user.stage, ok) {
        (Stage::Register, true) if user.token.is_some() => Stage::Profile,
        (Stage::Profile, true) => Stage::Outfits,
        (Stage::Outfits, true) if user.left == 0 && !learned.ids.is_empty() => {
            keep_ids(user, &learned.ids);
            Stage::Feedback
        }
        (Stage::Feedback, _) => {
            // the pull to refresh
            user.left = 1;
            Stage::Outfits
        }
        _ => Stage::Done,
    }
}
