//! The six Tasker states and the transition tables (TASKER.md, "States").
//!
//! Tasks and steps share the states but not the tables. Every state change in the engine is
//! checked here first, so a refused transition is refused before anything is written.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A task's or step's state. A missing transition row means [`State::Pending`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    InProgress,
    Complete,
    Error,
    Cancelled,
    ResolvedManually,
}

impl State {
    /// Every state, in the order TASKER.md lists them.
    pub const ALL: [State; 6] = [
        State::Pending,
        State::InProgress,
        State::Complete,
        State::Error,
        State::Cancelled,
        State::ResolvedManually,
    ];

    /// This state's position in [`State::ALL`], for arrays indexed by state (counters):
    /// a match, not a search, because commits ask it once per change.
    pub const fn index(self) -> usize {
        match self {
            State::Pending => 0,
            State::InProgress => 1,
            State::Complete => 2,
            State::Error => 3,
            State::Cancelled => 4,
            State::ResolvedManually => 5,
        }
    }

    /// The name stored in `to_state` / `from_state` columns.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::InProgress => "in_progress",
            State::Complete => "complete",
            State::Error => "error",
            State::Cancelled => "cancelled",
            State::ResolvedManually => "resolved_manually",
        }
    }

    /// Parses a stored state name.
    pub fn parse(name: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// A parent in this state lets its children run (complete or resolved_manually).
    pub const fn satisfies_dependents(self) -> bool {
        matches!(self, State::Complete | State::ResolvedManually)
    }

    /// Whether a task may move from `self` to `to`.
    pub fn task_can_transition_to(self, to: State) -> bool {
        task_targets(self).contains(&to)
    }

    /// Whether a step may move from `self` to `to`.
    pub fn step_can_transition_to(self, to: State) -> bool {
        step_targets(self).contains(&to)
    }

    /// Whether a step in this state may record an amendment: a transition that keeps the
    /// state (`from == to`), appended when its results are replaced by hand, so even that
    /// edit leaves an audited row in the append-only history. Only states whose results
    /// mean something qualify (see [`STEP_AMENDABLE`]).
    pub fn step_can_amend(self) -> bool {
        STEP_AMENDABLE.contains(&self)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The states in which a step's results may be amended (see [`State::step_can_amend`]).
pub const STEP_AMENDABLE: [State; 3] = [State::Complete, State::Error, State::ResolvedManually];

/// The states a task may move to from `from`.
pub fn task_targets(from: State) -> &'static [State] {
    use State::*;
    match from {
        Pending => &[InProgress, Cancelled, Error],
        InProgress => &[Complete, Error, Cancelled, Pending],
        Error => &[Pending, ResolvedManually],
        Complete => &[Cancelled],
        ResolvedManually => &[Cancelled],
        Cancelled => &[],
    }
}

/// The states a step may move to from `from`.
pub fn step_targets(from: State) -> &'static [State] {
    use State::*;
    match from {
        Pending => &[InProgress, Error, Cancelled, ResolvedManually],
        InProgress => &[Complete, Error, Cancelled],
        Error => &[Pending, ResolvedManually],
        Complete | Cancelled | ResolvedManually => &[],
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn index_is_the_position_in_all() {
        for (i, state) in State::ALL.into_iter().enumerate() {
            assert_eq!(state.index(), i, "{state:?}");
        }
    }

    use super::State::*;
    use super::*;

    /// The tables written out as (from, to) pairs, straight from TASKER.md, so the test
    /// checks all 36 pairs per machine against an independent statement of the contract.
    const TASK_ALLOWED: &[(State, State)] = &[
        (Pending, InProgress),
        (Pending, Cancelled),
        (Pending, Error),
        (InProgress, Complete),
        (InProgress, Error),
        (InProgress, Cancelled),
        (InProgress, Pending),
        (Error, Pending),
        (Error, ResolvedManually),
        (Complete, Cancelled),
        (ResolvedManually, Cancelled),
    ];
    const STEP_ALLOWED: &[(State, State)] = &[
        (Pending, InProgress),
        (Pending, Error),
        (Pending, Cancelled),
        (Pending, ResolvedManually),
        (InProgress, Complete),
        (InProgress, Error),
        (InProgress, Cancelled),
        (Error, Pending),
        (Error, ResolvedManually),
    ];

    /// Asks `allows` about all 36 pairs and compares each answer with the `documented` list.
    fn assert_matches_table(
        machine: &str,
        allows: fn(State, State) -> bool,
        documented: &[(State, State)],
    ) {
        for from in State::ALL {
            for to in State::ALL {
                let expected = documented.contains(&(from, to));
                assert_eq!(allows(from, to), expected, "{machine} {from} -> {to}");
            }
        }
    }

    #[test]
    fn every_task_pair_is_allowed_or_refused_as_documented() {
        assert_matches_table("task", State::task_can_transition_to, TASK_ALLOWED);
    }

    #[test]
    fn every_step_pair_is_allowed_or_refused_as_documented() {
        assert_matches_table("step", State::step_can_transition_to, STEP_ALLOWED);
    }

    #[test]
    fn names_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert_eq!(State::parse("failed"), None);
    }

    #[test]
    fn only_complete_and_resolved_manually_satisfy_dependents() {
        let satisfying: Vec<State> = State::ALL
            .into_iter()
            .filter(|s| s.satisfies_dependents())
            .collect();
        assert_eq!(satisfying, vec![Complete, ResolvedManually]);
    }
}
