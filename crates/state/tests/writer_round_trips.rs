//! Round trips of the PostgreSQL batch writer, counted on the wire: a relay between the store
//! and the server counts each connection's Sync and Query messages (each is one wait for
//! the server's ReadyForQuery). A small batch is one statement, so it must cost one round
//! trip; sqlx's ping of every connection handed back to a pool made it two, and the next
//! batch waited for that ping (`src/sql/postgres/held.rs`). This test owns that count only:
//! what the batches write is `store_conformance`'s.

mod conformance;

use conformance::bench::{four_step_template, serial_batches};
use conformance::wire::relayed_store;
use conformance::*;
use tasker_model::Timestamp;
use tasker_state::Store;

#[test]
fn a_small_batch_is_one_round_trip() {
    // The schema lives until the test ends.
    let Some((_schema, store, sent)) = relayed_store("round_trips") else {
        return;
    };
    let template = four_step_template("linear", true);
    store.register_template(&template).unwrap();
    // A serial engine's batches for 4-step chains, each committed before the next is sent,
    // as the state actor does.
    let tasks = 4;
    let mut batches = 0;
    for _ in 0..tasks {
        let now = Timestamp::now();
        let plan = serial_batches(new_task(&store, &template, now), now);
        for batch in plan {
            apply(&store, batch).unwrap();
            batches += 1;
        }
    }
    let writer = sent
        .lock()
        .unwrap()
        .connections
        .iter()
        .find(|s| s.writes)
        .cloned()
        .expect("a connection prepared the batch write");
    drop(store);
    // Each prepared statement shape has a Sync of its own; every other round trip of the
    // writer's connection is a batch's. Before the writer kept its connection, each batch
    // also paid the pool's ping: 2 per batch. Not `<= 1.0`: a kept connection idle for a
    // second is pinged first (held.rs), and a loaded CI machine may stall this thread that
    // long between two batches; a few such pings stay far below the 2 a batch this catches.
    let per_batch = (writer.round_trips - writer.parses) as f64 / batches as f64;
    assert!(
        per_batch < 1.5,
        "{batches} batches took {} round trips besides {} prepares ({per_batch:.2} a batch): {writer:?}",
        writer.round_trips - writer.parses,
        writer.parses
    );
}
