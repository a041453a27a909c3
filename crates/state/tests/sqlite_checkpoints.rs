//! The SQLite file store's WAL checkpoints run on a connection of their own after commits
//! (`src/sql/sqlite/checkpoint.rs`), not inside the batch writer's commit once the WAL
//! crosses SQLite's 1,000 pages. What this test owns: committed rows reach the database file
//! itself (read with `immutable`, which ignores the WAL) although the WAL stayed far below
//! that threshold, so only the checkpoint connection can have copied them; and the store
//! still reads them back after a reopen. What the batches write is `store_conformance`'s.

mod conformance;

use conformance::bench::{four_step_template, serial_batches};
use conformance::*;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Row};
use std::time::{Duration, Instant};
use tasker_model::{State, Timestamp};
use tasker_state::{SqliteStore, Store};

const TASKS: usize = 5;

/// Tasks in the database file alone, ignoring the WAL. `immutable` takes no lock, so a read
/// that meets a checkpoint copying pages may fail: that counts as not there yet.
fn tasks_in_file(file: &SqliteFile) -> i64 {
    run(async {
        let mut conn = SqliteConnectOptions::new()
            .filename(&file.path)
            .immutable(true)
            .read_only(true)
            .connect()
            .await
            .ok()?;
        let row = sqlx::query("SELECT count(*) FROM tasker_tasks")
            .fetch_one(&mut conn)
            .await
            .ok()?;
        row.try_get::<i64, _>(0).ok()
    })
    .unwrap_or(0)
}

#[test]
fn commits_reach_the_file_without_the_writer_checkpointing() {
    let file = SqliteFile::new("checkpoints");
    let store = SqliteStore::open(&file.url()).unwrap();
    let template = four_step_template("linear", true);
    store.register_template(&template).unwrap();
    let mut ids = Vec::new();
    for _ in 0..TASKS {
        let now = Timestamp::now();
        let new = new_task(&store, &template, now);
        ids.push(new.task.task_id);
        for batch in serial_batches(new, now) {
            apply(&store, batch).unwrap();
        }
    }
    let wal = std::fs::metadata(format!("{}-wal", file.path.display()))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(
        wal < 1_000 * 4096,
        "the WAL ({wal} bytes) reached SQLite's own checkpoint threshold: the test shows nothing"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while tasks_in_file(&file) < TASKS as i64 {
        assert!(
            Instant::now() < deadline,
            "the committed tasks did not reach the database file within 10 s: no checkpoint ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(store);
    let reopened = SqliteStore::open(&file.url()).unwrap();
    for id in ids {
        assert_eq!(reopened.task_state(id).unwrap(), Some(State::Complete));
    }
}
