//! Steps handed out and not yet reported.
//!
//! The orchestrator records a step here before it sends it to a worker; the worker's report
//! removes it on the worker's own thread. So a second report of the same step, a report of a
//! step that was never handed out, or one after the step was handed back, is refused at once
//! with a clear error instead of being lost in the actor.
//!
//! Each entry carries the attempt it was handed out for, named by its [`AttemptId`]: the
//! engine numbers every hand-out, so the id never repeats within the engine's life, where
//! the attempt number does (a manual reset or retry puts a step's `attempts` back to 0, so
//! its next run is attempt 1 again: issue 17). A step's timeout takes its attempt out
//! ([`Inflight::expire`]) and remembers it, so the timed-out worker's report, when it comes
//! (late, or never), is told apart from a newer attempt's and ignored without an error
//! ([`Reported::Late`]). A report reaches only the engine that handed its step out, so ids
//! need not be unique across processes (a claim that moves is fenced in the store:
//! docs/processes.md).
//!
//! An attempt the engine stopped waiting for while it counted against concurrency caps is
//! also remembered as lingering ([`Inflight::expire`] or [`Inflight::release`] with
//! `linger`): its handler may still run, and its report, refused or ignored as before, tells
//! the orchestrator that the handler returned, so the caps can be freed
//! ([`Inflight::returned`]; `gate/linger.rs`).

use dashmap::DashMap;
use tasker_model::{StepId, TaskId};

/// Names one hand-out of a step: the engine numbers its hand-outs from 1 up, so an id never
/// repeats within an engine's life, where a step's attempt number does (a manual reset or
/// retry starts it again at 1). A worker's report carries it back, so the report of a run
/// the engine stopped waiting for is never taken for a newer run's (issue 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttemptId(pub u64);

/// Where a handed-out step belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InflightStep {
    pub task_id: TaskId,
    pub index: u32,
    /// The attempt handed out (1 for the first run; 1 again after a manual reset).
    pub attempt: u32,
    /// Which hand-out this is: what a report is matched by.
    pub id: AttemptId,
}

/// What a report of one attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    /// The attempt was in flight: it is the reporter's to report.
    Taken(InflightStep),
    /// The attempt timed out (or a newer attempt runs): the report is to be ignored.
    Late,
    /// Nothing of the step is in flight and no attempt of it timed out.
    Unknown,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Inflight {
    steps: DashMap<StepId, InflightStep>,
    /// Per step, its latest attempt that timed out and whose worker has not reported yet.
    expired: DashMap<StepId, AttemptId>,
    /// Per step, its attempts the engine stopped waiting for whose caps are still counted
    /// until their handlers return.
    lingering: DashMap<StepId, Vec<InflightStep>>,
}

impl Inflight {
    /// Records a step about to be handed out.
    pub fn insert(&self, step: StepId, at: InflightStep) {
        self.steps.insert(step, at);
    }

    /// Takes a step out; `None` when it is not handed out.
    pub fn take(&self, step: StepId) -> Option<InflightStep> {
        self.steps.remove(&step).map(|(_, v)| v)
    }

    /// Takes attempt `id` of a step out for its worker's report; a timed-out attempt's (or
    /// an older hand-out's: ids grow with every hand-out) report is [`Reported::Late`].
    pub fn take_attempt(&self, step: StepId, id: AttemptId) -> Reported {
        if let Some((_, v)) = self.steps.remove_if(&step, |_, v| v.id == id) {
            return Reported::Taken(v);
        }
        let newer_out = self.steps.get(&step).is_some_and(|v| v.id > id);
        let timed_out = !self.expired.is_empty()
            && (self
                .expired
                .remove_if(&step, |_, &latest| latest == id)
                .is_some()
                || self.expired.get(&step).is_some_and(|v| *v > id));
        if newer_out || timed_out {
            Reported::Late
        } else {
            Reported::Unknown
        }
    }

    /// Takes attempt `id` of a step out because it ran past its timeout, remembering
    /// it so its worker's report is ignored; `None` (nothing changed) when that attempt is
    /// not in flight (its worker reported first).
    ///
    /// With `linger` (the attempt counts against caps), the attempt is also remembered as
    /// lingering, so its worker's report frees its caps ([`Inflight::returned`]).
    pub fn expire(
        &self,
        step: StepId,
        id: AttemptId,
        linger: Option<InflightStep>,
    ) -> Option<InflightStep> {
        // Remembered first, so a report racing with this finds the attempt either still
        // in flight (the worker wins) or already remembered (late), never neither.
        if let Some(at) = linger {
            self.lingering.entry(step).or_default().push(at);
        }
        let before = self.expired.insert(step, id);
        match self.steps.remove_if(&step, |_, v| v.id == id) {
            Some((_, v)) => Some(v),
            None => {
                match before {
                    Some(b) => self.expired.insert(step, b),
                    None => self.expired.remove(&step).map(|(_, v)| v),
                };
                if let Some(at) = linger {
                    self.unlinger(step, at);
                }
                None
            }
        }
    }

    /// Takes a step out because the engine no longer waits for it (a manual operation moved
    /// it), as [`Inflight::take`]; with `linger` (it counts against caps: `Some` of where it
    /// is now) it is remembered as lingering first, so its worker's report, which is refused,
    /// still frees its caps ([`Inflight::returned`]).
    pub fn release(&self, step: StepId, linger: Option<InflightStep>) -> Option<InflightStep> {
        let Some(at) = linger else {
            return self.take(step);
        };
        // Remembered first, as in `expire`: a report racing with this either takes the step
        // (and is its report) or finds it lingering.
        self.lingering.entry(step).or_default().push(at);
        match self.steps.remove_if(&step, |_, v| *v == at) {
            Some((_, v)) => Some(v),
            None => {
                self.unlinger(step, at);
                None
            }
        }
    }

    /// A report of `step` (of attempt `id`, or `None` for a report that names none)
    /// that did not take it: the attempt the engine stopped waiting for and whose caps it
    /// still counts, now that its handler returned; `None` when there is none. Costs one
    /// emptiness check when nothing lingers.
    pub fn returned(&self, step: StepId, id: Option<AttemptId>) -> Option<InflightStep> {
        if self.lingering.is_empty() {
            return None;
        }
        let mut found = None;
        self.lingering.remove_if_mut(&step, |_, list| {
            let i = match id {
                Some(id) => list.iter().position(|at| at.id == id),
                // A plain report: the step's oldest lingering attempt.
                None => (!list.is_empty()).then_some(0),
            };
            if let Some(i) = i {
                found = Some(list.remove(i));
            }
            list.is_empty()
        });
        found
    }

    /// Forgets that attempt `at` of `step` lingers (its caps were freed otherwise).
    pub fn unlinger(&self, step: StepId, at: InflightStep) {
        self.lingering.remove_if_mut(&step, |_, list| {
            if let Some(i) = list.iter().position(|l| *l == at) {
                list.remove(i);
            }
            list.is_empty()
        });
    }

    /// Where a handed-out step belongs, leaving it handed out.
    pub fn get(&self, step: StepId) -> Option<InflightStep> {
        self.steps.get(&step).map(|v| *v)
    }

    /// Number of steps handed out.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Timed-out attempts whose workers have not reported (a handler that never returns
    /// keeps its entry; each is a few bytes).
    #[cfg(test)]
    pub fn expired_len(&self) -> usize {
        self.expired.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attempt `attempt`, handed out as the engine's `attempt`th hand-out.
    fn at(attempt: u32) -> InflightStep {
        run(attempt, attempt as u64)
    }

    /// Attempt `attempt`, handed out with id `n`.
    fn run(attempt: u32, n: u64) -> InflightStep {
        InflightStep {
            task_id: TaskId(1),
            index: 0,
            attempt,
            id: id(n),
        }
    }

    fn id(n: u64) -> AttemptId {
        AttemptId(n)
    }

    #[test]
    fn a_report_takes_its_own_attempt_once() {
        let f = Inflight::default();
        f.insert(StepId(7), at(1));
        assert_eq!(f.take_attempt(StepId(7), id(1)), Reported::Taken(at(1)));
        assert_eq!(f.take_attempt(StepId(7), id(1)), Reported::Unknown);
        assert_eq!(f.take_attempt(StepId(8), id(1)), Reported::Unknown);
    }

    #[test]
    fn a_timed_out_attempt_reports_late_and_never_takes_the_retry() {
        let f = Inflight::default();
        f.insert(StepId(7), at(1));
        assert_eq!(f.expire(StepId(7), id(1), None), Some(at(1)));
        // The retry is handed out before the hung attempt reports.
        f.insert(StepId(7), at(2));
        assert_eq!(f.take_attempt(StepId(7), id(1)), Reported::Late);
        assert_eq!(f.get(StepId(7)), Some(at(2)));
        assert_eq!(f.take_attempt(StepId(7), id(2)), Reported::Taken(at(2)));
        assert_eq!(f.expired_len(), 0);
    }

    #[test]
    fn a_late_report_after_the_task_moved_on_is_late_not_unknown() {
        let f = Inflight::default();
        f.insert(StepId(7), at(1));
        f.expire(StepId(7), id(1), None);
        f.insert(StepId(7), at(2));
        f.expire(StepId(7), id(2), None);
        // Attempt 2's worker, then attempt 1's, report long after: both ignored.
        assert_eq!(f.take_attempt(StepId(7), id(2)), Reported::Late);
        f.insert(StepId(7), at(3));
        f.expire(StepId(7), id(3), None);
        assert_eq!(f.take_attempt(StepId(7), id(1)), Reported::Late);
        assert_eq!(f.take_attempt(StepId(7), id(3)), Reported::Late);
        assert_eq!(f.expired_len(), 0);
    }

    #[test]
    fn a_late_report_never_takes_the_same_attempt_number_run_again_after_a_reset() {
        let f = Inflight::default();
        f.insert(StepId(7), run(1, 1));
        assert_eq!(f.expire(StepId(7), id(1), None), Some(run(1, 1)));
        // A manual reset put attempts back to 0: the step runs as attempt 1 again.
        f.insert(StepId(7), run(1, 2));
        assert_eq!(f.take_attempt(StepId(7), id(1)), Reported::Late);
        assert_eq!(f.get(StepId(7)), Some(run(1, 2)));
        assert_eq!(f.take_attempt(StepId(7), id(2)), Reported::Taken(run(1, 2)));
        assert_eq!(f.expired_len(), 0);
    }

    #[test]
    fn expiring_an_attempt_already_reported_changes_nothing() {
        let f = Inflight::default();
        f.insert(StepId(7), at(1));
        assert_eq!(f.take_attempt(StepId(7), id(1)), Reported::Taken(at(1)));
        assert_eq!(f.expire(StepId(7), id(1), None), None);
        assert_eq!(f.expired_len(), 0);
        f.insert(StepId(7), at(2));
        assert_eq!(f.expire(StepId(7), id(1), None), None);
        assert_eq!(f.get(StepId(7)), Some(at(2)));
    }

    #[test]
    fn a_capped_attempt_given_up_lingers_until_its_worker_reports() {
        let f = Inflight::default();
        // Timed out: the late report is ignored, and tells that the handler returned.
        f.insert(StepId(7), at(1));
        assert_eq!(f.expire(StepId(7), id(1), Some(at(1))), Some(at(1)));
        f.insert(StepId(7), at(2));
        assert_eq!(
            f.returned(StepId(7), Some(id(2))),
            None,
            "the retry does not linger"
        );
        assert_eq!(f.take_attempt(StepId(7), id(1)), Reported::Late);
        assert_eq!(f.returned(StepId(7), Some(id(1))), Some(at(1)));
        assert_eq!(f.returned(StepId(7), Some(id(1))), None, "once");
        // Released by a manual operation: the plain report is refused, and still tells.
        assert_eq!(f.release(StepId(7), Some(at(2))), Some(at(2)));
        assert_eq!(f.take(StepId(7)), None);
        assert_eq!(f.returned(StepId(7), None), Some(at(2)));
        assert!(f.lingering.is_empty());
    }

    #[test]
    fn giving_up_an_attempt_whose_worker_reported_first_leaves_nothing_lingering() {
        let f = Inflight::default();
        f.insert(StepId(7), at(1));
        assert_eq!(f.take_attempt(StepId(7), id(1)), Reported::Taken(at(1)));
        assert_eq!(f.expire(StepId(7), id(1), Some(at(1))), None);
        assert_eq!(f.release(StepId(7), Some(at(1))), None);
        assert!(f.lingering.is_empty());
        // An uncapped attempt never lingers.
        f.insert(StepId(8), at(1));
        assert_eq!(f.expire(StepId(8), id(1), None), Some(at(1)));
        assert_eq!(f.returned(StepId(8), Some(id(1))), None);
    }
}
