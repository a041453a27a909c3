//! The insights (`src/insights.rs`) on every backend: `MemoryStore`, `SqliteStore` on a temp
//! file, and `PostgresStore` in a fresh schema (see tests/store_conformance.rs for how the
//! PostgreSQL cases find a server or say they were skipped).
//!
//! One fixture of eleven tasks is written through the public `Store` API with explicit
//! timestamps — retries, permanent failures, exhausted retries, backoffs, cancelled, resolved
//! by hand, still running, never started — and every field of every result is compared with
//! a value worked out by hand below, the arithmetic in the comments.

mod conformance;

use conformance::db::Db;
use conformance::*;
use std::sync::Arc;
use tasker_model::{StepId, TaskId, TaskTemplate, Timestamp};
use tasker_state::{
    AnalyticsMetrics, Change, HealthCounts, SlowQuery, SlowestStep, SlowestStepGroup, SlowestTask,
    StepPatch, Store, TransitionMeta,
};

/// Runs each case against every backend, one `#[test]` per case and backend.
macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $( #[test] fn $case() { super::$case(&super::Db::memory()); } )*
        }
        mod sqlite {
            $( #[test] fn $case() {
                super::$case(&super::Db::sqlite(concat!("insights_", stringify!($case))));
            } )*
        }
        mod postgres {
            $(
                #[test]
                fn $case() {
                    if let Some(db) =
                        super::Db::postgres(concat!("insights_", stringify!($case)))
                    {
                        super::$case(&db);
                    }
                }
            )*
        }
    };
}

suite!(
    an_empty_store_counts_nothing,
    health_counts_every_state_retry_and_backoff,
    analytics_over_a_period,
    slowest_steps_longest_first_with_ties_by_id,
    slowest_steps_filters_since_and_limit,
    slowest_step_groups_average_per_step_kind,
    slowest_tasks_longest_first_with_their_steps,
    slowest_tasks_filters,
);

/// T0: a fixed instant with a non-zero microsecond, so a lost microsecond would show.
fn t(seconds: f64) -> Timestamp {
    Timestamp(1_700_000_000_000_001).plus_seconds(seconds)
}

/// The instant the health counts are taken at: T0 + 1000 s.
const NOW: f64 = 1000.0;

const INVOICE_YAML: &str = "
name: invoice
namespace_name: billing
version: 2.0.0
step_templates:
  - name: render
    handler_class: Billing::Render
  - name: send
    handler_class: Billing::Send
    depends_on_step: render
";

/// tests/conformance 1.0.0: fetch (retry_limit 3), charge (retry_limit 5), ship (3; after
/// both). The same at 1.1.0. billing/invoice 2.0.0: render (3), send (3; after render).
fn templates() -> (TaskTemplate, TaskTemplate, TaskTemplate) {
    let v1 = template();
    let v11 = TaskTemplate::from_yaml(
        &TEMPLATE_YAML.replace("version: 1.0.0", "version: 1.1.0"),
        "conformance-1.1.yaml",
    )
    .expect("valid template");
    let invoice = TaskTemplate::from_yaml(INVOICE_YAML, "invoice.yaml").expect("valid template");
    (v1, v11, invoice)
}

/// Ids of the fixture's tasks: `tasks[i]` is task Ti (index 0 unused).
struct Fixture {
    store: Arc<dyn Store>,
    tasks: Vec<(TaskId, Vec<StepId>)>,
}

impl Fixture {
    fn task(&self, i: usize) -> TaskId {
        self.tasks[i].0
    }
    fn step(&self, i: usize, s: usize) -> StepId {
        self.tasks[i].1[s]
    }
}

fn meta() -> TransitionMeta {
    TransitionMeta::engine("insights fixture")
}

fn mv(task: TaskId, step: StepId, from: State, to: State, at: f64, patch: StepPatch) -> Change {
    Change::StepTransition {
        task_id: task,
        step_id: step,
        from: Some(from),
        to,
        meta: meta(),
        at: t(at),
        patch,
        expect_sort_key: None,
    }
}

/// pending → in_progress, handed out.
fn start(task: TaskId, step: StepId, at: f64) -> Change {
    let patch = StepPatch {
        in_process: Some(true),
        ..StepPatch::default()
    };
    mv(task, step, State::Pending, State::InProgress, at, patch)
}

/// in_progress → complete, as the engine writes a success.
fn finish(task: TaskId, step: StepId, at: f64) -> Change {
    let patch = StepPatch {
        in_process: Some(false),
        processed: Some(true),
        processed_at: Some(t(at)),
        ..StepPatch::default()
    };
    mv(task, step, State::InProgress, State::Complete, at, patch)
}

/// in_progress → error, as the engine writes a failure: `attempts` after it, not retryable
/// when `permanent`, and a requested backoff when given.
fn fail(
    task: TaskId,
    step: StepId,
    at: f64,
    attempts: u32,
    permanent: bool,
    backoff: Option<i64>,
) -> Change {
    let patch = StepPatch {
        in_process: Some(false),
        attempts: Some(attempts),
        last_attempted_at: Some(t(at)),
        retryable: permanent.then_some(false),
        backoff_request_seconds: Some(backoff),
        ..StepPatch::default()
    };
    mv(task, step, State::InProgress, State::Error, at, patch)
}

fn step_to(task: TaskId, step: StepId, from: State, to: State, at: f64) -> Change {
    mv(task, step, from, to, at, StepPatch::default())
}

fn task_to(task: TaskId, from: State, to: State, at: f64) -> Change {
    task_move(task, from, to, t(at))
}

/// Creates task `i` of `template` at `created`, with the given initiator and source system.
fn create(
    store: &dyn Store,
    template: &TaskTemplate,
    created: f64,
    initiator: Option<&str>,
    source: Option<&str>,
) -> ((TaskId, Vec<StepId>), Change) {
    let mut new = new_task(store, template, t(created));
    new.task.initiator = initiator.map(String::from);
    new.task.source_system = source.map(String::from);
    let ids = (
        new.task.task_id,
        new.steps.iter().map(|s| s.step_id).collect(),
    );
    (ids, Change::CreateTask(Box::new(new)))
}

/// The fixture. Times are seconds after T0; steps are created with their task. Step indexes:
/// conformance 0 fetch, 1 charge, 2 ship; invoice 0 render, 1 send.
///
/// | task | template | created | story | state at NOW (1000) |
/// |---|---|---|---|---|
/// | T1 | conformance 1.0.0 | 0 | fetch 1→11; charge 1→error 3 (attempt 1)→pending 5→5→21; ship 21→30; task 1→30 | complete |
/// | T2 | conformance 1.0.0 | 100 | fetch 101→103.5; charge 101→error 102 permanent (attempt 1); task 101→error 110 | error |
/// | T3 | conformance 1.1.0 | 200 | fetch 200→245; charge 200→error 250 (attempts 5 of 5); task 200→error 260 | error |
/// | T4 | invoice 2.0.0 | 300 | render 300→400; send 400→420; task 300→420 | complete |
/// | T5 | conformance 1.0.0 | 900 | fetch 900→error 990 (attempts 2, backoff 60 s); charge 900→error 995 (attempts 3) | in_progress |
/// | T6 | conformance 1.0.0 | 950 | fetch 950→error 960 (attempt 1)→pending 970 (backoff 50 s); charge running since 950 | in_progress |
/// | T7 | invoice 2.0.0 | 960 | render 960→error 999 (attempts 3 of 3) | in_progress |
/// | T8 | conformance 1.0.0 | 500 | never started | pending |
/// | T9 | conformance 1.0.0 | 600 | task and its steps cancelled at 610 | cancelled |
/// | T10 | invoice 2.0.0 | 700 | task 700→error 750→resolved 760; render 700→error 710 (attempt 1)→resolved 760; send resolved 760 | resolved_manually |
/// | T11 | conformance 1.0.0 | 800 | fetch 800→error 900 (attempt 1) | in_progress |
fn fixture(db: &Db) -> Fixture {
    let store = db.open();
    let (v1, v11, invoice) = templates();
    for tpl in [&v1, &v11, &invoice] {
        store.register_template(tpl).expect("register");
    }
    let s = store.as_ref();
    use State::*;
    // Created in task order, so step ids rise from T1 to T11.
    let specs: [(&TaskTemplate, f64, Option<&str>, Option<&str>); 11] = [
        (&v1, 0.0, Some("alice"), Some("web")),
        (&v1, 100.0, Some("bob"), None),
        (&v11, 200.0, None, None),
        (&invoice, 300.0, Some("cron"), Some("scheduler")),
        (&v1, 900.0, None, None),
        (&v1, 950.0, None, None),
        (&invoice, 960.0, None, None),
        (&v1, 500.0, None, None),
        (&v1, 600.0, None, None),
        (&invoice, 700.0, None, None),
        (&v1, 800.0, None, None),
    ];
    let mut tasks = vec![(TaskId(0), vec![])];
    let mut creations = Vec::new();
    for (tpl, created, initiator, source) in specs {
        let (ids, change) = create(s, tpl, created, initiator, source);
        tasks.push(ids);
        creations.push(change);
    }
    // All tasks in one batch, then each task's history in batches of its own.
    apply(s, creations).expect("create the fixture's tasks");
    let f = Fixture {
        store: store.clone(),
        tasks,
    };
    let (task, step) = (|i| f.task(i), |i, j| f.step(i, j));

    let histories: Vec<Vec<Change>> = vec![
        // T1
        vec![
            task_to(task(1), Pending, InProgress, 1.0),
            start(task(1), step(1, 0), 1.0),
            start(task(1), step(1, 1), 1.0),
            fail(task(1), step(1, 1), 3.0, 1, false, None),
            step_to(task(1), step(1, 1), Error, Pending, 5.0),
            start(task(1), step(1, 1), 5.0),
            finish(task(1), step(1, 0), 11.0),
            finish(task(1), step(1, 1), 21.0),
            start(task(1), step(1, 2), 21.0),
            finish(task(1), step(1, 2), 30.0),
            task_to(task(1), InProgress, Complete, 30.0),
        ],
        // T2
        vec![
            task_to(task(2), Pending, InProgress, 101.0),
            start(task(2), step(2, 0), 101.0),
            start(task(2), step(2, 1), 101.0),
            fail(task(2), step(2, 1), 102.0, 1, true, None),
            finish(task(2), step(2, 0), 103.5),
            task_to(task(2), InProgress, Error, 110.0),
        ],
        // T3
        vec![
            task_to(task(3), Pending, InProgress, 200.0),
            start(task(3), step(3, 0), 200.0),
            start(task(3), step(3, 1), 200.0),
            finish(task(3), step(3, 0), 245.0),
            fail(task(3), step(3, 1), 250.0, 5, false, None),
            task_to(task(3), InProgress, Error, 260.0),
        ],
        // T4
        vec![
            task_to(task(4), Pending, InProgress, 300.0),
            start(task(4), step(4, 0), 300.0),
            finish(task(4), step(4, 0), 400.0),
            start(task(4), step(4, 1), 400.0),
            finish(task(4), step(4, 1), 420.0),
            task_to(task(4), InProgress, Complete, 420.0),
        ],
        // T5
        vec![
            task_to(task(5), Pending, InProgress, 900.0),
            start(task(5), step(5, 0), 900.0),
            start(task(5), step(5, 1), 900.0),
            fail(task(5), step(5, 0), 990.0, 2, false, Some(60)),
            fail(task(5), step(5, 1), 995.0, 3, false, None),
        ],
        // T6
        vec![
            task_to(task(6), Pending, InProgress, 950.0),
            start(task(6), step(6, 0), 950.0),
            start(task(6), step(6, 1), 950.0),
            fail(task(6), step(6, 0), 960.0, 1, false, None),
            mv(
                task(6),
                step(6, 0),
                Error,
                Pending,
                970.0,
                StepPatch {
                    backoff_request_seconds: Some(Some(50)),
                    ..StepPatch::default()
                },
            ),
        ],
        // T7
        vec![
            task_to(task(7), Pending, InProgress, 960.0),
            start(task(7), step(7, 0), 960.0),
            fail(task(7), step(7, 0), 999.0, 3, false, None),
        ],
        // T8: nothing.
        vec![],
        // T9
        vec![
            task_to(task(9), Pending, Cancelled, 610.0),
            step_to(task(9), step(9, 0), Pending, Cancelled, 610.0),
            step_to(task(9), step(9, 1), Pending, Cancelled, 610.0),
            step_to(task(9), step(9, 2), Pending, Cancelled, 610.0),
        ],
        // T10
        vec![
            task_to(task(10), Pending, InProgress, 700.0),
            start(task(10), step(10, 0), 700.0),
            fail(task(10), step(10, 0), 710.0, 1, false, None),
            task_to(task(10), InProgress, Error, 750.0),
            step_to(task(10), step(10, 0), Error, ResolvedManually, 760.0),
            step_to(task(10), step(10, 1), Pending, ResolvedManually, 760.0),
            task_to(task(10), Error, ResolvedManually, 760.0),
        ],
        // T11
        vec![
            task_to(task(11), Pending, InProgress, 800.0),
            start(task(11), step(11, 0), 800.0),
            fail(task(11), step(11, 0), 900.0, 1, false, None),
        ],
    ];
    for (i, batch) in histories.into_iter().enumerate() {
        if !batch.is_empty() {
            apply(s, batch).unwrap_or_else(|e| panic!("history of T{}: {e}", i + 1));
        }
    }
    f
}

/// The connection counts are PostgreSQL's alone and not fixed: checked for plausibility,
/// then cleared so the rest compares exactly.
fn without_connections(db: &Db, mut c: HealthCounts) -> HealthCounts {
    match db {
        Db::Postgres(_) => {
            let (active, max) = (
                c.active_connections.expect("PostgreSQL counts connections"),
                c.max_connections
                    .expect("PostgreSQL reports max_connections"),
            );
            assert!(active >= 1, "this test's own connection is open");
            assert!(max >= active, "{active} connections of at most {max}");
        }
        _ => assert_eq!((c.active_connections, c.max_connections), (None, None)),
    }
    c.active_connections = None;
    c.max_connections = None;
    c
}

fn an_empty_store_counts_nothing(db: &Db) {
    let store = db.open();
    let counts = store.health_counts(t(NOW)).expect("health");
    assert_eq!(without_connections(db, counts), HealthCounts::default());
    let m = store.analytics_metrics(t(0.0), t(NOW)).expect("analytics");
    assert_eq!(
        m,
        AnalyticsMetrics {
            active_tasks_count: 0,
            total_namespaces_count: 0,
            unique_task_types_count: 0,
            // Nothing finished: nothing failed.
            system_health_score: 1.0,
            task_throughput: 0,
            completion_count: 0,
            error_count: 0,
            completion_rate: 0.0,
            error_rate: 0.0,
            avg_task_duration: 0.0,
            avg_step_duration: 0.0,
            step_throughput: 0,
            analysis_period_start: t(0.0),
            calculated_at: t(NOW),
        }
    );
    let q = SlowQuery::new(t(NOW));
    assert_eq!(store.slowest_steps(&q).unwrap(), vec![]);
    assert_eq!(store.slowest_step_groups(&q).unwrap(), vec![]);
    assert_eq!(store.slowest_tasks(&q).unwrap(), vec![]);
}

fn health_counts_every_state_retry_and_backoff(db: &Db) {
    let f = fixture(db);
    let counts = f.store.health_counts(t(NOW)).expect("health");
    let expected = HealthCounts {
        // T1..T11.
        total_tasks: 11,
        // T8.
        pending_tasks: 1,
        // T5, T6, T7, T11.
        in_progress_tasks: 4,
        // T1, T4.
        complete_tasks: 2,
        // T2, T3.
        error_tasks: 2,
        // T9.
        cancelled_tasks: 1,
        // T10.
        resolved_manually_tasks: 1,
        // 3 per conformance task (T1 T2 T3 T5 T6 T8 T9 T11: 8 × 3 = 24) + 2 per invoice
        // (T4 T7 T10: 3 × 2 = 6) = 30.
        total_steps: 30,
        // T2 ship, T3 ship, T5 ship, T6 fetch (retry pending) and ship, T7 send, T8 × 3,
        // T11 charge and ship: 1 + 1 + 1 + 2 + 1 + 3 + 2 = 11.
        pending_steps: 11,
        // T6 charge.
        in_progress_steps: 1,
        // T1 × 3, T2 fetch, T3 fetch, T4 × 2: 3 + 1 + 1 + 2 = 7.
        complete_steps: 7,
        // T2 charge, T3 charge, T5 fetch, T5 charge, T7 render, T11 fetch = 6.
        error_steps: 6,
        // T9 × 3.
        cancelled_steps: 3,
        // T10 render and send.
        resolved_manually_steps: 2,
        // Error, retryable, attempts < limit: T5 fetch (2 < 3), T5 charge (3 < 5),
        // T11 fetch (1 < 3) = 3. Not T2 charge (permanent), T3 charge (5 of 5), T7 render
        // (3 of 3).
        retryable_error_steps: 3,
        // Error with attempts >= limit: T3 charge (5 >= 5), T7 render (3 >= 3) = 2.
        exhausted_retry_steps: 2,
        // Retry eligible, pending or error, held back at 1000 by rule 7 or rule 8:
        // - T5 fetch: rule 7, 990 + 60 = 1050 > 1000 (rule 8 alone: 990 + 2^2 = 994, past);
        // - T5 charge: rule 8, 995 + min(2^3, 30) = 1003 > 1000;
        // - T6 fetch (pending): rule 7, last attempt 960 + 50 = 1010 > 1000.
        // Not T11 fetch (900 + 2^1 = 902 <= 1000), nor T7 render (999 + 8 > 1000, but its
        // retries are exhausted), nor T2 charge (permanent) = 3.
        in_backoff_steps: 3,
        active_connections: None,
        max_connections: None,
    };
    assert_eq!(without_connections(db, counts), expected);

    // The backoffs end: at 1049 only T5 fetch is still held (rule 7 until 1050) ...
    let later = without_connections(db, f.store.health_counts(t(1049.0)).unwrap());
    assert_eq!(later.in_backoff_steps, 1, "T5 fetch until 1050");
    // ... and at 1050 none is.
    let done = without_connections(db, f.store.health_counts(t(1050.0)).unwrap());
    assert_eq!(
        done,
        HealthCounts {
            in_backoff_steps: 0,
            ..expected
        }
    );
}

fn analytics_over_a_period(db: &Db) {
    let f = fixture(db);
    // The period [50, 1000].
    let m = f
        .store
        .analytics_metrics(t(50.0), t(NOW))
        .expect("analytics");
    assert_eq!(
        m,
        AnalyticsMetrics {
            // Pending or in_progress now: T5, T6, T7, T8, T11.
            active_tasks_count: 5,
            // tests, billing.
            total_namespaces_count: 2,
            // (tests, conformance) at 1.0.0 and 1.1.0, (billing, invoice).
            unique_task_types_count: 2,
            // 1 / (1 + 2).
            system_health_score: 1.0 / 3.0,
            // Created in [50, 1000]: all but T1 (created at 0) = 10.
            task_throughput: 10,
            // Complete, entered in the period: T4 (420). Not T1 (30, before the period).
            completion_count: 1,
            // Error, entered in the period: T2 (110), T3 (260). Not T10 (errored at 750,
            // resolved since).
            error_count: 2,
            // 1 / 10.
            completion_rate: 1.0 / 10.0,
            // 2 / 10.
            error_rate: 2.0 / 10.0,
            // T4: 420 − 300 = 120 s.
            avg_task_duration: 120.0,
            // Steps completed in the period: T2 fetch 103.5 − 100 = 3.5, T3 fetch 245 − 200
            // = 45, T4 render 400 − 300 = 100, T4 send 420 − 300 = 120 (T1's steps finished
            // by 30): (3.5 + 45 + 100 + 120) / 4 = 268.5 / 4 = 67.125 s.
            avg_step_duration: 67.125,
            step_throughput: 4,
            analysis_period_start: t(50.0),
            calculated_at: t(NOW),
        }
    );

    // Both ends are in the period: [103.5, 420] holds T2 fetch (103.5) and T4's completion
    // (420), and T3's failure (260); T2's failure at 110 too. Created in it: T3 (200),
    // T4 (300) = 2.
    let m = f.store.analytics_metrics(t(103.5), t(420.0)).unwrap();
    assert_eq!(
        (
            m.task_throughput,
            m.completion_count,
            m.error_count,
            m.step_throughput
        ),
        (2, 1, 2, 4)
    );
    // 1 / (1 + 2), and rates over 2 created tasks: 1 / 2 and 2 / 2.
    assert_eq!(
        (m.system_health_score, m.completion_rate, m.error_rate),
        (1.0 / 3.0, 0.5, 1.0)
    );

    // Everything: [0, 1000]. Complete: T1 (30 s) and T4 (120 s), mean 75 s. Steps completed:
    // T1's 11 + 21 + 30 = 62, plus 268.5 as above = 330.5 over 7 steps.
    let m = f.store.analytics_metrics(t(0.0), t(NOW)).unwrap();
    assert_eq!(m.task_throughput, 11);
    assert_eq!(m.completion_count, 2);
    assert_eq!(m.avg_task_duration, 75.0);
    assert_eq!(m.step_throughput, 7);
    // Divided as every store divides: total microseconds / count / 1e6.
    assert_eq!(m.avg_step_duration, 330_500_000.0 / 7.0 / 1_000_000.0);
    // 2 / (2 + 2).
    assert_eq!(m.system_health_score, 0.5);
}

/// How a step's last attempt ended, with what its row says of its attempts.
#[derive(Clone, Copy)]
enum Ended {
    /// Complete; no attempt count was written.
    Done,
    /// Complete, after `n` attempts.
    DoneAfter(u32),
    /// In error after `n` attempts; retryable.
    Failed(u32),
    /// In error after `n` attempts; permanent, so not retryable.
    FailedForGood(u32),
}

/// The expected row of step `s` of task `i`.
fn step_row(
    f: &Fixture,
    (i, s): (usize, usize),
    name: &str,
    (namespace, task_name, version): (&str, &str, &str),
    (created, completed): (f64, f64),
    ended: Ended,
) -> SlowestStep {
    let (attempts, retryable, status) = match ended {
        Ended::Done => (None, true, State::Complete),
        Ended::DoneAfter(n) => (Some(n), true, State::Complete),
        Ended::Failed(n) => (Some(n), true, State::Error),
        Ended::FailedForGood(n) => (Some(n), false, State::Error),
    };
    SlowestStep {
        workflow_step_id: f.step(i, s),
        task_id: f.task(i),
        step_name: name.into(),
        task_name: task_name.into(),
        namespace_name: namespace.into(),
        version: version.into(),
        duration_seconds: completed - created,
        attempts,
        created_at: t(created),
        completed_at: t(completed),
        retryable,
        step_status: status,
    }
}

const V1: (&str, &str, &str) = ("tests", "conformance", "1.0.0");
const V11: (&str, &str, &str) = ("tests", "conformance", "1.1.0");
const INVOICE: (&str, &str, &str) = ("billing", "invoice", "2.0.0");

/// Every finished step with a finish at or after 50, longest first (ties by step id).
fn finished_steps_since_50(f: &Fixture) -> Vec<SlowestStep> {
    use Ended::*;
    vec![
        // 420 − 300 = 120.
        step_row(f, (4, 1), "send", INVOICE, (300.0, 420.0), Done),
        // 100 s twice: T4 render (400 − 300) before T11 fetch (900 − 800), its id is smaller.
        step_row(f, (4, 0), "render", INVOICE, (300.0, 400.0), Done),
        step_row(f, (11, 0), "fetch", V1, (800.0, 900.0), Failed(1)),
        // 995 − 900 = 95.
        step_row(f, (5, 1), "charge", V1, (900.0, 995.0), Failed(3)),
        // 990 − 900 = 90.
        step_row(f, (5, 0), "fetch", V1, (900.0, 990.0), Failed(2)),
        // 250 − 200 = 50.
        step_row(f, (3, 1), "charge", V11, (200.0, 250.0), Failed(5)),
        // 245 − 200 = 45.
        step_row(f, (3, 0), "fetch", V11, (200.0, 245.0), Done),
        // 999 − 960 = 39.
        step_row(f, (7, 0), "render", INVOICE, (960.0, 999.0), Failed(3)),
        // 103.5 − 100 = 3.5.
        step_row(f, (2, 0), "fetch", V1, (100.0, 103.5), Done),
        // 102 − 100 = 2; permanent, so not retryable.
        step_row(f, (2, 1), "charge", V1, (100.0, 102.0), FailedForGood(1)),
    ]
}

fn query(since: f64, limit: u32) -> SlowQuery {
    SlowQuery {
        since: t(since),
        limit,
        ..SlowQuery::new(t(NOW))
    }
}

/// `base` narrowed to a namespace, a task name and a version (`None`: any).
fn narrowed(
    base: SlowQuery,
    namespace: Option<&str>,
    task_name: Option<&str>,
    version: Option<&str>,
) -> SlowQuery {
    SlowQuery {
        namespace: namespace.map(String::from),
        task_name: task_name.map(String::from),
        version: version.map(String::from),
        ..base
    }
}

fn slowest_steps_longest_first_with_ties_by_id(db: &Db) {
    let f = fixture(db);
    // Not T1's steps (finished by 30), nor T10 render (resolved by hand: not finished), nor
    // anything pending or running.
    let all = finished_steps_since_50(&f);
    assert_eq!(f.store.slowest_steps(&query(50.0, 10)).unwrap(), all);
    assert_eq!(f.store.slowest_steps(&query(50.0, 3)).unwrap(), all[..3]);
    assert_eq!(f.store.slowest_steps(&query(50.0, 0)).unwrap(), vec![]);
    let everything = f.store.slowest_steps(&query(0.0, 100)).unwrap();
    assert_eq!(everything.len(), 13, "10 + T1's fetch, charge and ship");
    // T1 ship 30 − 0 = 30 s, charge 21 s (its error at 3 is not its finish), fetch 11 s.
    let t1 = |s: usize, name: &str, done: f64, ended: Ended| {
        step_row(&f, (1, s), name, V1, (0.0, done), ended)
    };
    assert_eq!(everything[..8], all[..8], "down to 39 s");
    assert_eq!(everything[8], t1(2, "ship", 30.0, Ended::Done));
    assert_eq!(everything[9], t1(1, "charge", 21.0, Ended::DoneAfter(1)));
    assert_eq!(everything[10], t1(0, "fetch", 11.0, Ended::Done));
    assert_eq!(everything[11..], all[8..]);
    // The default query at NOW looks back 24 hours, so T1's steps too, and keeps ten rows.
    let default = f.store.slowest_steps(&SlowQuery::new(t(NOW))).unwrap();
    assert_eq!(default, everything[..10]);
}

fn slowest_steps_filters_since_and_limit(db: &Db) {
    let f = fixture(db);
    let all = finished_steps_since_50(&f);
    let filtered = |namespace: Option<&str>, name: Option<&str>, version: Option<&str>| {
        let q = narrowed(query(50.0, 10), namespace, name, version);
        f.store.slowest_steps(&q).unwrap()
    };
    // billing: T4 send, T4 render, T7 render.
    assert_eq!(
        filtered(Some("billing"), None, None),
        vec![all[0].clone(), all[1].clone(), all[7].clone()]
    );
    // conformance at 1.1.0: T3 charge, T3 fetch.
    assert_eq!(
        filtered(None, Some("conformance"), Some("1.1.0")),
        all[5..7]
    );
    // tests at 1.0.0: T11 fetch, T5 charge, T5 fetch, T2 fetch, T2 charge.
    assert_eq!(
        filtered(Some("tests"), None, Some("1.0.0")),
        vec![
            all[2].clone(),
            all[3].clone(),
            all[4].clone(),
            all[8].clone(),
            all[9].clone()
        ]
    );
    assert_eq!(filtered(Some("billing"), Some("conformance"), None), vec![]);
    assert_eq!(filtered(Some("Billing"), None, None), vec![], "exact match");
    // Since 990 includes what finished at exactly 990: T5 charge (995), T5 fetch (990),
    // T7 render (999).
    assert_eq!(
        f.store.slowest_steps(&query(990.0, 10)).unwrap(),
        vec![all[3].clone(), all[4].clone(), all[7].clone()]
    );
    // A filter and a limit together: the two slowest of tests 1.0.0.
    let q = SlowQuery {
        namespace: Some("tests".into()),
        ..query(50.0, 2)
    };
    assert_eq!(f.store.slowest_steps(&q).unwrap(), all[2..4]);
}

fn group(
    (namespace, task_name, _): (&str, &str, &str),
    step_name: &str,
    avg_ms: f64,
    max_ms: f64,
    count: u64,
) -> SlowestStepGroup {
    SlowestStepGroup {
        namespace_name: namespace.into(),
        task_name: task_name.into(),
        step_name: step_name.into(),
        avg_duration_ms: avg_ms,
        max_duration_ms: max_ms,
        execution_count: count,
    }
}

fn slowest_step_groups_average_per_step_kind(db: &Db) {
    let f = fixture(db);
    let groups = f.store.slowest_step_groups(&query(50.0, 10)).unwrap();
    assert_eq!(
        groups,
        vec![
            // billing send: T4 120 s.
            group(INVOICE, "send", 120_000.0, 120_000.0, 1),
            // billing render: T4 100 s, T7 39 s: 139 / 2 = 69.5 s.
            group(INVOICE, "render", 69_500.0, 100_000.0, 2),
            // conformance fetch, both versions: T2 3.5, T3 45, T5 90, T11 100:
            // 238.5 / 4 = 59.625 s.
            group(V1, "fetch", 59_625.0, 100_000.0, 4),
            // conformance charge: T2 2, T3 50, T5 95: 147 / 3 = 49 s.
            group(V1, "charge", 49_000.0, 95_000.0, 3),
        ]
    );
    assert_eq!(
        f.store.slowest_step_groups(&query(50.0, 2)).unwrap(),
        groups[..2]
    );
    // Version 1.0.0 only: fetch T2 3.5, T5 90, T11 100: 193.5 / 3 = 64.5 s; charge T2 2,
    // T5 95: 97 / 2 = 48.5 s.
    let q = SlowQuery {
        version: Some("1.0.0".into()),
        ..query(50.0, 10)
    };
    assert_eq!(
        f.store.slowest_step_groups(&q).unwrap(),
        vec![
            group(V1, "fetch", 64_500.0, 100_000.0, 3),
            group(V1, "charge", 48_500.0, 95_000.0, 2),
        ]
    );
    let none = SlowQuery {
        namespace: Some("billing".into()),
        version: Some("1.0.0".into()),
        ..query(50.0, 10)
    };
    assert_eq!(f.store.slowest_step_groups(&none).unwrap(), vec![]);
    // Since 0 adds T1: fetch 11 → (238.5 + 11) / 5 = 49.9 s; charge 21 → 168 / 4 = 42 s;
    // ship 30 s alone.
    let q = SlowQuery {
        namespace: Some("tests".into()),
        ..query(0.0, 10)
    };
    assert_eq!(
        f.store.slowest_step_groups(&q).unwrap(),
        vec![
            group(V1, "fetch", 249_500_000.0 / 5.0 / 1000.0, 100_000.0, 5),
            group(V1, "charge", 42_000.0, 95_000.0, 4),
            group(V1, "ship", 30_000.0, 30_000.0, 1),
        ]
    );
}

/// The expected row of task `i`.
#[allow(clippy::too_many_arguments)]
fn task_row(
    f: &Fixture,
    i: usize,
    (namespace, task_name, version): (&str, &str, &str),
    (created, completed): (f64, f64),
    (steps, completed_steps, error_steps): (u64, u64, u64),
    (initiator, source): (Option<&str>, Option<&str>),
    status: State,
) -> SlowestTask {
    SlowestTask {
        task_id: f.task(i),
        task_name: task_name.into(),
        namespace_name: namespace.into(),
        version: version.into(),
        duration_seconds: completed - created,
        step_count: steps,
        completed_steps,
        error_steps,
        created_at: t(created),
        completed_at: t(completed),
        initiator: initiator.map(String::from),
        source_system: source.map(String::from),
        task_status: status,
    }
}

fn slowest_tasks_longest_first_with_their_steps(db: &Db) {
    use State::*;
    let f = fixture(db);
    // Finished (complete or error) at or after 50: T4 (420 − 300 = 120 s), T3 (260 − 200 =
    // 60 s), T2 (110 − 100 = 10 s). Not T1 (finished at 30), not T10 (resolved by hand).
    let t4 = task_row(
        &f,
        4,
        INVOICE,
        (300.0, 420.0),
        // render and send complete.
        (2, 2, 0),
        (Some("cron"), Some("scheduler")),
        Complete,
    );
    // fetch complete, charge error, ship pending.
    let t3 = task_row(&f, 3, V11, (200.0, 260.0), (3, 1, 1), (None, None), Error);
    let t2 = task_row(
        &f,
        2,
        V1,
        (100.0, 110.0),
        (3, 1, 1),
        (Some("bob"), None),
        Error,
    );
    assert_eq!(
        f.store.slowest_tasks(&query(50.0, 10)).unwrap(),
        vec![t4.clone(), t3.clone(), t2.clone()]
    );
    // Since 0 adds T1: 30 − 0 = 30 s, all three steps complete.
    let t1 = task_row(
        &f,
        1,
        V1,
        (0.0, 30.0),
        (3, 3, 0),
        (Some("alice"), Some("web")),
        Complete,
    );
    assert_eq!(
        f.store.slowest_tasks(&SlowQuery::new(t(NOW))).unwrap(),
        vec![t4.clone(), t3.clone(), t1, t2.clone()]
    );
    assert_eq!(
        f.store.slowest_tasks(&query(50.0, 2)).unwrap(),
        vec![t4, t3]
    );
    // Since 110 keeps what finished at exactly 110.
    assert_eq!(f.store.slowest_tasks(&query(110.0, 10)).unwrap().len(), 3);
    assert_eq!(
        f.store.slowest_tasks(&query(110.000001, 10)).unwrap().len(),
        2
    );
}

fn slowest_tasks_filters(db: &Db) {
    let f = fixture(db);
    let filtered = |namespace: Option<&str>, name: Option<&str>, version: Option<&str>| {
        let q = narrowed(query(0.0, 10), namespace, name, version);
        f.store
            .slowest_tasks(&q)
            .unwrap()
            .into_iter()
            .map(|r| r.task_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(filtered(Some("billing"), None, None), vec![f.task(4)]);
    assert_eq!(filtered(None, Some("invoice"), None), vec![f.task(4)]);
    // T3 60 s; T1 30 s and T2 10 s are 1.0.0.
    assert_eq!(filtered(None, None, Some("1.1.0")), vec![f.task(3)]);
    assert_eq!(
        filtered(Some("tests"), Some("conformance"), Some("1.0.0")),
        vec![f.task(1), f.task(2)]
    );
    assert_eq!(filtered(Some("tests"), None, None).len(), 3);
    assert_eq!(filtered(None, None, Some("9.9.9")), vec![]);
}
