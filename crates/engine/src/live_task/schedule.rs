//! A task submitted to start later (`submit_task(run_at:)` / `delay:`): its steps are held
//! until `run_at`, in this engine and in the store.
//!
//! In the store, each root step is written with Tasker's own retry-backoff columns so that
//! `last_attempted_at + backoff_request_seconds` is `run_at`: Tasker's readiness rule 7
//! (TASKER.md) then agrees that the step is not ready before `run_at`, and a restarted
//! engine reads `run_at` back from the same columns ([`stored_run_at`]). In the engine, a
//! root step that would be handed out before `run_at` waits on the orchestrator's timer
//! like a retry (`Effects::delayed`, counted in `retries_pending` so the task cannot be
//! taken as finished), and is handed out when the timer fires ([`LiveTask::run_at_due`]).
//!
//! Plain rules over [`LiveTask`]: they must not read the store nor touch actors.

use super::{Effects, LiveTask};
use std::time::Duration;
use tasker_model::{State, Timestamp};
use tasker_state::{StepRecord, TaskView};

/// Writes `record`'s backoff columns so that Tasker's readiness holds the step until `at`
/// (`now` < `at`): the backoff is whole seconds, as Tasker stores it, and
/// `last_attempted_at` is set back so that their sum is `at` to the microsecond. It is
/// then at or before `now`; `attempts` stays 0, so no attempt is counted.
pub(crate) fn hold_until(record: &mut StepRecord, at: Timestamp, now: Timestamp) {
    let backoff = at.seconds_since(now).ceil().max(1.0) as i64;
    record.backoff_request_seconds = Some(backoff);
    record.last_attempted_at = Some(at.plus_seconds(-(backoff as f64)));
}

/// The time a stored task's steps are held until, when it is still ahead of `now`: the
/// latest `last_attempted_at + backoff_request_seconds` of its pending steps that never
/// ran (a task submitted with `run_at` and not started yet).
pub(crate) fn stored_run_at(view: &TaskView, now: Timestamp) -> Option<Timestamp> {
    view.steps
        .iter()
        .filter(|s| s.state == State::Pending && s.step.attempts.unwrap_or(0) == 0)
        .filter_map(|s| {
            let (last, backoff) = (s.step.last_attempted_at?, s.step.backoff_request_seconds?);
            Some(last.plus_seconds(backoff as f64))
        })
        .filter(|due| *due > now)
        .max()
}

impl LiveTask {
    /// Hands step `i` out now, or holds it until the task's `run_at` when that is ahead.
    pub(crate) fn dispatch_or_hold(&mut self, i: u32, now: Timestamp, fx: &mut Effects) {
        match self.run_at {
            Some(at) if at > now => {
                let step = &mut self.steps[i as usize];
                if step.retry_scheduled {
                    return;
                }
                step.retry_scheduled = true;
                self.retries_pending += 1;
                // Rounded up: a timer firing a microsecond early would hold it again.
                let micros = (at.as_micros() - now.as_micros()) as u64;
                fx.delayed.push((i, Duration::from_micros(micros + 1)));
            }
            _ => {
                self.run_at = None;
                fx.dispatch.push(i);
            }
        }
    }

    /// Step `i`'s hold (see [`LiveTask::dispatch_or_hold`]) is over: hand it out, unless the
    /// engine is stopping (`dispatch` false: it stays pending in the store, held by its
    /// backoff columns, for the next engine) or the step moved meanwhile.
    pub(crate) fn run_at_due(&mut self, i: u32, dispatch: bool, fx: &mut Effects) {
        let step = &mut self.steps[i as usize];
        if self.state != State::InProgress || !step.retry_scheduled || step.in_process {
            return;
        }
        step.retry_scheduled = false;
        self.retries_pending -= 1;
        if dispatch {
            fx.dispatch.push(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::TaskOrigin;
    use super::*;
    use tasker_state::Change;

    const CHAIN: &str = "name: c\nstep_templates:\n - {name: a, handler_class: H}\n - {name: b, handler_class: H, depends_on_step: a}\n";

    fn task(run_at: Option<Timestamp>, now: Timestamp) -> (LiveTask, Effects) {
        let origin = TaskOrigin {
            run_at,
            ..TaskOrigin::default()
        };
        super::super::tests::create(CHAIN, origin, now, Effects::default())
    }

    fn created_steps(fx: &Effects) -> Vec<StepRecord> {
        match &fx.changes[0] {
            Change::CreateTask(t) => t.steps.clone(),
            other => panic!("expected the task's creation, got {other:?}"),
        }
    }

    #[test]
    fn the_root_step_is_stored_with_backoff_ending_at_run_at() {
        let now = Timestamp::now();
        let run_at = now.plus_seconds(2.25);
        let (_, fx) = task(Some(run_at), now);
        let steps = created_steps(&fx);
        let root = &steps[0];
        assert_eq!(root.backoff_request_seconds, Some(3));
        let due = root.last_attempted_at.unwrap().plus_seconds(3.0);
        assert_eq!(due, run_at);
        assert!(root.last_attempted_at.unwrap() <= now);
        assert_eq!(root.attempts, Some(0));
        // The child waits for its parent anyway: untouched.
        assert_eq!(steps[1].backoff_request_seconds, None);
        assert_eq!(steps[1].last_attempted_at, None);
    }

    #[test]
    fn a_run_at_in_the_past_changes_nothing() {
        let now = Timestamp::now();
        let (mut t, mut fx) = task(Some(now.plus_seconds(-5.0)), now);
        assert_eq!(created_steps(&fx)[0].backoff_request_seconds, None);
        t.start(now, &mut fx).unwrap();
        assert_eq!(fx.dispatch, vec![0]);
        assert!(fx.delayed.is_empty());
    }

    #[test]
    fn start_holds_the_roots_until_run_at_then_hands_them_out() {
        let now = Timestamp::now();
        let run_at = now.plus_seconds(1.5);
        let (mut t, mut fx) = task(Some(run_at), now);
        t.start(now, &mut fx).unwrap();
        assert!(fx.dispatch.is_empty());
        assert_eq!(fx.delayed.len(), 1);
        let (i, wait) = fx.delayed[0];
        assert_eq!(i, 0);
        assert!(wait >= Duration::from_micros(1_500_000), "{wait:?}");
        // Not finished while it waits.
        t.check_finished(now, &mut fx);
        assert_eq!(fx.finished, None);
        t.retry_due(0, run_at, true, &mut fx);
        assert_eq!(fx.dispatch, vec![0]);
        assert_eq!(t.retries_pending, 0);
        // A second notice is stale.
        t.retry_due(0, run_at, true, &mut fx);
        assert_eq!(fx.dispatch, vec![0]);
    }

    #[test]
    fn a_hold_ending_while_stopping_leaves_the_step_pending() {
        let now = Timestamp::now();
        let (mut t, mut fx) = task(Some(now.plus_seconds(1.0)), now);
        t.start(now, &mut fx).unwrap();
        t.retry_due(0, now.plus_seconds(1.0), false, &mut fx);
        assert!(fx.dispatch.is_empty());
        assert_eq!(t.steps[0].state, State::Pending);
        assert!(!t.steps[0].retry_scheduled);
    }
}
