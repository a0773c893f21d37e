//! The store suite, run against each backend.

use outfit_server::{
    config::PoolSettings,
    engine,
    store::{Db, FeedbackAction, GarmentFilter, NewFeedback},
    telemetry::Metrics,
};

use crate::helpers::{Backend, fresh_database, sample_profile};

on_each_backend!(
    upserting_the_same_garments_twice_changes_nothing,
    an_upsert_updates_changed_fields,
    profiles_are_replaced_not_duplicated,
    feedback_with_an_idempotency_key_lands_once,
    migrations_can_run_twice,
);

async fn db(backend: Backend) -> (Db, crate::helpers::FreshDb) {
    let fresh = fresh_database(backend).await;
    let db = Db::connect(
        &fresh.url.clone().into(),
        &PoolSettings::default(),
        Metrics::new(),
    )
    .await
    .expect("connect");
    db.migrate().await.expect("migrate");
    (db, fresh)
}

fn rows(n: usize) -> Vec<(String, outfit_server::domain::Garment)> {
    engine::synthetic::catalog(n, 5)
        .into_iter()
        .map(|g| (format!("ext-{}", g.id), g))
        .collect()
}

async fn upserting_the_same_garments_twice_changes_nothing(backend: Backend) {
    let (db, _fresh) = db(backend).await;
    let rows = rows(1_200);
    assert_eq!(
        db.upsert_garments("feed-a", &rows).await.expect("first"),
        1_200
    );
    let first = db.all_garments().await.expect("read");
    db.upsert_garments("feed-a", &rows).await.expect("second");
    let second = db.all_garments().await.expect("read");
    assert_eq!(first, second);
    assert_eq!(first.len(), 1_200);
    // the same external ids under another feed are other garments
    db.upsert_garments("feed-b", &rows[..10])
        .await
        .expect("other feed");
    assert_eq!(db.all_garments().await.expect("read").len(), 1_210);
    let g = &first[0];
    let mut expected = rows[0].1.clone();
    expected.id = g.id;
    assert_eq!(*g, expected, "a garment reads back as written");
    db.close().await;
}

async fn an_upsert_updates_changed_fields(backend: Backend) {
    let (db, _fresh) = db(backend).await;
    let mut rows = rows(3);
    db.upsert_garments("f", &rows).await.expect("first");
    rows[1].1.price_cents = 1_234;
    rows[1].1.available = false;
    db.upsert_garments("f", &rows).await.expect("second");
    let all = db.all_garments().await.expect("read");
    assert_eq!(all.len(), 3);
    assert_eq!(all[1].price_cents, 1_234);
    assert!(!all[1].available);
    let page = db
        .garments_page(&GarmentFilter {
            available: Some(false),
            limit: 10,
            ..GarmentFilter::default()
        })
        .await
        .expect("page");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.next_cursor, None);
    let found = db.garment(all[0].id).await.expect("get").expect("exists");
    assert_eq!(found, all[0]);
    let slot_page = db
        .garments_page(&GarmentFilter {
            slot: Some(all[2].slot),
            limit: 10,
            ..GarmentFilter::default()
        })
        .await
        .expect("page");
    assert!(slot_page.items.iter().all(|g| g.slot == all[2].slot));
    db.close().await;
}

async fn profiles_are_replaced_not_duplicated(backend: Backend) {
    let (db, _fresh) = db(backend).await;
    let user = db.create_user("hash-1").await.expect("user");
    assert_eq!(db.profile(user).await.expect("read"), None);
    let mut profile: outfit_server::domain::Profile =
        serde_json::from_value(sample_profile()).expect("profile");
    db.put_profile(user, &profile).await.expect("put");
    profile.budget_cents = 10_000;
    db.put_profile(user, &profile).await.expect("replace");
    assert_eq!(db.profile(user).await.expect("read"), Some(profile));
    assert_eq!(
        db.user_by_token_hash("hash-1").await.expect("find"),
        Some(user)
    );
    assert_eq!(db.user_by_token_hash("hash-2").await.expect("find"), None);
    db.close().await;
}

async fn feedback_with_an_idempotency_key_lands_once(backend: Backend) {
    let (db, _fresh) = db(backend).await;
    let user = db.create_user("h").await.expect("user");
    let fb = NewFeedback {
        action: FeedbackAction::Save,
        outfit_id: "abc".into(),
        garment_ids: vec![1, 2, 3],
        idempotency_key: Some("key".into()),
    };
    let (id1, new1) = db.insert_feedback(user, &fb).await.expect("first");
    let (id2, new2) = db.insert_feedback(user, &fb).await.expect("retry");
    assert!(new1 && !new2);
    assert_eq!(id1, id2);
    let unkeyed = NewFeedback {
        idempotency_key: None,
        ..fb.clone()
    };
    db.insert_feedback(user, &unkeyed).await.expect("a");
    db.insert_feedback(user, &unkeyed).await.expect("b");
    assert_eq!(db.feedback_count(user).await.expect("count"), 3);
    let saved = db.saved_outfits(user, 10).await.expect("saved");
    assert_eq!(saved.len(), 3);
    assert_eq!(saved[2].feedback_id, id1, "newest first");
    assert_eq!(saved[0].garment_ids, vec![1, 2, 3]);
    db.close().await;
}

async fn migrations_can_run_twice(backend: Backend) {
    let (db, _fresh) = db(backend).await;
    db.migrate().await.expect("again");
    db.close().await;
}
