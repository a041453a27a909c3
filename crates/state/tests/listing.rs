//! Listing tasks on every backend (`MemoryStore`, `SqliteStore`, `PostgresStore`, through
//! the conformance harness): `list_tasks` returns the newest first, filtered by state,
//! namespace, name and creation time, a page at a time by keyset; `task_of_step` finds a
//! step's task; `throughput` counts what the analytics count, per interval (a dashboard's
//! chart).
//!
//! PostgreSQL: `TASKER_TEST_DATABASE_URL` (a fresh schema per test, see `conformance`).

#[macro_use]
mod conformance;

use conformance::db::Db;
use conformance::*;
use tasker_model::{TaskId, Timestamp};
use tasker_state::TaskFilter;

suite!(
    lists_newest_first_filtered_and_paged,
    finds_the_task_of_a_step,
    counts_throughput_per_interval
);

fn at(seconds: i64) -> Timestamp {
    Timestamp(1_700_000_000_000_000 + seconds * 1_000_000)
}

fn ids(rows: &[tasker_state::TaskListing]) -> Vec<TaskId> {
    rows.iter().map(|r| r.task_id).collect()
}

fn lists_newest_first_filtered_and_paged(db: &Db) {
    let store = db.open_registered();
    let s = store.as_ref();
    let states = [
        State::Complete,
        State::Error,
        State::Pending,
        State::InProgress,
        State::Complete,
        State::Cancelled,
        State::Complete,
    ];
    let made: Vec<TaskId> = states
        .iter()
        .enumerate()
        .map(|(i, state)| task_in_state(s, *state, at(i as i64 * 10)))
        .collect();
    let newest_first: Vec<TaskId> = made.iter().rev().copied().collect();

    let all = s.list_tasks(&TaskFilter::default()).expect("list");
    assert_eq!(ids(&all), newest_first);
    let first = all.last().expect("the oldest");
    assert_eq!(
        (
            first.namespace.as_str(),
            first.name.as_str(),
            first.version.as_str()
        ),
        ("tests", "conformance", "1.0.0")
    );
    assert_eq!(first.state, State::Complete);
    assert_eq!(first.created_at, at(0));
    assert!(first.state_since > at(0), "the time it completed");
    let pending = all
        .iter()
        .find(|r| r.state == State::Pending)
        .expect("pending");
    assert_eq!(pending.state_since, pending.created_at);

    let complete = TaskFilter {
        state: Some(State::Complete),
        ..TaskFilter::default()
    };
    assert_eq!(
        ids(&s.list_tasks(&complete).expect("list")),
        vec![made[6], made[4], made[0]]
    );
    let pending_only = TaskFilter {
        state: Some(State::Pending),
        ..TaskFilter::default()
    };
    assert_eq!(
        ids(&s.list_tasks(&pending_only).expect("list")),
        vec![made[2]]
    );

    // Pages of 3 by keyset: each page starts below the last id of the one before.
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = s
            .list_tasks(&TaskFilter {
                before,
                limit: 3,
                ..TaskFilter::default()
            })
            .expect("page");
        if page.is_empty() {
            break;
        }
        before = page.last().map(|r| r.task_id);
        pages.push(ids(&page));
    }
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![3, 3, 1]
    );
    assert_eq!(pages.concat(), newest_first);

    let since = TaskFilter {
        since: Some(at(40)),
        ..TaskFilter::default()
    };
    assert_eq!(
        ids(&s.list_tasks(&since).expect("list")),
        vec![made[6], made[5], made[4]]
    );
    // A creation time with each other filter (the SQL stores list these from the tasks
    // created since, looked up by id: sql/listing.rs).
    let since_and = |state, namespace: Option<&str>, before, limit| TaskFilter {
        state,
        namespace: namespace.map(String::from),
        since: Some(at(20)),
        before,
        limit,
        ..TaskFilter::default()
    };
    for (filter, expected) in [
        (
            since_and(Some(State::Complete), None, None, 50),
            vec![made[6], made[4]],
        ),
        (
            since_and(Some(State::Pending), None, None, 50),
            vec![made[2]],
        ),
        (
            since_and(None, Some("tests"), Some(made[6]), 2),
            vec![made[5], made[4]],
        ),
        (since_and(None, Some("elsewhere"), None, 50), vec![]),
        (
            since_and(Some(State::Error), Some("tests"), None, 50),
            vec![],
        ),
    ] {
        assert_eq!(
            ids(&s.list_tasks(&filter).expect("list")),
            expected,
            "{filter:?}"
        );
    }
    for (namespace, name, expected) in [
        (Some("tests"), None, 7),
        (Some("elsewhere"), None, 0),
        (None, Some("conformance"), 7),
        (None, Some("other"), 0),
    ] {
        let filter = TaskFilter {
            namespace: namespace.map(String::from),
            name: name.map(String::from),
            ..TaskFilter::default()
        };
        assert_eq!(s.list_tasks(&filter).expect("list").len(), expected);
    }
}

fn finds_the_task_of_a_step(db: &Db) {
    let store = db.open_registered();
    let s = store.as_ref();
    let template = template();
    let first = create_task(s, &template, at(0));
    let second = create_task(s, &template, at(1));
    for new in [&first, &second] {
        for step in &new.steps {
            assert_eq!(
                s.task_of_step(step.step_id).expect("read"),
                Some(new.task.task_id)
            );
        }
    }
    assert_eq!(
        s.task_of_step(tasker_model::StepId(987_654_321))
            .expect("read"),
        None
    );
}

fn counts_throughput_per_interval(db: &Db) {
    let store = db.open_registered();
    let s = store.as_ref();
    for (state, t) in [
        (State::Complete, 0),
        (State::Error, 50),
        (State::Complete, 120),
        (State::Error, 250),
        (State::Complete, 399),
    ] {
        task_in_state(s, state, at(t));
    }
    let (from, to) = (at(0), at(400));
    let per_interval = s.throughput(from, to, 4).expect("throughput");
    // What the chart computed before: the analytics' counts since each edge, differenced.
    let since = |t| {
        let m = s.analytics_metrics(t, to).expect("analytics");
        (m.step_throughput, m.error_count)
    };
    let differenced: Vec<(u64, u64)> = (0..4)
        .map(|k| {
            let (a, b) = (since(at(k * 100)), since(at(k * 100 + 100)));
            let b = if k == 3 { (0, 0) } else { b };
            (a.0 - b.0, a.1 - b.1)
        })
        .collect();
    assert_eq!(per_interval, differenced);
    let steps = template().step_templates.len() as u64;
    assert_eq!(
        per_interval,
        vec![(steps, 1), (steps, 0), (0, 1), (steps, 0)]
    );
    assert_eq!(
        s.throughput(at(1000), at(2000), 3).expect("throughput"),
        vec![(0, 0); 3]
    );
}
