//! The dispatch gate's state shared by engines on one PostgreSQL database (issue 17), at
//! the store: concurrency-cap slots (never more than the limit across stores, handed back,
//! a dead owner's taken back) and pauses (seen by every store, outliving their setter). Two
//! stores in this process stand for two processes; a process's death is its heartbeat made
//! old by SQL. Each test skips without PostgreSQL.

mod conformance;

use conformance::*;
use std::time::Duration;
use tasker_state::{PostgresStore, Role, Sharing, Store};

/// A worker whose heartbeat never runs during a test, so only SQL ages it.
fn quiet_worker() -> Sharing {
    Sharing {
        role: Role::Worker,
        lease_timeout: Duration::from_secs(7200),
        heartbeat_interval: Duration::from_secs(3600),
    }
}

/// A fresh schema and two worker stores on it (two processes' worth); `None` without a server.
fn two_workers(tag: &str) -> Option<(PgSchema, PostgresStore, PostgresStore)> {
    let schema = PgSchema::new(tag)?;
    let a = PostgresStore::open_with(&schema.url(), quiet_worker()).unwrap();
    let b = PostgresStore::open_with(&schema.url(), quiet_worker()).unwrap();
    Some((schema, a, b))
}

fn want(cap: &str, limit: u32, n: u32) -> Vec<(String, u32, u32)> {
    vec![(cap.to_string(), limit, n)]
}

#[test]
fn cap_slots_never_exceed_the_limit_across_stores_and_a_dead_owners_come_back() {
    let Some((schema, a, b)) = two_workers("cap_slots") else {
        return;
    };
    let cap = "handler:PaymentHandler";

    let got_a = a.trade_cap_slots(&[], &want(cap, 2, 5)).unwrap();
    assert_eq!(got_a.len(), 2, "at most the limit: {got_a:?}");
    assert_eq!(b.trade_cap_slots(&[], &want(cap, 2, 1)).unwrap(), vec![]);
    // Another cap is counted apart.
    assert_eq!(
        b.trade_cap_slots(&[], &want("namespace:billing", 1, 1))
            .unwrap()
            .len(),
        1
    );

    // A hands one back; B gets exactly that one. A store cannot hand back another's slot.
    let mine = got_a[0].clone();
    let got_b = b
        .trade_cap_slots(std::slice::from_ref(&mine), &want(cap, 2, 2))
        .unwrap();
    assert_eq!(
        got_b,
        vec![],
        "b handed back a slot it does not hold: nothing freed"
    );
    assert_eq!(
        a.trade_cap_slots(std::slice::from_ref(&mine), &[]).unwrap(),
        vec![]
    );
    assert_eq!(
        b.trade_cap_slots(&[], &want(cap, 2, 2)).unwrap(),
        vec![mine]
    );
    assert_eq!(
        schema.texts(
            "SELECT count(*)::text FROM tasker_core_cap_slots WHERE cap = 'handler:PaymentHandler'"
        ),
        vec!["2"]
    );

    // A dies (its heartbeat older than the 2-hour lease): B, finding the cap short, takes A's slot.
    let a_key = schema.texts(&format!(
        "SELECT owner::text FROM tasker_core_cap_slots WHERE cap = '{cap}' AND slot = {}",
        got_a[1].1
    ))[0]
        .clone();
    schema.texts(&format!(
        "UPDATE tasker_core_processes SET heartbeat_at = now() - interval '3 hours' \
         WHERE id = {a_key} RETURNING id::text"
    ));
    // Until then A read its slot as its own, with most of its lease left; once dead it no
    // longer can (review H2: a stalled process checks this before using its slots).
    let (held, left) = a.held_cap_slots().unwrap();
    assert_eq!(held, vec![got_a[1].clone()]);
    assert!(left.is_zero(), "a's heartbeat is past its lease: {left:?}");
    let (held_b, left_b) = b.held_cap_slots().unwrap();
    assert_eq!(held_b.len(), 2);
    assert!(
        left_b > Duration::from_secs(7000),
        "b's lease is fresh: {left_b:?}"
    );
    assert_eq!(
        b.trade_cap_slots(&[], &want(cap, 2, 1)).unwrap(),
        vec![got_a[1].clone()]
    );
    assert_eq!(a.held_cap_slots().unwrap().0, vec![]);

    // Closing a store frees its slots with its process row.
    b.close();
    let c = PostgresStore::open_with(&schema.url(), quiet_worker()).unwrap();
    assert_eq!(c.trade_cap_slots(&[], &want(cap, 2, 2)).unwrap().len(), 2);
    c.close();
    a.close();
}

#[test]
fn pauses_are_seen_by_every_store_and_outlive_the_one_that_set_them() {
    let Some((_schema, a, b)) = two_workers("pauses") else {
        return;
    };
    assert_eq!(b.shared_pauses().unwrap(), Some(vec![]));
    a.share_pause("billing", None, true).unwrap();
    a.share_pause("shop", Some("order"), true).unwrap();
    a.share_pause("shop", Some("order"), true).unwrap();
    a.close();
    let paused = vec![
        ("billing".to_string(), None),
        ("shop".to_string(), Some("order".to_string())),
    ];
    assert_eq!(b.shared_pauses().unwrap(), Some(paused));
    b.share_pause("billing", None, false).unwrap();
    assert_eq!(
        b.shared_pauses().unwrap(),
        Some(vec![("shop".to_string(), Some("order".to_string()))])
    );
    b.close();
}
