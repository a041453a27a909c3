//! A batch checked against the history heads and turned into set-based writes.
//!
//! Both SQL stores apply a batch the same way:
//! 1. find the heads ((state, sort_key of the most recent transition)) of every task and step
//!    the batch touches: from [`Heads`], the store's cache of committed heads, and for the
//!    rest from the database inside the batch's transaction;
//! 2. check the batch (`check.rs`) as `MemoryStore` does (same errors, same wording), producing a
//!    [`Plan`]: rows to insert and update, grouped by table so each group is one statement;
//! 3. write the plan, where the database verifies every head the checks relied on (see
//!    [`Plan::task_flips`], [`Plan::step_checks`]); a disagreement means the cache was stale
//!    (another writer), and the store retries once with every head read from the database;
//! 4. after the commit, [`Heads::commit`] records the new heads.

use crate::change::{Change, StepPatch};
use crate::records::{StepRecord, TaskRecord, TransitionMeta};
use std::collections::{HashMap, HashSet};
use tasker_model::{State, StepId, TaskId, TaskerError, TaskerResult, Timestamp};

/// A task's or step's current state and the sort_key of its most recent transition (0: none).
pub(crate) type Head = (State, i32);

/// Whether a task in `state` is finished for the engine (its claim is released).
pub(crate) fn finishes_task(state: State) -> bool {
    matches!(
        state,
        State::Complete | State::Error | State::Cancelled | State::ResolvedManually
    )
}

/// The committed heads of live tasks and steps, so a batch's checks need no reads.
///
/// Only `apply` writes it, after its transaction committed; reads never fill it (a read
/// racing a commit could put back an older head). A task's entries are dropped when it
/// finishes, a step's when it reaches a state it cannot leave; a later change to them reads
/// the head from the database again.
#[derive(Default)]
pub(crate) struct Heads {
    tasks: HashMap<TaskId, Head>,
    steps: HashMap<StepId, Head>,
    task_steps: HashMap<TaskId, Vec<StepId>>,
}

/// Heads read from the database for one batch.
#[derive(Default)]
pub(crate) struct Loaded {
    pub(crate) tasks: HashMap<TaskId, Head>,
    /// With the step's task, so the cache can drop the step when the task finishes.
    pub(crate) steps: HashMap<StepId, (TaskId, Head)>,
}

/// Ids a batch needs heads for.
#[derive(Default)]
pub(crate) struct Wanted {
    pub(crate) tasks: Vec<TaskId>,
    pub(crate) steps: Vec<StepId>,
}

impl Wanted {
    fn len(&self) -> usize {
        self.tasks.len() + self.steps.len()
    }
}

impl Heads {
    /// The tasks and steps `batch` changes that it does not create itself and whose heads
    /// are not cached (all of them when `all`).
    pub(crate) fn wanted(&self, batch: &[Change], all: bool) -> Wanted {
        let mut created = HashSet::new();
        let mut seen_tasks = HashSet::new();
        let mut seen_steps = HashSet::new();
        let mut wanted = Wanted::default();
        for change in batch {
            match change {
                Change::CreateTask(new) => {
                    created.insert(new.task.task_id);
                    // Steps of a task created earlier in the batch are found in the batch.
                    seen_steps.extend(new.steps.iter().map(|s| s.step_id));
                }
                Change::TaskTransition { task_id, .. } => {
                    if !created.contains(task_id)
                        && (all || !self.tasks.contains_key(task_id))
                        && seen_tasks.insert(*task_id)
                    {
                        wanted.tasks.push(*task_id);
                    }
                }
                Change::StepTransition { step_id, .. } | Change::PatchStep { step_id, .. } => {
                    if (all || !self.steps.contains_key(step_id)) && seen_steps.insert(*step_id) {
                        wanted.steps.push(*step_id);
                    }
                }
            }
        }
        wanted
    }

    /// Whether checking `batch` relies on any cached head (so a refusal may be stale).
    pub(crate) fn relied_on(&self, batch: &[Change]) -> bool {
        self.wanted(batch, true).len() > self.wanted(batch, false).len()
    }

    /// Drops what the cache knows about the tasks and steps of `batch`.
    pub(crate) fn forget(&mut self, batch: &[Change]) {
        for change in batch {
            match change {
                Change::CreateTask(new) => {
                    self.drop_task(new.task.task_id);
                }
                Change::TaskTransition { task_id, .. } => self.drop_task(*task_id),
                Change::StepTransition { step_id, .. } | Change::PatchStep { step_id, .. } => {
                    self.steps.remove(step_id);
                }
            }
        }
    }

    /// The cached steps of `task`.
    pub(crate) fn steps_of(&self, task: TaskId) -> &[StepId] {
        self.task_steps.get(&task).map_or(&[], Vec::as_slice)
    }

    /// Forgets everything cached of `tasks` (another process took them over).
    pub(crate) fn forget_tasks(&mut self, tasks: &HashSet<TaskId>) {
        for t in tasks {
            self.drop_task(*t);
        }
    }

    fn drop_task(&mut self, task: TaskId) {
        self.tasks.remove(&task);
        for s in self.task_steps.remove(&task).unwrap_or_default() {
            self.steps.remove(&s);
        }
    }

    /// Records the heads a committed `plan` left.
    pub(crate) fn commit(&mut self, plan: &Plan) {
        for (task, head) in &plan.task_heads {
            self.tasks.insert(*task, *head);
        }
        for (step, task, head) in &plan.step_heads {
            if matches!(
                head.0,
                State::Complete | State::Cancelled | State::ResolvedManually
            ) {
                self.steps.remove(step);
            } else if self.steps.insert(*step, *head).is_none() {
                self.task_steps.entry(*task).or_default().push(*step);
            }
        }
        for task in &plan.finished {
            self.drop_task(*task);
        }
    }

    /// The cached head of a task.
    pub(crate) fn task(&self, id: &TaskId) -> Option<Head> {
        self.tasks.get(id).copied()
    }

    /// The cached head of a step.
    pub(crate) fn step(&self, id: &StepId) -> Option<Head> {
        self.steps.get(id).copied()
    }

    /// How many heads are cached (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.tasks.len() + self.steps.len()
    }
}

/// A `tasker_tasks` row to insert.
pub(crate) struct NewTaskRow {
    pub(crate) record: TaskRecord,
    pub(crate) named_task_id: i64,
    pub(crate) identity_hash: String,
}

/// A `tasker_workflow_steps` row to insert (the batch's patches of it already applied).
pub(crate) struct NewStepRow {
    pub(crate) record: StepRecord,
    pub(crate) named_step_id: i64,
}

/// A transition row to insert; `owner` is the task or step id.
pub(crate) struct TransitionRow {
    pub(crate) owner: i64,
    pub(crate) from: Option<State>,
    pub(crate) to: State,
    /// `TransitionMeta::to_json()` as text.
    pub(crate) metadata: String,
    pub(crate) sort_key: i32,
    pub(crate) most_recent: bool,
    pub(crate) at: Timestamp,
}

/// `INSERT INTO $table (…) ` with the columns a [`TransitionRow`] fills, in the order both
/// databases' batch writes give them, for history table `$table` owned by `$owner`
/// (`task_id` or `workflow_step_id`); each database appends where the rows come from.
macro_rules! insert_transitions_into {
    ($table:literal, $owner:literal) => {
        concat!(
            "INSERT INTO ",
            $table,
            " (to_state, from_state, metadata, sort_key, most_recent, ",
            $owner,
            ", created_at, updated_at) "
        )
    };
}
pub(crate) use insert_transitions_into;

impl TransitionRow {
    /// The transition of `owner` from `from` to `to` after its head at `key` (not yet
    /// `most_recent`: only an owner's last transition in a batch is).
    pub(crate) fn after(
        owner: i64,
        key: i32,
        from: Option<State>,
        to: State,
        meta: &TransitionMeta,
        at: Timestamp,
    ) -> TransitionRow {
        TransitionRow {
            owner,
            from,
            to,
            metadata: meta.to_json().to_string(),
            sort_key: key + 1,
            most_recent: false,
            at,
        }
    }
}

/// An owner's history head as the checks saw it at the start of the batch.
pub(crate) struct HeadCheck {
    pub(crate) owner: i64,
    pub(crate) sort_key: i32,
    pub(crate) at: Timestamp,
}

/// An existing task's columns to update.
pub(crate) struct TaskUpdate {
    pub(crate) task_id: TaskId,
    pub(crate) complete: Option<bool>,
    pub(crate) at: Timestamp,
}

/// An existing step's columns to update: the batch's patches of it, later ones winning.
pub(crate) struct StepUpdate {
    pub(crate) step_id: StepId,
    pub(crate) patch: StepPatch,
    pub(crate) at: Timestamp,
}

/// What a checked batch writes, grouped by table.
#[derive(Default)]
pub(crate) struct Plan {
    pub(crate) new_tasks: Vec<NewTaskRow>,
    pub(crate) new_steps: Vec<NewStepRow>,
    /// (parent, child, created_at).
    pub(crate) edges: Vec<(StepId, StepId, Timestamp)>,
    /// Existing tasks whose most_recent transition this batch supersedes: set
    /// `most_recent = false` where `sort_key` is still the one checked. The statement must
    /// change exactly this many rows, or someone else moved the task.
    pub(crate) task_flips: Vec<HeadCheck>,
    pub(crate) task_transitions: Vec<TransitionRow>,
    pub(crate) task_updates: Vec<TaskUpdate>,
    /// As `task_flips`, for steps.
    pub(crate) step_flips: Vec<HeadCheck>,
    pub(crate) step_transitions: Vec<TransitionRow>,
    pub(crate) step_updates: Vec<StepUpdate>,
    /// Steps whose `expect_sort_key` was checked against a head no flip verifies (a
    /// `PatchStep` on a step the batch has not moved yet): the database must still show that
    /// sort_key (0: no transition) before the batch's own writes, which may move the step
    /// later in the batch.
    pub(crate) step_checks: Vec<HeadCheck>,
    /// Tasks the batch creates.
    pub(crate) created: Vec<TaskId>,
    /// Tasks whose last transition in the batch finishes them.
    pub(crate) finished: Vec<TaskId>,
    pub(crate) task_heads: Vec<(TaskId, Head)>,
    pub(crate) step_heads: Vec<(StepId, TaskId, Head)>,
}

impl Plan {
    /// Every task the plan writes (with repeats): by a transition, an update, or one of
    /// its steps.
    pub(crate) fn touched_tasks(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.task_heads
            .iter()
            .map(|(t, _)| *t)
            .chain(self.step_heads.iter().map(|(_, t, _)| *t))
            .chain(self.task_updates.iter().map(|u| u.task_id))
    }
}

/// Why an attempt at a batch wrote nothing.
pub(crate) enum Failure {
    /// The batch is wrong (a check failed, or the database refused it): report this.
    Refused(TaskerError),
    /// The database disagrees with a head the checks took from the cache: try again with
    /// every head read from the database.
    Stale,
    /// The database could not be reached (a restart, a failover, a dropped connection):
    /// nothing was written; the same attempt is worth making again shortly.
    Unreachable(TaskerError),
}

impl From<TaskerError> for Failure {
    fn from(e: TaskerError) -> Failure {
        Failure::Refused(e)
    }
}

/// Applies a batch with `attempt(all_from_database)`: first trusting the cache, and once
/// more, with the batch's ids dropped from the cache, if the database disagreed with it.
/// A second disagreement means another writer is moving the same rows right now.
pub(crate) async fn apply_with_retry<T, F, Fut>(
    batch: &[Change],
    heads: &parking_lot::Mutex<Heads>,
    mut attempt: F,
) -> TaskerResult<T>
where
    F: FnMut(bool) -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    match attempt(false).await {
        Ok(done) => return Ok(done),
        Err(Failure::Refused(e) | Failure::Unreachable(e)) => return Err(e),
        Err(Failure::Stale) => heads.lock().forget(batch),
    }
    match attempt(true).await {
        Ok(done) => Ok(done),
        Err(Failure::Refused(e) | Failure::Unreachable(e)) => Err(e),
        Err(Failure::Stale) => Err(TaskerError::ConcurrentModification {
            subject: format!("a batch of {} changes", batch.len()),
            message: "touches tasks or steps that another writer changed while it was being written; nothing was written: read them again and retry".to_string(),
        }),
    }
}

/// The failure for a check that refused `batch`: stale when the refusal relied on cached
/// heads (they are verified by a second attempt), else the refusal itself.
pub(crate) fn refusal(e: TaskerError, batch: &[Change], heads: &Heads, all: bool) -> Failure {
    if !all && heads.relied_on(batch) {
        Failure::Stale
    } else {
        Failure::Refused(e)
    }
}
