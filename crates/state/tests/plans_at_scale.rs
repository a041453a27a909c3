//! The hot path keeps its plans when the tables are large and their statistics stale
//! (issue 15, item 5): on PostgreSQL, with the Tasker tables holding 30,000 finished tasks
//! and never analyzed (no statistics, as where autovacuum is off or behind), every statement a
//! running engine sends — allocating ids, creating tasks, moving steps and tasks (with the
//! heads the writer reads first), reading a task's state and a whole task back — must
//! reach rows through indexes, never by a sequential scan of a Tasker table; so must the
//! listing of unfinished tasks an engine reads at start (`recover`), and pages of the task
//! listing people read (`list_tasks`: unfiltered, by a state no task is in, by template, by
//! a creation time only the newest tasks match, alone and with the other filters).
//! Nor may it read a
//! large range of an index (a bitmap scan of a non-selective index reads as much as a
//! sequential scan: Tasker's index on `sort_key` alone once was). The store is
//! the one that prepared its statements while the tables were small, as in a long-running
//! engine.
//!
//! Why this way: the server on these machines runs with autovacuum off, and production
//! tables that grow by millions of rows also go minutes without fresh statistics; a plan
//! that leans on them (or a generic plan kept from when the tables were small) turns a
//! lookup into a scan of the history. The test counts what the server itself counts
//! (`pg_stat_user_tables.seq_tup_read`, published when the store's connections close), so
//! it covers every statement the store sent, not a list kept beside the code.
//!
//! A second test does the same for a worker's claim of available tasks when many tasks wait
//! for their `run_at` (issue 17).

mod conformance;

use conformance::bench::{finish, four_step_template, start};
use conformance::*;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::collections::BTreeMap;
use tasker_model::{StepId, TaskId, Timestamp};
use tasker_state::{open_store, Change, Store, TaskFilter};

/// Finished tasks written after the statistics were taken.
const FILL_TASKS: i64 = 30_000;
/// Ids of the filled rows start here, far from the sequences the store allocates from.
const FILL_BASE: i64 = 1_000_000_000;
/// Tasks the hot path runs on the large tables.
const RUNS: usize = 20;

/// The Tasker tables a running engine reads and writes per task, and the claims it writes
/// beside them (a claim per unfinished task, deleted when the task finishes).
const HOT_TABLES: [&str; 6] = [
    "tasker_tasks",
    "tasker_workflow_steps",
    "tasker_workflow_step_edges",
    "tasker_task_transitions",
    "tasker_workflow_step_transitions",
    "tasker_core_task_claims",
];

/// Runs `sql` (one or more statements) in `schema`.
fn exec(schema: &PgSchema, sql: &str) {
    let (url, sql) = (schema.url(), sql.to_string());
    run(async move {
        let mut conn = PgConnection::connect(&url).await?;
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await?;
        conn.close().await
    })
    .expect("statement in the test schema");
}

/// Counters of the server's statistics views, `name=count` rows of `select` (its first
/// column names a relation of the test's schema, `table` or `table.index`), kept for the
/// hot tables.
fn hot_counters(schema: &PgSchema, select: &str, view: &str) -> BTreeMap<String, i64> {
    schema
        .texts(&format!(
            "SELECT {select} FROM {view} WHERE schemaname = '{}' ORDER BY 1",
            schema.name
        ))
        .into_iter()
        .filter_map(|row| {
            let (name, count) = row.split_once('=')?;
            let count: i64 = count.parse().ok()?;
            HOT_TABLES
                .contains(&name.split('.').next()?)
                .then(|| (name.to_string(), count))
        })
        .collect()
}

/// Rows the server counted as read by sequential scans so far, per hot table.
fn rows_scanned(schema: &PgSchema) -> BTreeMap<String, i64> {
    hot_counters(
        schema,
        "relname || '=' || seq_tup_read",
        "pg_stat_user_tables",
    )
}

/// Sequential scans the server counted as started so far, per hot table. The claims table
/// needs this count: its rows are deleted as tasks finish, and `seq_tup_read` counts only
/// live rows, so a scan per task over its dead ones reads as nothing there.
fn scans_started(schema: &PgSchema) -> BTreeMap<String, i64> {
    hot_counters(schema, "relname || '=' || seq_scan", "pg_stat_user_tables")
}

/// Index entries the server counted as returned by scans so far, per index of a hot table
/// (`table.index`): a lookup by id returns one, a scan of a large range of an index returns
/// thousands (a bitmap scan of a non-selective index is no sequential scan, but reads as
/// much).
fn index_entries_read(schema: &PgSchema) -> BTreeMap<String, i64> {
    hot_counters(
        schema,
        "relname || '.' || indexrelname || '=' || idx_tup_read",
        "pg_stat_user_indexes",
    )
}

/// Time for the counts of closed connections to be visible (a backend publishes its
/// counts when it exits).
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(1500));
}

/// One 4-step chain from creation to completion, in the batches an engine commits, then
/// read back as a user reads a result.
fn run_one(store: &dyn Store, template: &tasker_model::TaskTemplate) {
    let now = Timestamp::now();
    let new = new_task(store, template, now);
    let id = new.task.task_id;
    let steps: Vec<StepId> = new.steps.iter().map(|s| s.step_id).collect();
    apply(
        store,
        vec![
            Change::CreateTask(Box::new(new)),
            task_move(id, State::Pending, State::InProgress, now),
            start(id, steps[0], now),
        ],
    )
    .unwrap();
    for w in steps.windows(2) {
        apply(store, vec![finish(id, w[0], now), start(id, w[1], now)]).unwrap();
    }
    apply(
        store,
        vec![
            finish(id, steps[3], now),
            task_move(id, State::InProgress, State::Complete, now),
        ],
    )
    .unwrap();
    assert_eq!(store.task_state(id).unwrap(), Some(State::Complete));
    let view = store.task(id).unwrap().expect("the task just written");
    assert_eq!(view.steps.len(), 4);
    assert!(view.steps.iter().all(|s| s.state == State::Complete));
}

#[test]
fn hot_path_plans_use_indexes_on_large_tables_with_stale_statistics() {
    let Some(schema) = PgSchema::new("plans") else {
        return;
    };
    let template = four_step_template("plans", true);
    // One store for the whole test, as a long-running engine keeps its connections: the
    // statements it prepares while the tables are small must not keep plans for small
    // tables once they are large.
    let store = open_store(&schema.url()).unwrap();
    store.register_template(&template).unwrap();
    // No statistics at all (the server here never analyzes by itself), and enough small
    // runs for every statement to be prepared and planned while the tables are small
    // (PostgreSQL settles on a generic plan after five executions).
    for _ in 0..10 {
        run_one(store.as_ref(), &template);
    }
    exec(&schema, &fill_sql());
    let filled = schema.texts("SELECT count(*)::text FROM tasker_workflow_step_transitions");
    assert!(
        filled[0].parse::<i64>().unwrap() > FILL_TASKS * 8,
        "the fill wrote {filled:?} step transitions"
    );
    settle();
    let before = rows_scanned(&schema);
    let entries_before = index_entries_read(&schema);
    let scans_before = scans_started(&schema);
    // Every filled task was created before this (and has a larger id than the runs').
    let runs_from = Timestamp::now();
    for _ in 0..RUNS {
        run_one(store.as_ref(), &template);
    }
    // Reads of filled (old) tasks too, as a dashboard or a late reader does.
    for n in [1, FILL_TASKS / 2, FILL_TASKS] {
        let id = tasker_model::TaskId(FILL_BASE + n);
        assert_eq!(store.task_state(id).unwrap(), Some(State::Complete));
        let view = store.task(id).unwrap().expect("a filled task");
        assert_eq!(view.steps.len(), 4);
        assert_eq!(view.steps[3].parents.len(), 1);
        assert_eq!(view.steps[3].transitions.len(), 2);
    }
    // What an engine lists at start to take over (`recover`): none of the filled tasks.
    assert!(store.unfinished_tasks().unwrap().is_empty());
    // Pages of the task listing (the command line's `tasks`, a dashboard's list): the
    // newest, and one from the middle by keyset.
    let newest = store.list_tasks(&TaskFilter::default()).unwrap();
    assert_eq!(newest.len(), TaskFilter::DEFAULT_LIMIT);
    let middle = TaskId(FILL_BASE + FILL_TASKS / 2);
    let page = store
        .list_tasks(&TaskFilter {
            before: Some(middle),
            ..TaskFilter::default()
        })
        .unwrap();
    assert_eq!(page.len(), TaskFilter::DEFAULT_LIMIT);
    assert_eq!(page[0].task_id, TaskId(middle.0 - 1));
    assert!(page.iter().all(|t| t.state == State::Complete));
    // Filtered pages, where walking the primary key until a page is full would read every
    // task: states no task is in (errors and pending tasks are rare in a history), a template
    // by namespace and name, and that template's complete tasks.
    for state in [State::Error, State::Pending, State::ResolvedManually] {
        let filter = TaskFilter {
            state: Some(state),
            ..TaskFilter::default()
        };
        assert_eq!(store.list_tasks(&filter).unwrap(), vec![], "{state:?}");
    }
    for state in [None, Some(State::Complete)] {
        let filter = TaskFilter {
            state,
            namespace: Some("tests".into()),
            name: Some("plans".into()),
            before: Some(middle),
            ..TaskFilter::default()
        };
        let page = store.list_tasks(&filter).unwrap();
        assert_eq!(page.len(), TaskFilter::DEFAULT_LIMIT, "{state:?}");
        assert_eq!(page[0].task_id, TaskId(middle.0 - 1), "{state:?}");
    }
    // A creation time that only the runs match, alone and with the other filters: walking
    // the filtered range newest first (the filled tasks' ids are the largest) until a page
    // is full would read every filled task.
    for (state, name) in [
        (None, None),
        (Some(State::Complete), None),
        (None, Some("plans")),
        (Some(State::Complete), Some("plans")),
        (Some(State::Error), None),
    ] {
        let filter = TaskFilter {
            state,
            name: name.map(str::to_string),
            since: Some(runs_from),
            ..TaskFilter::default()
        };
        let page = store.list_tasks(&filter).unwrap();
        let want = if state == Some(State::Error) { 0 } else { RUNS };
        assert_eq!(page.len(), want, "{state:?} {name:?}");
        assert!(page
            .iter()
            .all(|t| t.created_at >= runs_from && t.task_id.0 < FILL_BASE));
    }
    // Closing ends the store's connections, which makes the server publish their counts.
    store.close();
    drop(store);
    settle();
    let after = rows_scanned(&schema);
    let entries_after = index_entries_read(&schema);
    let scans_after = scans_started(&schema);
    let claims = "tasker_core_task_claims";
    assert!(
        scans_after[claims] - scans_before[claims] < RUNS as i64,
        "{RUNS} hot-path runs started {} sequential scans of {claims}",
        scans_after[claims] - scans_before[claims]
    );
    assert_eq!(before.len(), HOT_TABLES.len(), "counters: {before:?}");
    // The small runs before the fill may have scanned the then-small tables (a few hundred
    // rows at most, and counted on either side of `before`); one scan of a filled table
    // reads at least FILL_TASKS rows.
    let scanned: Vec<String> = HOT_TABLES
        .iter()
        .filter(|t| after[**t] - before[**t] >= FILL_TASKS)
        .map(|t| {
            format!(
                "{t} ({} rows read by sequential scans)",
                after[*t] - before[*t]
            )
        })
        .collect();
    assert!(
        scanned.is_empty(),
        "on tables of {FILL_TASKS} tasks with stale statistics, {RUNS} hot-path runs scanned {}",
        scanned.join(", ")
    );
    // The runs and reads above need a few hundred index entries in all; one scan of a
    // large range of a filled index returns about FILL_TASKS.
    let ranges = grown_beyond(&entries_before, &entries_after, "entries", entries_allowed);
    assert!(
        ranges.is_empty(),
        "on tables of {FILL_TASKS} tasks with stale statistics, {RUNS} hot-path runs read large ranges of {}",
        ranges.join(", ")
    );
}

/// `FILL_TASKS` finished 4-step chains (and their claims, given back), set-based, copying
/// the named rows of the task the store wrote (so they are Tasker's rows as the engine
/// writes them).
fn fill_sql() -> String {
    format!(
        "{}
         -- The claims the store's own process made and gave back for those tasks: without a
         -- vacuum since, their index entries stay (autovacuum off or behind, as on a busy
         -- queue table), every one under the same owner.
         INSERT INTO tasker_core_task_claims (task_id, owner, claimed_at)
           SELECT {b} + g, (SELECT max(id) FROM tasker_core_processes), now()
           FROM generate_series(1, {n}) g;
         DELETE FROM tasker_core_task_claims WHERE task_id > {b};
         -- Kept unvacuumed, as this server's autovacuum is off: a vacuum would remove the dead
         -- entries this fill is about, and the test would pass without its fix.
         ALTER TABLE tasker_core_task_claims SET (autovacuum_enabled = off);",
        chains_sql(FILL_BASE, Chains::Finished),
        b = FILL_BASE,
        n = FILL_TASKS
    )
}

/// What the filled chains are.
#[derive(Clone, Copy, PartialEq)]
enum Chains {
    /// Finished tasks.
    Finished,
    /// Unfinished ones waiting for their `run_at` an hour ahead.
    Waiting,
    /// Unfinished ones any worker may claim now (submitted by a client, not started).
    Claimable,
}

/// `FILL_TASKS` 4-step chains from task id `base` + 1, set-based, copying the named rows of
/// the first task the store wrote: finished ones, unfinished ones waiting for their `run_at`
/// an hour ahead, as the engine stores a task submitted with `run_at:` (started; its steps
/// never ran, held by `last_attempted_at` + `backoff_request_seconds`), unclaimed, or
/// unfinished ones claimable now (their steps never ran and wait on nothing), unclaimed.
fn chains_sql(base: i64, chains: Chains) -> String {
    let finished = chains == Chains::Finished;
    let started = "('in_progress', 'pending', 1)";
    let never_ran = "attempts, last_attempted_at, backoff_request_seconds";
    let (tag, steps, step_values, task_moves) = match chains {
        Chains::Finished => (
            "fill",
            "processed_at, attempts, results",
            "true, now(), 1, '{\"ok\": true}'::jsonb",
            "('in_progress', 'pending', 1), ('complete', 'in_progress', 2)",
        ),
        Chains::Waiting => ("wait", never_ran, "false, 0, now(), 3600", started),
        Chains::Claimable => ("todo", never_ran, "false, 0, NULL, NULL", started),
    };
    let step_transitions = if finished {
        format!(
            "INSERT INTO tasker_workflow_step_transitions (to_state, from_state, sort_key,
                                                       most_recent, workflow_step_id,
                                                       created_at, updated_at)
           SELECT s.to_state, s.from_state, s.sort_key, s.sort_key = 2, {base} + g * 4 + k,
                  now(), now()
           FROM generate_series(1, {n}) g, generate_series(0, 3) k,
                (VALUES ('in_progress', 'pending', 1), ('complete', 'in_progress', 2))
                  AS s(to_state, from_state, sort_key);",
            n = FILL_TASKS
        )
    } else {
        String::new()
    };
    let last = if finished { 2 } else { 1 };
    format!(
        "SET synchronous_commit = off;
         CREATE TEMP TABLE model AS
           SELECT t.named_task_id,
                  (SELECT array_agg(named_step_id ORDER BY workflow_step_id)
                     FROM tasker_workflow_steps WHERE task_id = t.task_id) AS named_steps
           FROM tasker_tasks t ORDER BY t.task_id LIMIT 1;
         INSERT INTO tasker_tasks (task_id, named_task_id, complete, requested_at, context,
                                   identity_hash, created_at, updated_at)
           SELECT {base} + g, m.named_task_id, {finished}, now(), '{{}}'::jsonb, '{tag}-' || g,
                  now(), now()
           FROM model m, generate_series(1, {n}) g;
         INSERT INTO tasker_workflow_steps (workflow_step_id, task_id, named_step_id, retryable,
                                            retry_limit, in_process, processed, {steps},
                                            created_at, updated_at)
           SELECT {base} + g * 4 + k, {base} + g, m.named_steps[k + 1], true, 3, false,
                  {step_values}, now(), now()
           FROM model m, generate_series(1, {n}) g, generate_series(0, 3) k;
         INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, created_at,
                                                 updated_at)
           SELECT {base} + g * 4 + k - 1, {base} + g * 4 + k, 'provides', now(), now()
           FROM generate_series(1, {n}) g, generate_series(1, 3) k;
         INSERT INTO tasker_task_transitions (to_state, from_state, sort_key, most_recent,
                                              task_id, created_at, updated_at)
           SELECT s.to_state, s.from_state, s.sort_key, s.sort_key = {last}, {base} + g, now(),
                  now()
           FROM generate_series(1, {n}) g,
                (VALUES {task_moves}) AS s(to_state, from_state, sort_key);
         {step_transitions}",
        n = FILL_TASKS
    )
}

/// The counters that grew by at least `FILL_TASKS` from `before` to `after` (a scan of a
/// filled table or of a large range of a filled index), as "name (growth `what`)".
fn grown_by_a_fill(
    before: &BTreeMap<String, i64>,
    after: &BTreeMap<String, i64>,
    what: &str,
) -> Vec<String> {
    grown_beyond(before, after, what, |_| FILL_TASKS)
}

/// Index entries a test's reads may take from one index before they count as a scan of a
/// filled range: `FILL_TASKS`, but the claims' owner index once more as much, since closing
/// the store hands back its claims by owner, one range of the filled (given-back) claims,
/// once (the per-task writes reading it read `FILL_TASKS` a statement).
fn entries_allowed(index: &str) -> i64 {
    if index == "tasker_core_task_claims.tasker_core_task_claims_owner" {
        FILL_TASKS + FILL_TASKS / 2
    } else {
        FILL_TASKS
    }
}

/// [`grown_by_a_fill`] with a threshold per counter.
fn grown_beyond(
    before: &BTreeMap<String, i64>,
    after: &BTreeMap<String, i64>,
    what: &str,
    allowed: impl Fn(&str) -> i64,
) -> Vec<String> {
    after
        .iter()
        .map(|(name, n)| (name, n - before.get(name).copied().unwrap_or(0)))
        .filter(|(name, grown)| *grown >= allowed(name))
        .map(|(name, grown)| format!("{name} ({grown} {what})"))
        .collect()
}

/// Rows the server counted as read by sequential scans so far, per table of the schema
/// (Tasker's and tasker-core's).
fn rows_scanned_anywhere(schema: &PgSchema) -> BTreeMap<String, i64> {
    schema
        .texts(&format!(
            "SELECT relname || '=' || seq_tup_read FROM pg_stat_user_tables \
             WHERE schemaname = '{}' ORDER BY 1",
            schema.name
        ))
        .into_iter()
        .filter_map(|row| {
            let (name, count) = row.split_once('=')?;
            Some((name.to_string(), count.parse().ok()?))
        })
        .collect()
}

/// A schema for a claim test: a store whose claim was prepared and planned (five times and
/// more) while the tables were small, after one task to copy the named rows from; then the
/// finished history and `FILL_TASKS` chains of `chains` (ids from `2 * FILL_BASE` + 1).
fn claim_fixture(
    name: &str,
    chains: Chains,
) -> Option<(
    PgSchema,
    std::sync::Arc<dyn Store>,
    tasker_model::TaskTemplate,
)> {
    let schema = PgSchema::new(name)?;
    let template = four_step_template("plans", true);
    let store = open_store(&schema.url()).unwrap();
    store.register_template(&template).unwrap();
    run_one(store.as_ref(), &template);
    for _ in 0..10 {
        assert_eq!(store.claim_available(25).unwrap(), vec![]);
    }
    exec(&schema, &fill_sql());
    exec(&schema, &chains_sql(2 * FILL_BASE, chains));
    Some((schema, store, template))
}

/// A worker's claim of available tasks (issue 17, item 3) keeps its plan when many tasks
/// wait for their `run_at` (unfinished, unclaimed, their steps held by the backoff
/// columns) beside a long history, with no statistics: it must not read a Tasker or
/// tasker-core table by a sequential scan, whether it finds nothing to claim or one task.
/// (It still looks at each waiting task through three indexes per claim, about 90,000
/// index entries here: tasks are walked oldest first and a waiting one is known only by
/// its steps. Not checked; README, "Concurrency limits" … "Schedules" says so.)
#[test]
fn claiming_keeps_its_plan_with_many_tasks_waiting_on_run_at() {
    let Some((schema, store, template)) = claim_fixture("plans_claim", Chains::Waiting) else {
        return;
    };
    let waiting = schema.texts("SELECT count(*)::text FROM tasker_tasks WHERE NOT complete");
    assert_eq!(waiting, vec![FILL_TASKS.to_string()]);
    // One task a client left for the workers: the claim finds it among those waiting.
    let client = tasker_state::open_store_with(
        &schema.url(),
        tasker_state::Sharing {
            role: tasker_state::Role::Client,
            ..tasker_state::Sharing::default()
        },
    )
    .unwrap();
    client.register_template(&template).unwrap();
    settle();
    let before = rows_scanned_anywhere(&schema);
    for _ in 0..RUNS {
        assert_eq!(store.claim_available(25).unwrap(), vec![]);
    }
    let new = new_task(client.as_ref(), &template, Timestamp::now());
    let id = new.task.task_id;
    apply(client.as_ref(), vec![Change::CreateTask(Box::new(new))]).unwrap();
    assert_eq!(store.claim_available(25).unwrap(), vec![id]);
    client.close();
    drop(client);
    store.close();
    drop(store);
    settle();
    let after = rows_scanned_anywhere(&schema);
    let scanned = grown_by_a_fill(&before, &after, "rows read by sequential scans");
    assert!(
        scanned.is_empty(),
        "with {FILL_TASKS} tasks waiting on run_at beside {FILL_TASKS} finished ones and stale statistics, {} claims scanned {}",
        RUNS + 1,
        scanned.join(", ")
    );
}

/// A worker's claim keeps its plan with a backlog it may claim (issue 17): with
/// `FILL_TASKS` unclaimed tasks ready to start beside a long history, no statistics, and a
/// few of them given a priority, each claim takes the best `limit` by aged priority without
/// reading a Tasker or tasker-core table by a sequential scan, nor the backlog's range of
/// an index (a claim ordered by the aged key in one statement read and sorted every
/// claimable task each time, through the index on `complete`: no sequential scan, but
/// 30,000 index entries per claim). Each claim walks the unprioritized tasks oldest first
/// past those already claimed, so 21 claims of 25 read about 6,000 entries in all.
#[test]
fn claiming_keeps_its_plan_with_a_claimable_backlog() {
    let Some((schema, store, _)) = claim_fixture("plans_backlog", Chains::Claimable) else {
        return;
    };
    let base = 2 * FILL_BASE;
    // The newest 25 get 10 points: created together with the rest, they come first.
    exec(
        &schema,
        &format!(
            "INSERT INTO tasker_core_task_priorities (task_id, priority) \
             SELECT {base} + g, 10 FROM generate_series({}, {FILL_TASKS}) g",
            FILL_TASKS - 24
        ),
    );
    settle();
    let before = rows_scanned_anywhere(&schema);
    let entries_before = index_entries_read(&schema);
    let ids = |from: i64| {
        (from..from + 25)
            .map(|g| TaskId(base + g))
            .collect::<Vec<_>>()
    };
    assert_eq!(store.claim_available(25).unwrap(), ids(FILL_TASKS - 24));
    for run in 0..RUNS as i64 {
        assert_eq!(store.claim_available(25).unwrap(), ids(1 + 25 * run));
    }
    store.close();
    drop(store);
    settle();
    let after = rows_scanned_anywhere(&schema);
    let mut scanned = grown_by_a_fill(&before, &after, "rows read by sequential scans");
    scanned.extend(grown_beyond(
        &entries_before,
        &index_entries_read(&schema),
        "entries",
        entries_allowed,
    ));
    assert!(
        scanned.is_empty(),
        "with {FILL_TASKS} claimable tasks beside {FILL_TASKS} finished ones and stale statistics, {} claims scanned {}",
        RUNS + 1,
        scanned.join(", ")
    );
}
