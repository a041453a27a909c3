//! The throughput measurement: batches of 10,000 step transitions, and the same steps
//! written as group commit produces them under load.

use super::{apply, new_task, State};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use tasker_model::{StepId, TaskId, TaskTemplate, Timestamp};
use tasker_state::{Change, NewTask, StepPatch, Store, TransitionMeta};

const TASKS: usize = 2500;
const ROUNDS: usize = 5;

/// Template `name` of four steps `a` to `d` (handler `H`): a chain, each step after the
/// one before, when `chained`; else four independent steps.
pub fn four_step_template(name: &str, chained: bool) -> TaskTemplate {
    let mut yaml =
        format!("name: {name}\nnamespace_name: tests\nversion: 1.0.0\nstep_templates:\n");
    let mut previous = None;
    for step in ["a", "b", "c", "d"] {
        yaml.push_str(&format!("  - name: {step}\n    handler_class: H\n"));
        if let (true, Some(p)) = (chained, previous) {
            yaml.push_str(&format!("    depends_on_steps: [{p}]\n"));
        }
        previous = Some(step);
    }
    TaskTemplate::from_yaml(&yaml, &format!("{name}.yaml")).unwrap()
}

/// A step handed out (pending → in_progress, in_process).
pub fn start(task: TaskId, step: StepId, at: Timestamp) -> Change {
    Change::StepTransition {
        task_id: task,
        step_id: step,
        from: Some(State::Pending),
        to: State::InProgress,
        meta: TransitionMeta::engine("handed out"),
        at,
        patch: StepPatch {
            in_process: Some(true),
            ..StepPatch::default()
        },
        expect_sort_key: None,
    }
}

/// The batches a lightly loaded engine commits, one after another, for a new 4-step chain
/// `new` (of [`four_step_template`] chained): its creation with the first step handed out,
/// each step finishing with the next handed out, the last finishing with the task.
pub fn serial_batches(new: NewTask, now: Timestamp) -> Vec<Vec<Change>> {
    let id = new.task.task_id;
    let steps: Vec<StepId> = new.steps.iter().map(|s| s.step_id).collect();
    let mut plan: Vec<Vec<Change>> = vec![vec![
        Change::CreateTask(Box::new(new)),
        super::task_move(id, State::Pending, State::InProgress, now),
        start(id, steps[0], now),
    ]];
    for w in steps.windows(2) {
        plan.push(vec![finish(id, w[0], now), start(id, w[1], now)]);
    }
    plan.push(vec![
        finish(id, steps[3], now),
        super::task_move(id, State::InProgress, State::Complete, now),
    ]);
    plan
}

/// A step completed with small results.
pub fn finish(task: TaskId, step: StepId, at: Timestamp) -> Change {
    Change::StepTransition {
        task_id: task,
        step_id: step,
        from: Some(State::InProgress),
        to: State::Complete,
        meta: TransitionMeta {
            duration_ms: Some(1.5),
            ..TransitionMeta::engine("done")
        },
        at,
        patch: StepPatch {
            in_process: Some(false),
            processed: Some(true),
            processed_at: Some(at),
            results: Some(Arc::new(json!({"ok": true, "n": step.0}))),
            ..StepPatch::default()
        },
        expect_sort_key: None,
    }
}

fn task_move(task: TaskId, from: State, to: State, at: Timestamp) -> Change {
    Change::TaskTransition {
        task_id: task,
        from: Some(from),
        to,
        meta: TransitionMeta::engine("bench"),
        at,
        complete: (to == State::Complete).then_some(true),
        expect_sort_key: None,
    }
}

/// Seconds to commit `batch`.
fn timed(store: &dyn Store, batch: Vec<Change>) -> f64 {
    let started = Instant::now();
    apply(store, batch).unwrap();
    started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn steps_of(tasks: &[NewTask]) -> Vec<(TaskId, StepId)> {
    tasks
        .iter()
        .flat_map(|t| t.steps.iter().map(|s| (s.task_id, s.step_id)))
        .collect()
}

/// Prints, for `store`, the median of `ROUNDS` rounds on fresh tasks of:
/// - one kind of batch at a time: create 2,500 tasks of 4 steps; move their 10,000 steps
///   pending → in_progress; then in_progress → complete with results;
/// - group commit as an engine under load produces it: one batch creates the tasks, starts
///   them and hands out their steps (15,000 changes); the next completes the steps and the
///   tasks (12,500 changes).
pub fn measure(label: &str, store: &dyn Store) {
    let template = four_step_template("bench", false);
    store.register_template(&template).unwrap();
    let mut separate: [Vec<f64>; 3] = Default::default();
    let mut grouped: Vec<f64> = Vec::new();
    for _ in 0..ROUNDS {
        let tasks: Vec<NewTask> = (0..TASKS)
            .map(|_| new_task(store, &template, Timestamp::now()))
            .collect();
        let steps = steps_of(&tasks);
        let now = Timestamp::now();
        let creates = tasks.into_iter().map(|t| Change::CreateTask(Box::new(t)));
        separate[0].push(timed(store, creates.collect()));
        let starts = steps.iter().map(|(t, s)| start(*t, *s, now));
        separate[1].push(timed(store, starts.collect()));
        let finishes = steps.iter().map(|(t, s)| finish(*t, *s, now));
        separate[2].push(timed(store, finishes.collect()));

        let tasks: Vec<NewTask> = (0..TASKS)
            .map(|_| new_task(store, &template, Timestamp::now()))
            .collect();
        let steps = steps_of(&tasks);
        let ids: Vec<TaskId> = tasks.iter().map(|t| t.task.task_id).collect();
        let mut first = Vec::with_capacity(TASKS * 6);
        for (task, chunk) in tasks.into_iter().zip(steps.chunks(4)) {
            let id = task.task.task_id;
            first.push(Change::CreateTask(Box::new(task)));
            first.push(task_move(id, State::Pending, State::InProgress, now));
            first.extend(chunk.iter().map(|(t, s)| start(*t, *s, now)));
        }
        let mut second: Vec<Change> = steps.iter().map(|(t, s)| finish(*t, *s, now)).collect();
        second.extend(
            ids.iter()
                .map(|t| task_move(*t, State::InProgress, State::Complete, now)),
        );
        grouped.push(timed(store, first) + timed(store, second));
    }
    let [create, start, finish] = separate.map(median);
    let steps = (TASKS * 4) as f64;
    for (what, n, secs) in [
        ("create 2,500 tasks of 4 steps", TASKS as f64, create),
        ("10,000 steps pending -> in_progress", steps, start),
        ("10,000 steps in_progress -> complete", steps, finish),
    ] {
        println!(
            "{label:>9}: {what:<38} {:>7.1} ms {:>9.0} changes/s",
            secs * 1000.0,
            n / secs
        );
    }
    println!(
        "{label:>9}: one kind per batch: {:.0} steps/s (create + start + finish)",
        steps / (create + start + finish)
    );
    let grouped = median(grouped);
    println!(
        "{label:>9}: grouped as under load: 27,500 changes in {:.1} ms = {:.0} changes/s, \
         {:.0} steps/s",
        grouped * 1000.0,
        27_500.0 / grouped,
        steps / grouped
    );
}
