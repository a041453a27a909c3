//! Tasker's execution context of a task (`get_task_execution_context`, as TASKER.md words
//! it) from its steps: the one reference for the resolver's property tests and the state
//! crate's cross-check of Tasker's SQL functions (included there by `#[path]`).
//!
//! Must not: decide readiness or retry exhaustion, or depend on anything but std: each test
//! gives every step's state name, readiness and exhaustion from its own source of truth (the
//! resolver's snapshots, Tasker's SQL rows) and shares only the rule that counts them and
//! turns the counts into statuses.

/// `get_task_execution_context`'s columns: total, pending, in_progress, completed, failed and
/// ready steps, then execution_status and health_status.
pub type Context = (
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    &'static str,
    &'static str,
);

/// The context of a task whose steps are `(state name, ready, blocked)`, `blocked` meaning an
/// error step out of retries; with it, the count of blocked steps, which decides the statuses
/// but is not a column. Complete and resolved_manually steps count as completed.
pub fn context_of_steps<'a>(
    steps: impl IntoIterator<Item = (&'a str, bool, bool)>,
) -> (Context, usize) {
    let (mut total, mut pending, mut in_progress, mut completed) = (0, 0, 0, 0);
    let (mut failed, mut ready, mut blocked) = (0, 0, 0);
    for (state, is_ready, is_blocked) in steps {
        total += 1;
        match state {
            "pending" => pending += 1,
            "in_progress" => in_progress += 1,
            "complete" | "resolved_manually" => completed += 1,
            "error" => failed += 1,
            _ => {}
        }
        ready += usize::from(is_ready);
        blocked += usize::from(is_blocked);
    }
    let status = if ready > 0 {
        "has_ready_steps"
    } else if in_progress > 0 {
        "processing"
    } else if blocked > 0 {
        "blocked_by_failures"
    } else if total > 0 && completed == total {
        "all_complete"
    } else {
        "waiting_for_dependencies"
    };
    let health = if failed == 0 {
        "healthy"
    } else if ready > 0 {
        "recovering"
    } else if blocked > 0 {
        "blocked"
    } else {
        "recovering"
    };
    let context = (
        total,
        pending,
        in_progress,
        completed,
        failed,
        ready,
        status,
        health,
    );
    (context, blocked)
}
