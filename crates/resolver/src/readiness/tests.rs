//! Unit tests of the readiness rules, one per rule, and of the execution context, through
//! the module's public functions only.

use super::*;
use crate::graph::TemplateGraph;
use tasker_model::{State, TaskTemplate};

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
