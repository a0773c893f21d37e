//! Browser: catalog pages (`GET /v1/garments?limit=..&cursor=..`) and a few
//! garments of each page (`GET /v1/garments/{id}`). Needs no token.

use scenarios::Journeys;

use super::{Learned, SimUser, Stage, draw, keep_ids};

pub(super) fn first(user: &mut SimUser, cfg: &Journeys) -> Stage {
    let range = cfg.browser.as_ref().map_or([1, 4], |b| *b.pages.get_ref());
    user.left = draw(&mut user.rng, range).max(1);
    user.cursor = None;
    Stage::Page
}

pub(super) fn after(user: &mut SimUser, ok: bool, learned: &Learned, cfg: &Journeys) -> Stage {
    match user.stage {
        Stage::Page => {
            user.left = user.left.saturating_sub(1);
            if !ok {
                return Stage::Done;
            }
            user.cursor = learned.next_cursor;
            keep_ids(user, &learned.ids);
            let range = cfg
                .browser
                .as_ref()
                .map_or([0, 2], |b| *b.details_per_page.get_ref());
            user.inner = draw(&mut user.rng, range).min(user.id_count);
            next_page_or_detail(user)
        }
        Stage::Detail => {
            user.inner = user.inner.saturating_sub(1);
            next_page_or_detail(user)
        }
        _ => Stage::Done,
    }
}

fn next_page_or_detail(user: &SimUser) -> Stage {
    if user.inner > 0 {
        Stage::Detail
    } else if user.left > 0 && user.cursor.is_some() {
        Stage::Page
    } else {
        Stage::Done
    }
}
