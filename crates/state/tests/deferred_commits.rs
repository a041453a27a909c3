//! Which commits the state actor defers on PostgreSQL, read off the wire (`conformance/wire.rs`):
//! a batch nobody waits for and that finishes no task commits without waiting for its WAL
//! flush (`synchronous_commit` off for its transaction); a batch that finishes a task, one
//! somebody waits for (an acknowledged write, a flush) commits durably; and a flush that
//! finds only a deferred commit before it has the store make it durable (a transaction that
//! writes WAL and commits durably) before it is answered. That the WAL really is flushed is
//! read off the server: `pg_current_wal_flush_lsn()` past where the WAL ended once the
//! deferred commit was visible. A `CommitPending` (a read of the engine's own writes) is
//! answered by a deferred commit, without making it durable.

mod conformance;

use actix::prelude::*;
use conformance::bench::{four_step_template, serial_batches};
use conformance::wire::{relayed_store, Wire};
use conformance::*;
use crossbeam_channel::Receiver;
use sqlx::Connection;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tasker_metrics::Metrics;
use tasker_model::{State, TaskId, TaskerResult, Timestamp};
use tasker_state::{
    ApplyAcked, ApplyAlone, ApplyChanges, Change, CommitPending, Flush, NewTask, PostgresStore,
    StateActor, Store, TaskFinishedSignal,
};

/// The batch writes the relay saw, in order: `true` for a deferred one.
fn writes(wire: &Mutex<Wire>) -> Vec<bool> {
    wire.lock()
        .unwrap()
        .statements
        .iter()
        .filter(|(_, text)| text.contains("WITH w1 AS"))
        .map(|(_, text)| text.contains("synchronous_commit"))
        .collect()
}

/// How many times the store asked the server to make its commits durable.
fn made_durable(wire: &Mutex<Wire>) -> usize {
    wire.lock()
        .unwrap()
        .statements
        .iter()
        .filter(|(_, text)| text.contains("pg_logical_emit_message"))
        .count()
}

/// Waits until the relay has seen `n` batch writes (the state actor may hold a batch nobody
/// waits for a moment before it writes it).
fn wait_for_writes(wire: &Mutex<Wire>, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while writes(wire).len() < n {
        assert!(std::time::Instant::now() < deadline, "{n} batch writes");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Where the server's WAL ends now (`pg_current_wal_insert_lsn()`), as text.
fn wal_end(url: &str) -> String {
    run(async {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar("SELECT pg_current_wal_insert_lsn()::text")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    })
}

/// Whether the server's WAL is flushed to disk at least up to `lsn`.
fn flushed_past(url: &str, lsn: &str) -> bool {
    run(async {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar("SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn")
            .bind(lsn)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    })
}

/// Waits until `task` is committed (another connection sees it).
fn wait_until_stored(store: &PostgresStore, task: TaskId) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while store.task_state(task).unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "task {task:?} stored");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A state actor on its own actix System (stopped with `system.stop()`, then `thread.join()`).
struct Running {
    actor: Addr<StateActor>,
    system: System,
    thread: std::thread::JoinHandle<()>,
}

fn start(
    store: &Arc<PostgresStore>,
    commit_interval: Duration,
    finished: &Arc<TaskFinishedSignal>,
) -> Running {
    let (started, actor) = std::sync::mpsc::channel();
    let (store, finished) = (store.clone(), finished.clone());
    let thread = std::thread::spawn(move || {
        let system = System::new();
        system.block_on(async move {
            let actor = StateActor::new(
                store,
                256,
                commit_interval,
                finished,
                Arc::new(Metrics::default()),
                Arc::default(),
            )
            .start();
            started.send((actor, System::current())).unwrap();
        });
        system.run().unwrap();
    });
    let (actor, system) = actor.recv().unwrap();
    Running {
        actor,
        system,
        thread,
    }
}

/// Sends a `CommitPending`; its answer comes on the receiver.
fn commit_pending(actor: &Addr<StateActor>) -> Receiver<TaskerResult<()>> {
    let (reply, answer) = crossbeam_channel::bounded(1);
    actor.do_send(CommitPending { reply });
    answer
}

/// Sends a flush; its answer comes on the receiver.
fn send_flush(actor: &Addr<StateActor>) -> Receiver<TaskerResult<()>> {
    let (reply, answer) = crossbeam_channel::bounded(1);
    actor.do_send(Flush { reply });
    answer
}

/// Sends a flush and waits for its answer.
fn flush(actor: &Addr<StateActor>) {
    send_flush(actor)
        .recv_timeout(Duration::from_secs(30))
        .expect("the flush was answered")
        .expect("the flush succeeded");
}

#[test]
fn only_batches_nobody_waits_for_are_deferred() {
    let Some((schema, store, wire)) = relayed_store("deferred") else {
        return;
    };
    let store = Arc::new(store);
    assert!(store.defers_durability());
    let template = four_step_template("linear", true);
    store.register_template(&template).unwrap();
    let finished = Arc::new(TaskFinishedSignal::default());

    let Running {
        actor,
        system: running,
        thread: system,
    } = start(&store, Duration::ZERO, &finished);

    // A task's creation, nobody waiting: deferred. A flush sent once it is written (still
    // committing, or committed) has it made durable before it is answered.
    let now = Timestamp::now();
    let task = new_task(store.as_ref(), &template, now);
    let id = task.task.task_id;
    let mut batches: Vec<Vec<Change>> = serial_batches(task, now);
    let finish = batches.pop().unwrap();
    let mut batches = batches.into_iter();
    actor.do_send(ApplyChanges(batches.next().unwrap()));
    wait_until_stored(&store, id);
    let end = wal_end(&schema.url());
    flush(&actor);
    assert_eq!(writes(&wire), vec![true], "the creation batch");
    assert_eq!(made_durable(&wire), 1, "the flush after a deferred commit");
    assert!(
        flushed_past(&schema.url(), &end),
        "the deferred creation is on disk"
    );

    // The steps' batches, each written before the next is sent, nobody waiting: deferred.
    // The one that finishes the task is not (its result is read back once it is committed).
    let seen = finished.generation();
    for (n, batch) in batches.enumerate() {
        actor.do_send(ApplyChanges(batch));
        wait_for_writes(&wire, n + 2);
    }
    actor.do_send(ApplyChanges(finish));
    while finished.generation() == seen {
        finished.wait_past(seen, Duration::from_secs(30));
    }
    assert_eq!(
        writes(&wire),
        vec![true, true, true, true, false],
        "creation, three steps' batches, the finish"
    );
    assert_eq!(store.task_state(id).unwrap(), Some(State::Complete));

    // Nothing deferred since: a flush needs no more from the server.
    flush(&actor);
    assert_eq!(made_durable(&wire), 1);

    // An acknowledged write (a durable submission) is durable when acknowledged.
    let second = new_task(store.as_ref(), &template, Timestamp::now());
    let (reply, answer) = crossbeam_channel::bounded(1);
    actor.do_send(ApplyAcked {
        changes: vec![Change::CreateTask(Box::new(second))],
        reply,
    });
    answer
        .recv_timeout(Duration::from_secs(30))
        .unwrap()
        .unwrap();
    assert_eq!(writes(&wire).last(), Some(&false), "the acknowledged write");
    assert_eq!(made_durable(&wire), 1);

    // An acknowledged write that ends up writing nothing (its task a duplicate of one stored
    // before) still leaves a deferred commit before it on disk.
    let identified = |hash: &str| {
        let mut task = new_task(store.as_ref(), &template, Timestamp::now());
        task.identity_hash = Some(hash.to_string());
        task
    };
    let acknowledged = |task: NewTask| {
        let (reply, answer) = crossbeam_channel::bounded(1);
        actor.do_send(ApplyAcked {
            changes: vec![Change::CreateTask(Box::new(task))],
            reply,
        });
        answer.recv_timeout(Duration::from_secs(30)).unwrap()
    };
    acknowledged(identified("order-42")).unwrap();
    let plain = new_task(store.as_ref(), &template, Timestamp::now());
    let plain_id = plain.task.task_id;
    let written = writes(&wire).len();
    actor.do_send(ApplyChanges(vec![Change::CreateTask(Box::new(plain))]));
    wait_until_stored(&store, plain_id);
    assert_eq!(writes(&wire)[written..], [true], "the plain creation");
    let end = wal_end(&schema.url());
    let duplicate = identified("order-42");
    let duplicate_id = duplicate.task.task_id;
    acknowledged(duplicate).unwrap();
    assert_eq!(
        store.task_state(duplicate_id).unwrap(),
        None,
        "the duplicate"
    );
    assert_eq!(
        made_durable(&wire),
        2,
        "the write of nothing made what came before durable"
    );
    assert!(
        flushed_past(&schema.url(), &end),
        "the deferred creation is on disk"
    );

    // A read of a task the engine has not committed yet asks only for the commit
    // (`CommitPending`): a held creation commits at once, deferred, and no flush follows;
    // asked again with nothing pending, it is answered without one either.
    let held = new_task(store.as_ref(), &template, Timestamp::now());
    let held_id = held.task.task_id;
    let (written, asked) = (writes(&wire).len(), made_durable(&wire));
    actor.do_send(ApplyChanges(vec![Change::CreateTask(Box::new(held))]));
    for _ in 0..2 {
        commit_pending(&actor)
            .recv_timeout(Duration::from_secs(30))
            .unwrap()
            .unwrap();
        assert!(
            store.task_state(held_id).unwrap().is_some(),
            "readable once answered"
        );
    }
    assert_eq!(
        writes(&wire)[written..],
        [true],
        "the held creation, deferred"
    );
    assert_eq!(made_durable(&wire), asked, "no flush for a read");

    // A flush that comes while a manual operation's batch commits waits for it, but is not
    // answered with that batch's refusal (the operation's caller hears of it).
    let (reply, refused) = crossbeam_channel::bounded(1);
    actor.do_send(ApplyAlone {
        changes: vec![task_move(
            id,
            State::Pending,
            State::InProgress,
            Timestamp::now(),
        )],
        reply,
    });
    flush(&actor);
    let refusal = refused.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(
        refusal.is_err(),
        "a finished task cannot start again: {refusal:?}"
    );

    running.stop();
    system.join().unwrap();
    drop(actor);
    store.close();
}

/// Holds `LOCK TABLE tasker_tasks IN SHARE MODE` on a connection of its own (so the store's
/// next insert into it waits) until the returned sender is used.
fn lock_tasks(url: String) -> std::sync::mpsc::Sender<()> {
    let (locked, is_locked) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        run(async move {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::raw_sql("BEGIN; LOCK TABLE tasker_tasks IN SHARE MODE")
                .execute(&mut conn)
                .await
                .unwrap();
            locked.send(()).unwrap();
            released.recv().unwrap();
            sqlx::raw_sql("COMMIT").execute(&mut conn).await.unwrap();
        })
    });
    is_locked.recv().unwrap();
    release
}

#[test]
fn a_commit_pending_commits_at_once_and_deferred() {
    let Some((schema, store, wire)) = relayed_store("commit_pending") else {
        return;
    };
    let store = Arc::new(store);
    let template = four_step_template("linear", true);
    store.register_template(&template).unwrap();
    let finished = Arc::new(TaskFinishedSignal::default());
    // A 20 s commit window: only the CommitPending can make these batches commit in time.
    let Running {
        actor,
        system,
        thread,
    } = start(&store, Duration::from_secs(20), &finished);
    let answered = |rx: Receiver<TaskerResult<()>>| {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("answered well before the commit window closes")
            .expect("committed")
    };
    let create = |store: &PostgresStore| {
        let task = new_task(store, &template, Timestamp::now());
        let id = task.task.task_id;
        actor.do_send(ApplyChanges(vec![Change::CreateTask(Box::new(task))]));
        id
    };

    let first = create(&store);
    answered(commit_pending(&actor));
    assert!(
        store.task_state(first).unwrap().is_some(),
        "readable once answered"
    );
    assert_eq!(writes(&wire), vec![true], "committed deferred");
    assert_eq!(made_durable(&wire), 0, "not made durable for a read");
    flush(&actor);
    assert_eq!(
        made_durable(&wire),
        1,
        "a flush after it still makes it durable"
    );

    // While such a commit runs (held up by a lock): a second CommitPending waits for it, and
    // a flush waits for it and then for it to be made durable.
    let release = lock_tasks(schema.url());
    let second = create(&store);
    let running = commit_pending(&actor);
    wait_for_writes(&wire, 2);
    let waiting = commit_pending(&actor);
    let flushing = send_flush(&actor);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        running.try_recv().is_err(),
        "answered while its commit is held up"
    );
    assert!(
        waiting.try_recv().is_err(),
        "answered before the running commit"
    );
    assert!(
        flushing.try_recv().is_err(),
        "flush answered before the running commit"
    );
    release.send(()).unwrap();
    answered(running);
    assert!(store.task_state(second).unwrap().is_some());
    answered(waiting);
    answered(flushing);
    assert_eq!(writes(&wire)[1..], [true]);
    assert_eq!(
        made_durable(&wire),
        2,
        "the flush behind a deferred running commit"
    );

    // Behind a manual operation's sealed batch: answered after it, the batch before readable.
    let third = create(&store);
    let (reply, refused) = crossbeam_channel::bounded(1);
    actor.do_send(ApplyAlone {
        changes: vec![task_move(
            first,
            State::Complete,
            State::InProgress,
            Timestamp::now(),
        )],
        reply,
    });
    answered(commit_pending(&actor));
    assert!(store.task_state(third).unwrap().is_some());
    assert!(refused
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .is_err());

    system.stop();
    thread.join().unwrap();
    drop(actor);
    store.close();
}
