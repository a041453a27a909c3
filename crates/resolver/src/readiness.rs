//! Tasker's readiness rules (TASKER.md, "Readiness"), applied to a snapshot of one task.
//!
//! This is the full evaluation: every step of a task, from stored fields alone. The engine
//! uses it when it must decide from scratch (recovery, inspection, cross-checks with the SQL
//! function); in steady state it relies on [`crate::RuntimeDag`] instead.

use crate::graph::TemplateGraph;
use rayon::prelude::*;
use tasker_model::{State, Timestamp};

/// Retry limit assumed when a step has none stored (rule 4).
pub const DEFAULT_RETRY_LIMIT: u32 = 3;
/// Cap of the error-state backoff of rule 8, in seconds.
pub const ERROR_BACKOFF_CAP_SECONDS: i64 = 30;

/// The stored fields of one step that readiness reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepSnapshot {
    /// Current state (the most_recent transition's `to_state`; pending when none).
    pub state: State,
    pub processed: bool,
    /// Already handed to a worker.
    pub in_process: bool,
    pub retryable: bool,
    /// `None` is a NULL column.
    pub attempts: Option<u32>,
    /// `None` is a NULL column.
    pub retry_limit: Option<u32>,
    pub backoff_request_seconds: Option<i64>,
    pub last_attempted_at: Option<Timestamp>,
    /// `created_at` of the most_recent transition; `None` when the step has no transition.
    pub state_entered_at: Option<Timestamp>,
}

impl StepSnapshot {
    /// A step as it is created: pending, never attempted.
    pub fn fresh(retry_limit: u32, retryable: bool) -> StepSnapshot {
        StepSnapshot {
            state: State::Pending,
            processed: false,
            in_process: false,
            retryable,
            attempts: None,
            retry_limit: Some(retry_limit),
            backoff_request_seconds: None,
            last_attempted_at: None,
            state_entered_at: None,
        }
    }
}

/// What the rules say about one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepReadiness {
    pub ready: bool,
    /// Rule 3: no parents, or every parent complete or resolved_manually.
    pub dependencies_satisfied: bool,
    /// Rules 4 and 5: attempts below the limit and retryable.
    pub retry_eligible: bool,
    /// Rule 7's time when it applies, else rule 8's, else `None`.
    pub next_retry_at: Option<Timestamp>,
}

/// Rule 8's delay after an error: min(2^attempts, 30) seconds, attempts missing counts as 1.
#[inline]
fn error_backoff_micros(attempts: Option<u32>) -> i64 {
    let a = attempts.unwrap_or(1);
    let secs = if a >= 5 {
        ERROR_BACKOFF_CAP_SECONDS
    } else {
        (1i64 << a).min(ERROR_BACKOFF_CAP_SECONDS)
    };
    secs * 1_000_000
}

/// Applies rules 1-8 to one step whose parents' satisfaction is already known.
#[inline]
pub fn step_readiness(
    step: &StepSnapshot,
    dependencies_satisfied: bool,
    now: Timestamp,
) -> StepReadiness {
    let retry_eligible = step.attempts.unwrap_or(0)
        < step.retry_limit.unwrap_or(DEFAULT_RETRY_LIMIT)
        && step.retryable;

    let requested_at = match (step.backoff_request_seconds, step.last_attempted_at) {
        (Some(b), Some(last)) => Some(Timestamp(last.0 + b * 1_000_000)),
        _ => None,
    };
    let error_retry_at = match (step.state, step.state_entered_at) {
        (State::Error, Some(entered)) => {
            Some(Timestamp(entered.0 + error_backoff_micros(step.attempts)))
        }
        _ => None,
    };

    let ready = matches!(step.state, State::Pending | State::Error)
        && !step.processed
        && dependencies_satisfied
        && retry_eligible
        && !step.in_process
        && requested_at.is_none_or(|t| t <= now)
        && error_retry_at.is_none_or(|t| t <= now);

    StepReadiness {
        ready,
        dependencies_satisfied,
        retry_eligible,
        next_retry_at: requested_at.or(error_retry_at),
    }
}

/// Evaluates every step of one task into `out` (cleared first), reusing its allocation.
/// `steps[i]` is the step at template index `i`.
pub fn evaluate_into(
    graph: &TemplateGraph,
    steps: &[StepSnapshot],
    now: Timestamp,
    out: &mut Vec<StepReadiness>,
) {
    assert_eq!(graph.len(), steps.len(), "one snapshot per template step");
    out.clear();
    out.reserve(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let deps = graph
            .parents(i as u32)
            .iter()
            .all(|&p| steps[p as usize].state.satisfies_dependents());
        out.push(step_readiness(step, deps, now));
    }
}

/// Evaluates every step of one task.
pub fn evaluate(
    graph: &TemplateGraph,
    steps: &[StepSnapshot],
    now: Timestamp,
) -> Vec<StepReadiness> {
    let mut out = Vec::with_capacity(steps.len());
    evaluate_into(graph, steps, now, &mut out);
    out
}

/// Evaluates many tasks at once across rayon's pool; results keep the input order.
pub fn evaluate_many(
    tasks: &[(&TemplateGraph, &[StepSnapshot])],
    now: Timestamp,
) -> Vec<Vec<StepReadiness>> {
    tasks.par_iter().map(|(g, s)| evaluate(g, s, now)).collect()
}

/// `execution_status` of a task, first match wins (TASKER.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    HasReadySteps,
    Processing,
    BlockedByFailures,
    AllComplete,
    WaitingForDependencies,
}

impl ExecutionStatus {
    /// The stored/displayed name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::HasReadySteps => "has_ready_steps",
            ExecutionStatus::Processing => "processing",
            ExecutionStatus::BlockedByFailures => "blocked_by_failures",
            ExecutionStatus::AllComplete => "all_complete",
            ExecutionStatus::WaitingForDependencies => "waiting_for_dependencies",
        }
    }

    /// The matching `recommended_action`.
    pub const fn recommended_action(self) -> &'static str {
        match self {
            ExecutionStatus::HasReadySteps => "execute_ready_steps",
            ExecutionStatus::Processing => "wait_for_completion",
            ExecutionStatus::BlockedByFailures => "handle_failures",
            ExecutionStatus::AllComplete => "finalize_task",
            ExecutionStatus::WaitingForDependencies => "wait_for_dependencies",
        }
    }
}

/// A task's execution context (TASKER.md).
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionContext {
    pub total_steps: usize,
    pub pending_steps: usize,
    pub in_progress_steps: usize,
    /// complete or resolved_manually.
    pub completed_steps: usize,
    /// in error.
    pub failed_steps: usize,
    pub ready_steps: usize,
    /// In error with attempts >= retry_limit.
    pub permanently_blocked_steps: usize,
    pub execution_status: ExecutionStatus,
    /// Percentage of completed steps, rounded to two decimals.
    pub completion_percentage: f64,
    /// healthy, recovering (failed steps, none of them out of retries, or some step
    /// ready) or blocked (a step out of retries and none ready). Tasker's `unknown` cannot
    /// occur.
    pub health_status: &'static str,
}

impl ExecutionContext {
    /// Derives the context from a task's snapshots and their readiness.
    pub fn derive(steps: &[StepSnapshot], readiness: &[StepReadiness]) -> ExecutionContext {
        let mut c = ExecutionContext {
            total_steps: steps.len(),
            pending_steps: 0,
            in_progress_steps: 0,
            completed_steps: 0,
            failed_steps: 0,
            ready_steps: readiness.iter().filter(|r| r.ready).count(),
            permanently_blocked_steps: 0,
            execution_status: ExecutionStatus::WaitingForDependencies,
            completion_percentage: 0.0,
            health_status: "unknown",
        };
        for s in steps {
            match s.state {
                State::Pending => c.pending_steps += 1,
                State::InProgress => c.in_progress_steps += 1,
                State::Complete | State::ResolvedManually => c.completed_steps += 1,
                State::Error => {
                    c.failed_steps += 1;
                    if s.attempts.unwrap_or(0) >= s.retry_limit.unwrap_or(DEFAULT_RETRY_LIMIT) {
                        c.permanently_blocked_steps += 1;
                    }
                }
                State::Cancelled => {}
            }
        }
        c.execution_status = if c.ready_steps > 0 {
            ExecutionStatus::HasReadySteps
        } else if c.in_progress_steps > 0 {
            ExecutionStatus::Processing
        } else if c.permanently_blocked_steps > 0 {
            ExecutionStatus::BlockedByFailures
        } else if c.completed_steps == c.total_steps && c.total_steps > 0 {
            // A task without steps is not complete (Tasker's get_task_execution_context).
            ExecutionStatus::AllComplete
        } else {
            ExecutionStatus::WaitingForDependencies
        };
        c.completion_percentage = if c.total_steps == 0 {
            0.0
        } else {
            ((c.completed_steps as f64 / c.total_steps as f64) * 10_000.0).round() / 100.0
        };
        c.health_status = if c.failed_steps == 0 {
            "healthy"
        } else if c.ready_steps > 0 {
            "recovering"
        } else if c.permanently_blocked_steps > 0 {
            "blocked"
        } else {
            // Failures that may still be retried, none ready yet (waiting out a backoff):
            // recovering, as Tasker's get_task_execution_context says (issue 19).
            "recovering"
        };
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tasker_model::TaskTemplate;

    const NOW: Timestamp = Timestamp::from_secs(1_000_000);

    fn secs_ago(s: i64) -> Option<Timestamp> {
        Some(Timestamp(NOW.0 - s * 1_000_000))
    }

    fn pending() -> StepSnapshot {
        StepSnapshot::fresh(3, true)
    }

    fn ready(s: &StepSnapshot) -> bool {
        step_readiness(s, true, NOW).ready
    }

    #[test]
    fn a_fresh_step_with_satisfied_parents_is_ready() {
        assert!(ready(&pending()));
    }

    #[test]
    fn rule1_only_pending_or_error_states_are_ready() {
        for state in State::ALL {
            let s = StepSnapshot {
                state,
                state_entered_at: secs_ago(100),
                ..pending()
            };
            assert_eq!(
                ready(&s),
                matches!(state, State::Pending | State::Error),
                "{state}"
            );
        }
    }

    #[test]
    fn rule2_processed_steps_are_not_ready() {
        assert!(!ready(&StepSnapshot {
            processed: true,
            ..pending()
        }));
    }

    #[test]
    fn rule3_parents_must_be_complete_or_resolved_manually() {
        let t = TaskTemplate::from_yaml("name: d\nstep_templates:\n - {name: a, handler_class: H}\n - {name: b, handler_class: H}\n - {name: c, handler_class: H, depends_on_steps: [a, b]}\n", "t").unwrap();
        let g = TemplateGraph::compile(&t).unwrap();
        for pa in State::ALL {
            for pb in State::ALL {
                let steps = [
                    StepSnapshot {
                        state: pa,
                        processed: true,
                        ..pending()
                    },
                    StepSnapshot {
                        state: pb,
                        processed: true,
                        ..pending()
                    },
                    pending(),
                ];
                let r = evaluate(&g, &steps, NOW);
                let expect = pa.satisfies_dependents() && pb.satisfies_dependents();
                assert_eq!(r[2].ready, expect, "{pa} {pb}");
                assert_eq!(r[2].dependencies_satisfied, expect);
            }
        }
        assert!(!step_readiness(&pending(), false, NOW).ready);
    }

    #[test]
    fn rule4_attempts_below_retry_limit_with_null_defaults() {
        assert!(ready(&StepSnapshot {
            attempts: Some(2),
            retry_limit: Some(3),
            ..pending()
        }));
        assert!(!ready(&StepSnapshot {
            attempts: Some(3),
            retry_limit: Some(3),
            ..pending()
        }));
        assert!(
            !ready(&StepSnapshot {
                attempts: Some(3),
                retry_limit: None,
                ..pending()
            }),
            "missing limit counts as 3"
        );
        assert!(ready(&StepSnapshot {
            attempts: Some(2),
            retry_limit: None,
            ..pending()
        }));
        assert!(
            ready(&StepSnapshot {
                attempts: None,
                retry_limit: Some(1),
                ..pending()
            }),
            "missing attempts counts as 0"
        );
        assert!(!ready(&StepSnapshot {
            attempts: None,
            retry_limit: Some(0),
            ..pending()
        }));
    }

    #[test]
    fn rule5_retryable_must_be_true() {
        assert!(!ready(&StepSnapshot {
            retryable: false,
            ..pending()
        }));
        assert!(
            !step_readiness(
                &StepSnapshot {
                    retryable: false,
                    ..pending()
                },
                true,
                NOW
            )
            .retry_eligible
        );
    }

    #[test]
    fn rule6_steps_in_process_are_not_ready() {
        assert!(!ready(&StepSnapshot {
            in_process: true,
            ..pending()
        }));
    }

    #[test]
    fn rule7_requested_backoff_must_have_elapsed() {
        let s = StepSnapshot {
            backoff_request_seconds: Some(10),
            last_attempted_at: secs_ago(9),
            ..pending()
        };
        let r = step_readiness(&s, true, NOW);
        assert!(!r.ready);
        assert_eq!(r.next_retry_at, Some(Timestamp(NOW.0 + 1_000_000)));
        let s = StepSnapshot {
            last_attempted_at: secs_ago(10),
            ..s
        };
        assert!(ready(&s), "exactly at the boundary is ready (<=)");
        // Only one of the two fields set: the rule does not apply.
        assert!(ready(&StepSnapshot {
            backoff_request_seconds: Some(10),
            ..pending()
        }));
        assert!(ready(&StepSnapshot {
            last_attempted_at: secs_ago(0),
            ..pending()
        }));
    }

    #[test]
    fn rule8_error_state_waits_two_to_the_attempts_capped_at_thirty() {
        let err = |attempts: Option<u32>, ago: i64| StepSnapshot {
            state: State::Error,
            attempts,
            retry_limit: Some(10),
            state_entered_at: secs_ago(ago),
            ..pending()
        };
        assert!(!ready(&err(Some(2), 3)));
        assert!(ready(&err(Some(2), 4)));
        assert!(
            !ready(&err(None, 1)) || ready(&err(None, 2)),
            "missing attempts counts as 1: 2 s"
        );
        assert!(!ready(&err(None, 1)));
        assert!(ready(&err(None, 2)));
        assert!(!ready(&err(Some(9), 29)), "capped at 30 s, not 512");
        assert!(ready(&err(Some(9), 30)));
        assert_eq!(
            step_readiness(&err(Some(2), 3), true, NOW).next_retry_at,
            Some(Timestamp(NOW.0 + 1_000_000))
        );
        // Rule 8 never applies outside the error state.
        let p = StepSnapshot {
            state_entered_at: secs_ago(0),
            attempts: Some(2),
            ..pending()
        };
        assert!(ready(&p));
        assert_eq!(step_readiness(&p, true, NOW).next_retry_at, None);
    }

    #[test]
    fn next_retry_at_prefers_rule7_over_rule8() {
        let s = StepSnapshot {
            state: State::Error,
            attempts: Some(1),
            state_entered_at: secs_ago(0),
            backoff_request_seconds: Some(100),
            last_attempted_at: secs_ago(0),
            ..pending()
        };
        let r = step_readiness(&s, true, NOW);
        assert_eq!(r.next_retry_at, Some(Timestamp(NOW.0 + 100_000_000)));
        assert!(!r.ready);
    }

    #[test]
    fn both_backoffs_must_have_elapsed() {
        let s = StepSnapshot {
            state: State::Error,
            attempts: Some(1),
            state_entered_at: secs_ago(1),
            backoff_request_seconds: Some(0),
            last_attempted_at: secs_ago(1),
            ..pending()
        };
        assert!(!ready(&s), "rule 7 passed but rule 8 (2 s) has not");
    }

    #[test]
    fn execution_context_follows_first_match_order() {
        let done = StepSnapshot {
            state: State::Complete,
            processed: true,
            ..pending()
        };
        let exhausted = StepSnapshot {
            state: State::Error,
            attempts: Some(3),
            state_entered_at: secs_ago(100),
            ..pending()
        };
        let running = StepSnapshot {
            state: State::InProgress,
            in_process: true,
            ..pending()
        };
        let ctx = |steps: &[StepSnapshot]| {
            let r: Vec<_> = steps.iter().map(|s| step_readiness(s, true, NOW)).collect();
            ExecutionContext::derive(steps, &r)
        };
        let c = ctx(&[done, pending()]);
        assert_eq!(
            (c.execution_status, c.health_status),
            (ExecutionStatus::HasReadySteps, "healthy")
        );
        assert_eq!(c.completion_percentage, 50.0);
        let c = ctx(&[done, running]);
        assert_eq!(c.execution_status, ExecutionStatus::Processing);
        assert_eq!(
            c.execution_status.recommended_action(),
            "wait_for_completion"
        );
        let c = ctx(&[done, exhausted]);
        assert_eq!(
            (c.execution_status, c.health_status),
            (ExecutionStatus::BlockedByFailures, "blocked")
        );
        let c = ctx(&[done, done, done]);
        assert_eq!(
            (c.execution_status, c.completion_percentage),
            (ExecutionStatus::AllComplete, 100.0)
        );
        let c = ctx(&[exhausted, pending()]);
        assert_eq!(c.health_status, "recovering");
        let c = ctx(&[
            done,
            StepSnapshot {
                in_process: true,
                ..pending()
            },
        ]);
        assert_eq!(c.execution_status, ExecutionStatus::WaitingForDependencies);
        let c = ctx(&[done, done, pending()]);
        assert_eq!(c.completion_percentage, 66.67);
        // A failure waiting out its backoff, nothing else to do: recovering, as Tasker's
        // get_task_execution_context says (issue 19).
        let backing_off = StepSnapshot {
            state: State::Error,
            attempts: Some(1),
            state_entered_at: secs_ago(1),
            ..pending()
        };
        let c = ctx(&[done, backing_off]);
        assert_eq!(
            (c.execution_status, c.health_status),
            (ExecutionStatus::WaitingForDependencies, "recovering")
        );
        // No steps: not complete.
        let c = ctx(&[]);
        assert_eq!(c.execution_status, ExecutionStatus::WaitingForDependencies);
    }

    #[test]
    fn evaluate_many_matches_evaluate() {
        let t = TaskTemplate::from_yaml("name: d\nstep_templates:\n - {name: a, handler_class: H}\n - {name: b, handler_class: H, depends_on_step: a}\n", "t").unwrap();
        let g = TemplateGraph::compile(&t).unwrap();
        let s1 = [pending(), pending()];
        let s2 = [
            StepSnapshot {
                state: State::Complete,
                processed: true,
                ..pending()
            },
            pending(),
        ];
        let many = evaluate_many(&[(&g, &s1), (&g, &s2)], NOW);
        assert_eq!(many, vec![evaluate(&g, &s1, NOW), evaluate(&g, &s2, NOW)]);
        assert!(many[1][1].ready && !many[0][1].ready);
    }
}
