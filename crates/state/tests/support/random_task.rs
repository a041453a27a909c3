//! Random tasks for the readiness cross-check: a DAG of 1-12 steps written as template YAML,
//! each step's stored fields and transition history, with NULLs and times placed exactly on,
//! or one microsecond either side of, each backoff boundary of TASKER.md's rules 7 and 8.

use std::fmt::Write as _;
use tasker_model::{State, Timestamp};
use tasker_resolver::readiness::{StepReadiness, StepSnapshot};

/// One second in `Timestamp` units (microseconds).
pub const SECOND: i64 = 1_000_000;
/// 2025-06-01T00:00:00Z; each case's `now` falls within the following day.
pub const BASE_SECS: i64 = 1_748_736_000;
const MAX_STEPS: usize = 12;

/// One step of a random task: its template entry, its stored fields and its history.
#[derive(Debug, Clone)]
pub struct StepCase {
    pub name: String,
    /// Template indices of the parents, ascending.
    pub parents: Vec<usize>,
    /// Transitions before the current one (most_recent = false), oldest first.
    pub history: Vec<(State, Timestamp)>,
    /// Give the current transition the lowest sort_key instead of the highest. A writer never
    /// does this; it shows that the current state is read from the most_recent flag.
    pub current_sorts_first: bool,
    /// The stored fields; `state_entered_at` is the most_recent transition's created_at.
    pub snapshot: StepSnapshot,
}

/// One random task, evaluated at `now`.
#[derive(Debug, Clone)]
pub struct Case {
    pub number: usize,
    pub now: Timestamp,
    pub yaml: String,
    pub steps: Vec<StepCase>,
}

impl Case {
    pub fn task_id(&self) -> i64 {
        self.number as i64 + 1
    }

    /// Explicit ids keep a case's rows recognisable: task 7's steps are 700, 701, ...
    pub fn step_id(&self, index: usize) -> i64 {
        self.task_id() * 100 + index as i64
    }
}

/// TASKER.md rule 8's wait, read from its text: min(2^attempts, 30) s, attempts NULL as 1.
pub fn rule8_wait(attempts: Option<u32>) -> i64 {
    let a = attempts.unwrap_or(1);
    if a >= 5 {
        30 * SECOND
    } else {
        (1i64 << a).min(30) * SECOND
    }
}

/// -1, 0 or +1 microsecond: lands a time on, or just either side of, a boundary.
fn nudge(rng: &mut fastrand::Rng) -> i64 {
    rng.i64(-1..=1)
}

fn random_state(rng: &mut fastrand::Rng) -> State {
    match rng.u8(0..100) {
        0..=29 => State::Pending,
        30..=59 => State::Error,
        60..=74 => State::Complete,
        75..=82 => State::ResolvedManually,
        83..=92 => State::InProgress,
        _ => State::Cancelled,
    }
}

fn random_step(
    rng: &mut fastrand::Rng,
    now: Timestamp,
    name: String,
    parents: Vec<usize>,
) -> StepCase {
    let state = random_state(rng);
    // A pending step has no transition half the time: a missing row means pending.
    let has_transition = state != State::Pending || rng.bool();

    let mut attempts = match rng.u8(0..20) {
        0..=3 => None,
        4..=15 => Some(rng.u32(0..=5)),
        16..=18 => Some(rng.u32(6..=40)),
        _ => Some(if rng.bool() { 1000 } else { i32::MAX as u32 }),
    };
    let retry_limit = match rng.u8(0..10) {
        0 | 1 => None,
        2..=8 => Some(rng.u32(0..=6)),
        _ => Some(rng.u32(7..=1000)),
    };
    // Rule 4's boundary: attempts exactly at the limit (NULL limit counting 3).
    if rng.u8(0..6) == 0 {
        attempts = Some(retry_limit.unwrap_or(3));
    }

    let backoff_request_seconds = match rng.u8(0..20) {
        0..=7 => None,
        8..=18 => Some(rng.i64(0..=120)),
        _ => Some(rng.i64(-30..0)),
    };
    let last_attempted_at = if rng.u8(0..5) < 2 {
        None
    } else {
        match backoff_request_seconds {
            Some(b) if rng.bool() => Some(Timestamp(now.0 - b * SECOND + nudge(rng))),
            _ => Some(Timestamp(now.0 + rng.i64(-300 * SECOND..=60 * SECOND))),
        }
    };

    let state_entered_at = if !has_transition {
        None
    } else if state == State::Error && rng.bool() {
        Some(Timestamp(now.0 - rule8_wait(attempts) + nudge(rng)))
    } else {
        Some(Timestamp(now.0 - rng.i64(0..=3600 * SECOND)))
    };

    let mut history = Vec::new();
    if let Some(entered) = state_entered_at {
        let mut t = entered.0;
        for _ in 0..rng.usize(0..=2) {
            t -= rng.i64(1..=600 * SECOND);
            history.push((random_state(rng), Timestamp(t)));
        }
        history.reverse();
    }

    let current_sorts_first = !history.is_empty() && rng.u8(0..5) == 0;
    StepCase {
        name,
        parents,
        history,
        current_sorts_first,
        snapshot: StepSnapshot {
            state,
            processed: rng.u8(0..100) < 15,
            in_process: rng.u8(0..100) < 15,
            retryable: rng.u8(0..100) < 85,
            attempts,
            retry_limit,
            backoff_request_seconds,
            last_attempted_at,
            state_entered_at,
        },
    }
}

/// The task template in Tasker's YAML, using `depends_on_step`, `depends_on_steps` and both.
fn template_yaml(rng: &mut fastrand::Rng, number: usize, steps: &[StepCase]) -> String {
    let mut y = format!(
        "name: crosscheck_{number}\nnamespace_name: crosscheck\nversion: 1.0.0\nstep_templates:\n"
    );
    for s in steps {
        let _ = writeln!(
            y,
            "  - name: {}\n    handler_class: Crosscheck::Step",
            s.name
        );
        let mut names: Vec<&str> = s.parents.iter().map(|&p| steps[p].name.as_str()).collect();
        rng.shuffle(&mut names);
        match names.len() {
            0 => {}
            1 if rng.bool() => {
                let _ = writeln!(y, "    depends_on_step: {}", names[0]);
            }
            n if n >= 2 && rng.u8(0..3) == 0 => {
                let _ = writeln!(y, "    depends_on_step: {}", names[0]);
                let _ = writeln!(y, "    depends_on_steps: [{}]", names[1..].join(", "));
            }
            _ => {
                let _ = writeln!(y, "    depends_on_steps: [{}]", names.join(", "));
            }
        }
    }
    y
}

pub fn generate(rng: &mut fastrand::Rng, number: usize) -> Case {
    let n = rng.usize(1..=MAX_STEPS);
    let now = Timestamp(BASE_SECS * SECOND + rng.i64(0..86_400 * SECOND));
    // A random topological order; each step's parents come from before it in that order, so
    // the template lists children before parents as often as after.
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let edge_chance = [0.0, 0.15, 0.35, 0.6][rng.usize(0..4)];
    let mut parents = vec![Vec::new(); n];
    for (rank, &child) in order.iter().enumerate() {
        for &parent in &order[..rank] {
            if parents[child].len() < 4 && rng.f64() < edge_chance {
                parents[child].push(parent);
            }
        }
        parents[child].sort_unstable();
    }
    let steps: Vec<StepCase> = parents
        .into_iter()
        .enumerate()
        .map(|(i, ps)| random_step(rng, now, format!("step_{i}"), ps))
        .collect();
    let yaml = template_yaml(rng, number, &steps);
    Case {
        number,
        now,
        yaml,
        steps,
    }
}

/// Edge cases the generator is meant to reach; each must be hit at least once per run, so
/// a change that made the generator miss one would not pass silently.
pub fn edge_cases(case: &Case, i: usize, r: &StepReadiness) -> Vec<&'static str> {
    let s = &case.steps[i].snapshot;
    let now = case.now.0;
    let mut hits = Vec::new();
    let mut hit = |cond: bool, label: &'static str| {
        if cond {
            hits.push(label)
        }
    };
    hit(r.ready, "ready");
    hit(!r.ready, "not ready");
    hit(r.ready && s.state == State::Error, "ready in error");
    hit(s.state_entered_at.is_none(), "no transition (pending)");
    hit(!case.steps[i].history.is_empty(), "older transitions");
    hit(
        case.steps[i].current_sorts_first,
        "most_recent row sorts first",
    );
    hit(!r.dependencies_satisfied, "rule 3 unmet");
    hit(
        !case.steps[i].parents.is_empty() && r.dependencies_satisfied,
        "rule 3 met by parents",
    );
    hit(
        case.steps[i]
            .parents
            .iter()
            .any(|&p| case.steps[p].snapshot.state_entered_at.is_none()),
        "rule 3 parent without transition",
    );
    hit(
        case.steps[i]
            .parents
            .iter()
            .any(|&p| case.steps[p].snapshot.state == State::ResolvedManually),
        "rule 3 parent resolved_manually",
    );
    hit(s.processed, "rule 2 processed");
    hit(s.attempts.is_none(), "rule 4 attempts NULL");
    hit(s.retry_limit.is_none(), "rule 4 retry_limit NULL");
    hit(
        s.attempts.unwrap_or(0) == s.retry_limit.unwrap_or(3),
        "rule 4 attempts == limit",
    );
    hit(!s.retryable, "rule 5 not retryable");
    hit(s.in_process, "rule 6 in process");
    if let (Some(b), Some(last)) = (s.backoff_request_seconds, s.last_attempted_at) {
        let at = last.0 + b * SECOND;
        hit(at == now, "rule 7 exactly now");
        hit(at == now + 1, "rule 7 1us after now");
        hit(at == now - 1, "rule 7 1us before now");
        hit(b < 0, "rule 7 negative backoff");
        hit(s.state == State::Error, "rules 7 and 8 both apply");
    }
    hit(
        s.backoff_request_seconds.is_some() != s.last_attempted_at.is_some(),
        "rule 7 half set",
    );
    if let (State::Error, Some(entered)) = (s.state, s.state_entered_at) {
        let at = entered.0 + rule8_wait(s.attempts);
        hit(at == now, "rule 8 exactly now");
        hit(at == now + 1, "rule 8 1us after now");
        hit(s.attempts.is_none(), "rule 8 attempts NULL");
        hit(s.attempts == Some(0), "rule 8 attempts 0");
        hit(s.attempts.is_some_and(|a| a >= 5), "rule 8 capped");
        hit(
            s.attempts.is_some_and(|a| a >= 1000),
            "rule 8 huge attempts",
        );
    }
    hits
}
