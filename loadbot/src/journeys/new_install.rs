//! New install: register (`POST /v1/users`), onboarding
//! (`PUT /v1/users/me/profile`), first outfits, a few likes/dislikes.

use scenarios::Journeys;

use super::{Learned, SimUser, Stage, draw, keep_ids};

pub(super) fn first(user: &mut SimUser) -> Stage {
    // a fresh install has no token, whatever this user had before
    user.token = None;
    user.onboarded = false;
    Stage::Register
}

pub(super) fn after(user: &mut SimUser, ok: bool, learned: &Learned, cfg: &Journeys) -> Stage {
    match (user.stage, ok) {
        (Stage::Register, true) if user.token.is_some() => Stage::Profile,
        (Stage::Profile, true) => Stage::Outfits,
        (Stage::Outfits, true) if !learned.ids.is_empty() => {
            keep_ids(user, &learned.ids);
            let range = cfg
                .new_install
                .as_ref()
                .map_or([1, 4], |n| *n.feedback.get_ref());
            user.left = draw(&mut user.rng, range);
            if user.left == 0 {
                Stage::Done
            } else {
                Stage::Feedback
            }
        }
        (Stage::Feedback, _) => {
            user.left = user.left.saturating_sub(1);
            if user.left == 0 {
                Stage::Done
            } else {
                Stage::Feedback
            }
        }
        // a failed registration, onboarding or first outfits ends the session
        _ => Stage::Done,
    }
}
