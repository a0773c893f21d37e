//! Returning user: outfits (`GET /v1/outfits`), feedback, saved outfits
//! (`GET /v1/users/me/saved`). Without a token yet, registers and onboards first.

use scenarios::Journeys;

use super::{Learned, SimUser, Stage, draw, keep_ids, signed_in_start};

pub(super) fn first(user: &SimUser) -> Stage {
    signed_in_start(user, Stage::Outfits)
}

pub(super) fn after(user: &mut SimUser, ok: bool, learned: &Learned, cfg: &Journeys) -> Stage {
    match (user.stage, ok) {
        (Stage::Register, true) if user.token.is_some() => Stage::Profile,
        (Stage::Profile, true) => Stage::Outfits,
        (Stage::Outfits, true) if !learned.ids.is_empty() => {
            keep_ids(user, &learned.ids);
            let range = cfg
                .returning
                .as_ref()
                .map_or([0, 3], |r| *r.feedback.get_ref());
            user.left = draw(&mut user.rng, range);
            if user.left == 0 {
                Stage::Saved
            } else {
                Stage::Feedback
            }
        }
        (Stage::Outfits, _) => Stage::Saved,
        (Stage::Feedback, _) => {
            user.left = user.left.saturating_sub(1);
            if user.left == 0 {
                Stage::Saved
            } else {
                Stage::Feedback
            }
        }
        _ => Stage::Done,
    }
}
