//! Several engines' processes sharing one PostgreSQL database (issue 16), at the store:
//! the process table and leases, takeovers with fencing tokens, claiming available work,
//! and a client's tasks left unclaimed. Two stores in this process stand for two processes;
//! a process's death is its heartbeat made old by SQL (or, for the same-host check, a row
//! naming a pid that does not exist). Each test skips without PostgreSQL.

mod conformance;

use conformance::*;
use std::collections::HashSet;
use std::time::Duration;
use tasker_model::{State, TaskId, TaskTemplate, TaskerError, Timestamp};
use tasker_state::{open_store_with, Change, PostgresStore, Role, Sharing, Store};

fn at(micros: i64) -> Timestamp {
    Timestamp(1_700_000_000_000_001 + micros)
}

/// A worker whose heartbeat never runs during a test, so only SQL ages it.
fn quiet_worker() -> Sharing {
    Sharing {
        role: Role::Worker,
        lease_timeout: Duration::from_secs(7200),
        heartbeat_interval: Duration::from_secs(3600),
    }
}

/// Makes the process table say that `store` stopped beating an hour ago.
fn age(schema: &PgSchema, store: &PostgresStore) {
    let key = owner_key(schema, store);
    let aged = schema.texts(&format!(
        "UPDATE tasker_core_processes SET heartbeat_at = now() - interval '1 hour' \
         WHERE id = {key} RETURNING id::text"
    ));
    assert_eq!(aged.len(), 1);
}

/// The process-table id of `store`, found through a task it creates and claims.
fn owner_key(schema: &PgSchema, store: &PostgresStore) -> String {
    let template = template();
    store.register_template(&template).unwrap();
    let t = create_task(store, &template, at(0)).task.task_id;
    schema.texts(&format!(
        "SELECT owner::text FROM tasker_core_task_claims WHERE task_id = {t}"
    ))[0]
        .clone()
}

/// A client: leaves the tasks it creates for workers.
fn client() -> Sharing {
    Sharing {
        role: Role::Client,
        ..Sharing::default()
    }
}

/// Two processes on a fresh schema, the template registered in both: `a` opened with
/// `a_sharing`, `b` a default worker. None without PostgreSQL.
fn two_stores(
    tag: &str,
    a_sharing: Sharing,
) -> Option<(PgSchema, PostgresStore, PostgresStore, TaskTemplate)> {
    let schema = PgSchema::new(tag)?;
    let a = PostgresStore::open_with(&schema.url(), a_sharing).unwrap();
    let b = PostgresStore::open(&schema.url()).unwrap();
    let template = template();
    a.register_template(&template).unwrap();
    b.register_template(&template).unwrap();
    Some((schema, a, b, template))
}

fn state(store: &dyn Store, t: TaskId) -> State {
    store.task_state(t).unwrap().unwrap()
}

#[test]
fn a_dead_process_tasks_are_taken_over_and_its_late_writes_fenced() {
    let Some((schema, a, b, template)) = two_stores("takeover", quiet_worker()) else {
        return;
    };
    let t1 = create_task(&a, &template, at(1)).task.task_id;
    // Alive: nobody else gets its task.
    assert_eq!(b.claim_tasks(&[t1]).unwrap(), vec![]);
    assert!(!b.claim_available(100).unwrap().contains(&t1));

    age(&schema, &a);
    let taken = b.claim_available(100).unwrap();
    assert!(taken.contains(&t1), "{taken:?}");
    let token = schema.texts(&format!(
        "SELECT token::text FROM tasker_core_task_claims WHERE task_id = {t1}"
    ));
    assert_eq!(token, vec!["2"], "a takeover moves the fencing token");

    // `a` wakes up (a paused process) and writes a batch touching its lost task and one it
    // still holds: the lost one's change is dropped, the other is written.
    let t2 = create_task(&a, &template, at(2)).task.task_id;
    apply(
        &a,
        vec![
            task_move(t1, State::Pending, State::InProgress, at(3)),
            task_move(t2, State::Pending, State::InProgress, at(3)),
        ],
    )
    .unwrap();
    assert_eq!(
        state(&a, t1),
        State::Pending,
        "the old owner's write was refused"
    );
    assert_eq!(state(&a, t2), State::InProgress);
    assert_eq!(a.take_lost_tasks(), vec![t1]);
    assert_eq!(a.take_lost_tasks(), vec![], "reported once");
    // The new owner writes as usual, and `a` cannot claim the task back while `b` lives.
    apply_one(&b, task_move(t1, State::Pending, State::InProgress, at(4)));
    assert_eq!(state(&b, t1), State::InProgress);
    assert_eq!(a.claim_tasks(&[t1]).unwrap(), vec![]);
}

#[test]
fn a_late_write_after_the_new_owner_moved_the_task_is_fenced_too() {
    let Some((schema, a, b, template)) = two_stores("late_write", quiet_worker()) else {
        return;
    };
    let new = create_task(&a, &template, at(1));
    let (t, s) = (new.task.task_id, new.steps[0].step_id);
    apply(
        &a,
        vec![
            task_move(t, State::Pending, State::InProgress, at(2)),
            step_move(t, s, State::Pending, State::InProgress, at(2)),
        ],
    )
    .unwrap();
    age(&schema, &a);
    assert!(b.claim_available(100).unwrap().contains(&t));
    // The new owner moves the step on (as a restart does) before `a` reports it.
    apply_one(&b, step_move(t, s, State::InProgress, State::Error, at(3)));
    apply_one(
        &a,
        step_move(t, s, State::InProgress, State::Complete, at(4)),
    );
    assert_eq!(a.take_lost_tasks(), vec![t]);
    let view = b.task(t).unwrap().unwrap();
    assert_eq!(
        view.steps[0].state,
        State::Error,
        "the old owner wrote nothing"
    );
}

#[test]
fn a_client_leaves_its_tasks_unclaimed_for_workers() {
    let Some(schema) = PgSchema::new("client") else {
        return;
    };
    let client = open_store_with(&schema.url(), client()).unwrap();
    let worker = PostgresStore::open(&schema.url()).unwrap();
    assert!(client.leaves_new_tasks_unclaimed());
    assert!(!worker.leaves_new_tasks_unclaimed());
    assert!(client.shares_tasks() && worker.shares_tasks());
    let template = template();
    client.register_template(&template).unwrap();
    worker.register_template(&template).unwrap();
    let ids: Vec<TaskId> = (0..3)
        .map(|i| create_task(client.as_ref(), &template, at(i)).task.task_id)
        .collect();
    let claims = schema.texts("SELECT count(*)::text FROM tasker_core_task_claims");
    assert_eq!(claims, vec!["0"]);
    assert_eq!(worker.claim_available(2).unwrap(), ids[..2].to_vec());
    assert_eq!(worker.claim_available(10).unwrap(), ids[2..].to_vec());
    assert_eq!(worker.claim_available(10).unwrap(), vec![]);
}

/// Claims take a backlog by priority, aged one point per second since creation (issue
/// 17): a high-priority task submitted after older low-priority ones is claimed first,
/// but not before a low one older than its priority in seconds.
#[test]
fn claims_take_higher_priority_first_aged_by_creation() {
    claim_order("claim_priority", |create, worker| {
        let second = 1_000_000;
        let ancient = create(0, 0);
        let low: Vec<TaskId> = (1..=3).map(|i| create(100 * second + i, 0)).collect();
        // 10 points: ahead of the low ones created up to 10 s before it, not of the ancient one.
        let high = create(100 * second + 5 * second, 10);
        assert_eq!(worker.claim_available(1).unwrap(), vec![ancient]);
        assert_eq!(worker.claim_available(1).unwrap(), vec![high]);
        assert_eq!(worker.claim_available(10).unwrap(), low);
    });
}

/// The claim takes tasks with and without a priority row by one aged order (they are found
/// apart, `claims/mod.rs`): a negative priority puts a task after plain ones created
/// later, and one claim's limit is shared out between both kinds in that order.
#[test]
fn claims_merge_prioritized_and_plain_tasks_in_one_order() {
    claim_order("claim_merge", |create, worker| {
        let second = 1_000_000;
        // Keys (seconds): late 0 + 10 = 10, plain 5, urgent 20 - 30 = -10, plain2 7.
        let late = create(0, -10);
        let plain = create(5 * second, 0);
        let urgent = create(20 * second, 30);
        let plain2 = create(7 * second, 0);
        assert_eq!(worker.claim_available(2).unwrap(), {
            let mut v = vec![urgent, plain];
            v.sort();
            v
        });
        assert_eq!(worker.claim_available(1).unwrap(), vec![plain2]);
        assert_eq!(worker.claim_available(5).unwrap(), vec![late]);
    });
}

/// Runs `scenario` with a function creating a task for the workers at a time (micros) with
/// a priority, and a worker store claiming, on a fresh schema `name`.
fn claim_order(name: &str, scenario: impl FnOnce(&dyn Fn(i64, i32) -> TaskId, &PostgresStore)) {
    let Some(schema) = PgSchema::new(name) else {
        return;
    };
    let client = open_store_with(&schema.url(), client()).unwrap();
    let worker = PostgresStore::open(&schema.url()).unwrap();
    let template = template();
    client.register_template(&template).unwrap();
    worker.register_template(&template).unwrap();
    let create = |micros: i64, priority: i32| {
        let mut new = new_task(client.as_ref(), &template, at(micros));
        new.task.priority = priority;
        let id = new.task.task_id;
        apply(client.as_ref(), vec![Change::CreateTask(Box::new(new))]).unwrap();
        id
    };
    scenario(&create, &worker);
}

#[test]
fn a_client_needs_a_shared_database() {
    let file = std::env::temp_dir().join(format!("tasker-client-{}.sqlite3", std::process::id()));
    for url in [
        "memory:".to_string(),
        format!("sqlite://{}", file.display()),
    ] {
        let err = open_store_with(&url, client()).err().expect("refused");
        assert!(matches!(err, TaskerError::Validation { .. }), "{err}");
        assert!(err.to_string().contains("postgres://"), "{err}");
    }
    assert!(!file.exists(), "a refused open creates nothing");
}

#[test]
fn a_closed_store_hands_its_tasks_back_at_once() {
    let Some((schema, a, b, template)) = two_stores("handback", Sharing::default()) else {
        return;
    };
    let t = create_task(&a, &template, at(0)).task.task_id;
    assert_eq!(b.claim_available(10).unwrap(), vec![]);
    a.close();
    assert_eq!(b.claim_available(10).unwrap(), vec![t]);
    let rows = schema.texts("SELECT count(*)::text FROM tasker_core_processes");
    assert_eq!(rows, vec!["1"], "the closed store left the process table");
}

#[test]
fn a_gone_process_on_this_host_loses_its_tasks_without_waiting_for_its_lease() {
    let Some((schema, a, b, template)) = two_stores("gone_here", Sharing::default()) else {
        return;
    };
    let t = create_task(&a, &template, at(0)).task.task_id;
    // A process of this host and pid namespace that does not exist (any more), beating
    // just now, owns the task.
    let gone = (1..=4_194_304)
        .rev()
        .find(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        .unwrap();
    let id = schema.texts(&format!(
        "INSERT INTO tasker_core_processes (hostname, pid, pid_namespace, role, version) \
         SELECT hostname, {gone}, pid_namespace, 'worker', 'test' FROM tasker_core_processes \
         LIMIT 1 RETURNING id::text"
    ));
    schema.texts(&format!(
        "UPDATE tasker_core_task_claims SET owner = {} WHERE task_id = {t} RETURNING 'x'",
        id[0]
    ));
    if schema.texts("SELECT pid_namespace FROM tasker_core_processes LIMIT 1")[0].is_empty() {
        // No /proc here: only leases tell, and this case does not apply.
        return;
    }
    assert_eq!(b.claim_available(10).unwrap(), vec![t]);
}

#[test]
fn two_workers_claiming_at_once_never_get_the_same_task() {
    let Some(schema) = PgSchema::new("skip_locked") else {
        return;
    };
    let client = open_store_with(&schema.url(), client()).unwrap();
    let template = template();
    client.register_template(&template).unwrap();
    let ids: HashSet<TaskId> = (0..200)
        .map(|i| create_task(client.as_ref(), &template, at(i)).task.task_id)
        .collect();
    let workers: Vec<PostgresStore> = (0..2)
        .map(|_| PostgresStore::open(&schema.url()).unwrap())
        .collect();
    let got: Vec<Vec<TaskId>> = std::thread::scope(|s| {
        let handles: Vec<_> = workers
            .iter()
            .map(|w| {
                s.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let batch = w.claim_available(7).unwrap();
                        if batch.is_empty() {
                            return mine;
                        }
                        mine.extend(batch);
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<TaskId> = got.iter().flatten().copied().collect();
    let unique: HashSet<TaskId> = all.iter().copied().collect();
    assert_eq!(all.len(), unique.len(), "a task was claimed twice");
    assert_eq!(unique, ids);
}
