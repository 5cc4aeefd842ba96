//! Conformance checks for feature flags: create-or-replace, patch, delete, optimistic
//! concurrency, exact round trips, concurrent writers, and the audit trail.
//!
//! A backend instantiates them with [`flags_suite!`] beside `conformance_suite!`.

use crate::{FlagAction, FlagChangeQuery, Page, Store, StoreError};
use muster_domain::flag::{Flag, FlagKey, FlagPatch, FlagSpec};
use serde_json::{Value, json};
use std::sync::Arc;

/// Instantiates every flag check as a `#[tokio::test]` using `$fresh().await`.
#[macro_export]
macro_rules! flags_suite {
    ($fresh:path) => {
        $crate::flags_suite!(@each $fresh; flags_crud, flags_round_trip_exactly, flag_preconditions,
            flag_changes_are_audited, concurrent_flag_writes_serialise);
    };
    (@each $fresh:path; $($name:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let store: std::sync::Arc<dyn $crate::Store> = $fresh().await;
                $crate::testing::flags::$name(store).await;
            }
        )+
    };
}

fn key(k: &str) -> FlagKey {
    FlagKey::parse(k).unwrap()
}

fn spec(v: &Value) -> FlagSpec {
    FlagSpec::from_json(v.as_object().expect("an object")).unwrap()
}

fn patch(v: &Value) -> FlagPatch {
    FlagPatch::from_json(v.as_object().expect("an object")).unwrap()
}

pub async fn flags_crud(s: Arc<dyn Store>) {
    assert!(s.list_flags().await.unwrap().is_empty());
    let (f, created) = s
        .put_flag(&key("csv-import"), spec(&json!({"enabled": false, "rollout_percent": 0})), None, "ops")
        .await
        .unwrap();
    assert!(created);
    assert_eq!((f.version, f.updated_by.as_str(), f.created_at), (1, "ops", f.updated_at));
    assert_eq!(s.get_flag("csv-import").await.unwrap(), f, "reads back as written");

    let (g, created) = s
        .put_flag(&key("csv-import"), spec(&json!({"enabled": true, "rollout_percent": 25})), None, "ana")
        .await
        .unwrap();
    assert!(!created, "a second put replaces");
    assert_eq!((g.version, g.updated_by.as_str(), g.created_at), (2, "ana", f.created_at));
    assert!(g.updated_at >= f.updated_at);
    assert_eq!(g.spec.rollout_percent.hundredths(), 2500);

    let h = s.update_flag("csv-import", patch(&json!({"rollout_percent": 50})), None, "ben").await.unwrap();
    assert_eq!((h.version, h.updated_by.as_str(), h.spec.enabled), (3, "ben", true), "a patch keeps the rest");
    assert_eq!(s.list_flags().await.unwrap(), vec![h.clone()]);

    s.put_flag(&key("a-first"), spec(&json!({"enabled": true, "rollout_percent": 1})), None, "ops").await.unwrap();
    let keys: Vec<String> = s.list_flags().await.unwrap().into_iter().map(|f| f.key.to_string()).collect();
    assert_eq!(keys, ["a-first", "csv-import"], "listed by key");

    s.delete_flag("csv-import", None, "ops").await.unwrap();
    assert!(matches!(s.get_flag("csv-import").await, Err(StoreError::NotFound { entity: "flag" })));
    assert!(matches!(s.delete_flag("csv-import", None, "ops").await, Err(StoreError::NotFound { .. })));
    assert!(matches!(
        s.update_flag("csv-import", FlagPatch::default(), None, "ops").await,
        Err(StoreError::NotFound { .. })
    ));
}

pub async fn flags_round_trip_exactly(s: Arc<dyn Store>) {
    let full = spec(&json!({
        "description": "New checkout: ship dark, widen slowly",
        "enabled": true,
        "rollout_percent": 33.33,
        "allow": ["zoe", "amy", "o'brien \"q\""],
        "deny": ["mallory"],
        "variants": [{"name": "blue", "weight": 3}, {"name": "green", "weight": 1}, {"name": "unused", "weight": 0}],
        "off_variant": "classic",
    }));
    let (f, _) = s.put_flag(&key("checkout.v2"), full.clone(), None, "ops").await.unwrap();
    assert_eq!(f.spec, full);
    let back = s.get_flag("checkout.v2").await.unwrap();
    assert_eq!(back, f);
    assert_eq!(back.spec.allow, ["amy", "o'brien \"q\"", "zoe"]);
    assert_eq!(back.spec.rollout_percent.hundredths(), 3333);
    let cleared = s
        .update_flag("checkout.v2", patch(&json!({"description": null, "variants": [], "allow": []})), None, "ops")
        .await
        .unwrap();
    assert_eq!((cleared.spec.description.clone(), cleared.spec.off_variant.clone()), (None, None));
    assert_eq!(s.get_flag("checkout.v2").await.unwrap(), cleared);
}

pub async fn flag_preconditions(s: Arc<dyn Store>) {
    let on = spec(&json!({"enabled": true, "rollout_percent": 100}));
    let stale = |r: Result<(), StoreError>| matches!(r, Err(StoreError::PreconditionFailed { entity: "flag", .. }));
    assert!(stale(s.put_flag(&key("k"), on.clone(), Some(1), "ops").await.map(drop)), "If-Match on a missing flag");
    s.put_flag(&key("k"), on.clone(), None, "ops").await.unwrap();
    assert!(stale(s.put_flag(&key("k"), on.clone(), Some(7), "ops").await.map(drop)));
    assert!(stale(s.update_flag("k", patch(&json!({"enabled": false})), Some(7), "ops").await.map(drop)));
    assert!(stale(s.delete_flag("k", Some(7), "ops").await));
    let (f, _) = s.put_flag(&key("k"), on.clone(), Some(1), "ops").await.unwrap();
    assert_eq!(f.version, 2);
    let f = s.update_flag("k", patch(&json!({"enabled": false})), Some(2), "ops").await.unwrap();
    assert_eq!(f.version, 3);
    // a patch that leaves an invalid flag is refused and changes nothing
    let bad = s.update_flag("k", patch(&json!({"off_variant": "control"})), None, "ops").await;
    assert!(matches!(&bad, Err(StoreError::Invalid(v)) if v.0[0].field == "off_variant"), "{bad:?}");
    assert_eq!(s.get_flag("k").await.unwrap(), f);
    s.delete_flag("k", Some(3), "ops").await.unwrap();
}

pub async fn flag_changes_are_audited(s: Arc<dyn Store>) {
    let none = FlagChangeQuery::default();
    assert!(s.list_flag_changes(&none).await.unwrap().items.is_empty());
    let (created, _) =
        s.put_flag(&key("a"), spec(&json!({"enabled": false, "rollout_percent": 0})), None, "amy").await.unwrap();
    let (replaced, _) =
        s.put_flag(&key("a"), spec(&json!({"enabled": true, "rollout_percent": 1})), None, "ben").await.unwrap();
    let updated = s.update_flag("a", patch(&json!({"rollout_percent": 100})), None, "cy").await.unwrap();
    s.delete_flag("a", None, "dee").await.unwrap();
    s.put_flag(&key("b"), spec(&json!({"enabled": true, "rollout_percent": 5})), None, "eve").await.unwrap();

    let all = s.list_flag_changes(&none).await.unwrap();
    let seen: Vec<(&str, FlagAction, &str)> =
        all.items.iter().map(|c| (c.key.as_str(), c.action, c.actor.as_str())).collect();
    assert_eq!(
        seen,
        [
            ("b", FlagAction::Created, "eve"),
            ("a", FlagAction::Deleted, "dee"),
            ("a", FlagAction::Updated, "cy"),
            ("a", FlagAction::Replaced, "ben"),
            ("a", FlagAction::Created, "amy"),
        ],
        "newest first"
    );
    let json_of = |f: &Flag| serde_json::to_value(f).unwrap();
    let [_, deleted, upd, rep, cre] = &all.items[..] else { panic!("five changes") };
    assert_eq!((cre.before.clone(), cre.after.clone()), (None, Some(json_of(&created))));
    assert_eq!((rep.before.clone(), rep.after.clone()), (Some(json_of(&created)), Some(json_of(&replaced))));
    assert_eq!(upd.after, Some(json_of(&updated)));
    assert_eq!((deleted.before.clone(), deleted.after.clone()), (Some(json_of(&updated)), None));
    assert!(all.items.windows(2).all(|w| w[0].at >= w[1].at && w[0].id > w[1].id));
    assert_eq!(updated.updated_at, upd.at, "the change is stamped with the flag's updated_at");

    // one flag's history, survived its deletion, paged
    let only_a = |after| FlagChangeQuery { key: Some("a".into()), page: Page { limit: 3, after } };
    let first = s.list_flag_changes(&only_a(None)).await.unwrap();
    assert_eq!(first.items.len(), 3);
    let cursor = first.next.expect("a second page");
    let second = s.list_flag_changes(&only_a(Some(cursor.0))).await.unwrap();
    let actions: Vec<FlagAction> = first.items.iter().chain(&second.items).map(|c| c.action).collect();
    assert_eq!(actions, [FlagAction::Deleted, FlagAction::Updated, FlagAction::Replaced, FlagAction::Created]);
    assert!(second.next.is_none());
}

pub async fn concurrent_flag_writes_serialise(s: Arc<dyn Store>) {
    let writers = (0..8).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            let body = json!({"enabled": true, "rollout_percent": i});
            s.put_flag(&key("raced"), spec(&body), None, &format!("admin-{i}")).await.unwrap().1
        })
    });
    let created = futures::future::join_all(writers).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(created, 1, "exactly one writer creates; the others replace");
    let f = s.get_flag("raced").await.unwrap();
    assert_eq!(f.version, 8, "no write was lost");
    let q = FlagChangeQuery { key: Some("raced".into()), page: Page { limit: 50, after: None } };
    assert_eq!(s.list_flag_changes(&q).await.unwrap().items.len(), 8);
}
