//! A batch checked against the history heads and turned into set-based writes.
//!
//! Both SQL stores apply a batch the same way:
//! 1. find the heads ((state, sort_key of the most recent transition)) of every task and step
//!    the batch touches: from [`Heads`], the store's cache of committed heads, and for the
//!    rest from the database inside the batch's transaction;
//! 2. [`check`] the batch as `MemoryStore` does (same errors, same wording), producing a
//!    [`Plan`]: rows to insert and update, grouped by table so each group is one statement;
//! 3. write the plan, where the database verifies every head the checks relied on (see
//!    [`Plan::task_flips`], [`Plan::step_checks`]); a disagreement means the cache was stale
//!    (another writer), and the store retries once with every head read from the database;
//! 4. after the commit, [`Heads::commit`] records the new heads.

use crate::change::{Change, StepPatch};
use crate::checks::{check_sort_key, check_step_change, check_task_change};
use crate::records::{StepRecord, TaskRecord};
use crate::sql::codec::identity_hash;
use crate::sql::templates::TemplateCache;
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

/// Why an attempt at a batch wrote nothing.
pub(crate) enum Failure {
    /// The batch is wrong (a check failed, or the database refused it): report this.
    Refused(TaskerError),
    /// The database disagrees with a head the checks took from the cache: try again with
    /// every head read from the database.
    Stale,
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
        Err(Failure::Refused(e)) => return Err(e),
        Err(Failure::Stale) => heads.lock().forget(batch),
    }
    match attempt(true).await {
        Ok(done) => Ok(done),
        Err(Failure::Refused(e)) => Err(e),
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

/// Later fields win.
fn merge(into: &mut StepPatch, patch: &StepPatch) {
    if patch.in_process.is_some() {
        into.in_process = patch.in_process;
    }
    if patch.processed.is_some() {
        into.processed = patch.processed;
    }
    if patch.retryable.is_some() {
        into.retryable = patch.retryable;
    }
    if patch.processed_at.is_some() {
        into.processed_at = patch.processed_at;
    }
    if patch.attempts.is_some() {
        into.attempts = patch.attempts;
    }
    if patch.retry_limit.is_some() {
        into.retry_limit = patch.retry_limit;
    }
    if patch.last_attempted_at.is_some() {
        into.last_attempted_at = patch.last_attempted_at;
    }
    if patch.backoff_request_seconds.is_some() {
        into.backoff_request_seconds = patch.backoff_request_seconds;
    }
    if patch.results.is_some() {
        into.results = patch.results.clone();
    }
}

/// Where a step's write goes.
enum StepSlot {
    /// Inserted by this batch: index into `new_steps`.
    New(usize),
    /// Existing: index into `step_updates`, once it has one.
    Existing(Option<usize>),
}

/// Checks `batch` change by change against `heads` (the cache) and `loaded` (read from the
/// database for this batch), exactly as `MemoryStore::apply` does, and plans its writes.
/// `store` names the store in errors.
pub(crate) fn check(
    batch: &[Change],
    heads: &Heads,
    loaded: &Loaded,
    templates: &TemplateCache,
    store: &str,
) -> TaskerResult<Plan> {
    let mut plan = Plan::default();
    // Heads as earlier changes of this batch leave them; an id is here once the batch
    // created or moved it (MemoryStore's `task_states` / `step_states`).
    let mut task_state: HashMap<TaskId, Head> = HashMap::new();
    let mut step_state: HashMap<StepId, Head> = HashMap::new();
    let mut step_task: HashMap<StepId, TaskId> = HashMap::new();
    let mut new_task_at: HashMap<TaskId, usize> = HashMap::new();
    let mut task_update_at: HashMap<TaskId, usize> = HashMap::new();
    let mut step_slot: HashMap<StepId, StepSlot> = HashMap::new();
    let mut last_task_transition: HashMap<TaskId, usize> = HashMap::new();
    let mut last_step_transition: HashMap<StepId, usize> = HashMap::new();
    let mut checked_steps: HashSet<StepId> = HashSet::new();

    let committed_task = |id: &TaskId| -> Option<Head> {
        heads
            .tasks
            .get(id)
            .copied()
            .or_else(|| loaded.tasks.get(id).copied())
    };
    let committed_step = |id: &StepId| -> Option<(Option<TaskId>, Head)> {
        match heads.steps.get(id) {
            Some(h) => Some((None, *h)),
            None => loaded.steps.get(id).map(|(t, h)| (Some(*t), *h)),
        }
    };

    for change in batch {
        match change {
            Change::CreateTask(new) => {
                let id = new.task.task_id;
                if committed_task(&id).is_some() || task_state.contains_key(&id) {
                    return Err(TaskerError::Database(format!("task {id} already exists")));
                }
                let key = &new.task.template;
                let rows = templates.get(key).ok_or_else(|| {
                    TaskerError::Database(format!(
                        "task {id}: template {key} is not registered with the store {store}; register the template before creating tasks of it"
                    ))
                })?;
                task_state.insert(id, (State::Pending, 0));
                new_task_at.insert(id, plan.new_tasks.len());
                plan.created.push(id);
                plan.new_tasks.push(NewTaskRow {
                    record: new.task.clone(),
                    named_task_id: rows.named_task_id,
                    identity_hash: identity_hash(id),
                });
                for s in &new.steps {
                    let (named_step_id, _) = *rows.steps.get(&*s.name).ok_or_else(|| {
                        TaskerError::Database(format!(
                            "task {id}: step {} is not a step of template {key} as registered with the store {store}",
                            s.name
                        ))
                    })?;
                    step_state.insert(s.step_id, (State::Pending, 0));
                    step_task.insert(s.step_id, id);
                    step_slot.insert(s.step_id, StepSlot::New(plan.new_steps.len()));
                    plan.new_steps.push(NewStepRow {
                        record: s.clone(),
                        named_step_id,
                    });
                }
                plan.edges
                    .extend(new.edges.iter().map(|(p, c)| (*p, *c, new.task.created_at)));
            }
            Change::TaskTransition {
                task_id,
                from,
                to,
                meta,
                at,
                complete,
                expect_sort_key,
            } => {
                let in_batch = task_state.get(task_id).copied();
                let (cur, key) = match in_batch.or_else(|| committed_task(task_id)) {
                    Some(h) => h,
                    None => {
                        return Err(TaskerError::Database(format!(
                            "task {task_id} does not exist"
                        )))
                    }
                };
                check_task_change(*task_id, (cur, key), *from, *to, *expect_sort_key)?;
                if in_batch.is_none() && key > 0 {
                    plan.task_flips.push(HeadCheck {
                        owner: task_id.0,
                        sort_key: key,
                        at: *at,
                    });
                }
                last_task_transition.insert(*task_id, plan.task_transitions.len());
                plan.task_transitions.push(TransitionRow {
                    owner: task_id.0,
                    from: *from,
                    to: *to,
                    metadata: meta.to_json().to_string(),
                    sort_key: key + 1,
                    most_recent: false,
                    at: *at,
                });
                task_state.insert(*task_id, (*to, key + 1));
                if let Some(&i) = new_task_at.get(task_id) {
                    let record = &mut plan.new_tasks[i].record;
                    if let Some(c) = complete {
                        record.complete = *c;
                    }
                    record.updated_at = *at;
                } else if let Some(&i) = task_update_at.get(task_id) {
                    let u = &mut plan.task_updates[i];
                    u.complete = complete.or(u.complete);
                    u.at = *at;
                } else {
                    task_update_at.insert(*task_id, plan.task_updates.len());
                    plan.task_updates.push(TaskUpdate {
                        task_id: *task_id,
                        complete: *complete,
                        at: *at,
                    });
                }
            }
            Change::StepTransition {
                task_id,
                step_id,
                from,
                to,
                meta,
                at,
                patch,
                expect_sort_key,
            } => {
                let in_batch = step_state.get(step_id).copied();
                let (cur, key) = match in_batch {
                    Some(h) => h,
                    None => match committed_step(step_id) {
                        Some((_, h)) => h,
                        None => {
                            return Err(TaskerError::Database(format!(
                                "step {step_id} does not exist"
                            )))
                        }
                    },
                };
                check_step_change(*task_id, *step_id, (cur, key), *from, *to, *expect_sort_key)?;
                if in_batch.is_none() && key > 0 {
                    plan.step_flips.push(HeadCheck {
                        owner: step_id.0,
                        sort_key: key,
                        at: *at,
                    });
                }
                last_step_transition.insert(*step_id, plan.step_transitions.len());
                plan.step_transitions.push(TransitionRow {
                    owner: step_id.0,
                    from: *from,
                    to: *to,
                    metadata: meta.to_json().to_string(),
                    sort_key: key + 1,
                    most_recent: false,
                    at: *at,
                });
                step_state.insert(*step_id, (*to, key + 1));
                step_task.entry(*step_id).or_insert(*task_id);
                patch_step(&mut plan, &mut step_slot, *step_id, patch, *at);
            }
            Change::PatchStep {
                step_id,
                at,
                patch,
                expect_sort_key,
            } => {
                let (key, in_batch) = match step_state.get(step_id) {
                    Some((_, k)) => (*k, true),
                    None => match committed_step(step_id) {
                        Some((task, (_, k))) => {
                            if let Some(t) = task {
                                step_task.entry(*step_id).or_insert(t);
                            }
                            (k, false)
                        }
                        None => {
                            return Err(TaskerError::Database(format!(
                                "step {step_id} does not exist"
                            )))
                        }
                    },
                };
                check_sort_key(|| format!("step {step_id}"), key, *expect_sort_key)?;
                if expect_sort_key.is_some() && !in_batch && checked_steps.insert(*step_id) {
                    plan.step_checks.push(HeadCheck {
                        owner: step_id.0,
                        sort_key: key,
                        at: *at,
                    });
                }
                patch_step(&mut plan, &mut step_slot, *step_id, patch, *at);
            }
        }
    }

    for (task, i) in &last_task_transition {
        plan.task_transitions[*i].most_recent = true;
        let head = task_state[task];
        if finishes_task(head.0) {
            plan.finished.push(*task);
        }
    }
    for i in last_step_transition.values() {
        plan.step_transitions[*i].most_recent = true;
    }
    plan.task_heads = task_state.into_iter().collect();
    plan.step_heads = step_state
        .into_iter()
        .filter_map(|(step, head)| {
            let task = step_task
                .get(&step)
                .copied()
                .or_else(|| loaded.steps.get(&step).map(|(t, _)| *t))?;
            Some((step, task, head))
        })
        .collect();
    Ok(plan)
}

fn patch_step(
    plan: &mut Plan,
    slots: &mut HashMap<StepId, StepSlot>,
    step_id: StepId,
    patch: &StepPatch,
    at: Timestamp,
) {
    let slot = slots.entry(step_id).or_insert(StepSlot::Existing(None));
    match slot {
        StepSlot::New(i) => crate::checks::patch_step(&mut plan.new_steps[*i].record, patch, at),
        StepSlot::Existing(Some(i)) => {
            let u = &mut plan.step_updates[*i];
            merge(&mut u.patch, patch);
            u.at = at;
        }
        StepSlot::Existing(None) => {
            *slot = StepSlot::Existing(Some(plan.step_updates.len()));
            let mut folded = StepPatch::default();
            merge(&mut folded, patch);
            plan.step_updates.push(StepUpdate {
                step_id,
                patch: folded,
                at,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::NewTask;
    use crate::records::TransitionMeta;
    use crate::sql::templates::TemplateRows;
    use serde_json::json;
    use std::sync::Arc;
    use tasker_model::TemplateKey;

    fn key() -> TemplateKey {
        TemplateKey {
            namespace: "n".into(),
            name: "t".into(),
            version: "1".into(),
        }
    }

    fn templates() -> TemplateCache {
        let cache = TemplateCache::default();
        cache.insert(TemplateRows {
            key: key(),
            named_task_id: 7,
            steps: [("a".to_string(), (70, 0)), ("b".to_string(), (71, 1))]
                .into_iter()
                .collect(),
        });
        cache
    }

    fn create(task: i64) -> Change {
        let now = Timestamp(1);
        let step = |i: i64, name: &str| StepRecord {
            step_id: StepId(task * 10 + i),
            task_id: TaskId(task),
            name: Arc::from(name),
            template_index: i as u32,
            retryable: true,
            retry_limit: 3,
            in_process: false,
            processed: false,
            processed_at: None,
            attempts: None,
            last_attempted_at: None,
            backoff_request_seconds: None,
            results: None,
            skippable: false,
            created_at: now,
            updated_at: now,
        };
        Change::CreateTask(Box::new(NewTask {
            task: TaskRecord {
                task_id: TaskId(task),
                template: key(),
                context: Arc::new(json!({})),
                initiator: None,
                source_system: None,
                reason: None,
                tags: json!([]),
                complete: false,
                requested_at: now,
                created_at: now,
                updated_at: now,
            },
            steps: vec![step(0, "a"), step(1, "b")],
            edges: vec![(StepId(task * 10), StepId(task * 10 + 1))],
        }))
    }

    fn task_move(task: i64, from: State, to: State) -> Change {
        Change::TaskTransition {
            task_id: TaskId(task),
            from: Some(from),
            to,
            meta: TransitionMeta::engine("t"),
            at: Timestamp(2),
            complete: None,
            expect_sort_key: None,
        }
    }

    fn step_move(task: i64, step: i64, from: State, to: State) -> Change {
        Change::StepTransition {
            task_id: TaskId(task),
            step_id: StepId(step),
            from: Some(from),
            to,
            meta: TransitionMeta::engine("t"),
            at: Timestamp(2),
            patch: StepPatch {
                attempts: Some(1),
                ..StepPatch::default()
            },
            expect_sort_key: None,
        }
    }

    fn commit(heads: &mut Heads, batch: &[Change]) -> Plan {
        let plan = check(batch, heads, &Loaded::default(), &templates(), "test").unwrap();
        heads.commit(&plan);
        plan
    }

    #[test]
    fn a_batch_is_planned_as_one_write_per_table_with_one_most_recent_per_owner() {
        let mut heads = Heads::default();
        let plan = commit(
            &mut heads,
            &[
                create(1),
                task_move(1, State::Pending, State::InProgress),
                step_move(1, 10, State::Pending, State::InProgress),
                step_move(1, 10, State::InProgress, State::Error),
            ],
        );
        assert_eq!(plan.new_tasks.len(), 1);
        assert_eq!(plan.new_steps.len(), 2);
        // Patches of a step the batch creates go into its row, not into an update.
        assert!(plan.step_updates.is_empty());
        assert_eq!(plan.new_steps[0].record.attempts, Some(1));
        assert_eq!(plan.new_steps[0].named_step_id, 70);
        let keys: Vec<(i32, bool)> = plan
            .step_transitions
            .iter()
            .map(|t| (t.sort_key, t.most_recent))
            .collect();
        assert_eq!(keys, vec![(1, false), (2, true)]);
        assert!(plan.step_flips.is_empty(), "nothing committed to supersede");

        // The next batch supersedes the committed heads, checked by the flips.
        let plan = commit(
            &mut heads,
            &[step_move(1, 10, State::Error, State::Pending)],
        );
        assert_eq!(plan.step_flips.len(), 1);
        assert_eq!(plan.step_flips[0].sort_key, 2);
        assert_eq!(plan.step_transitions[0].sort_key, 3);
        assert_eq!(plan.step_updates.len(), 1);
    }

    #[test]
    fn a_finished_task_leaves_the_cache() {
        let mut heads = Heads::default();
        commit(&mut heads, &[create(1), create(2)]);
        assert_eq!(heads.len(), 6);
        let plan = commit(
            &mut heads,
            &[
                task_move(1, State::Pending, State::InProgress),
                task_move(1, State::InProgress, State::Complete),
            ],
        );
        assert_eq!(plan.finished, vec![TaskId(1)]);
        assert_eq!(
            heads.len(),
            3,
            "task 1 and its steps are gone, task 2 stays"
        );
        // A change to a forgotten task is read from the database again.
        let wanted = heads.wanted(&[task_move(1, State::Complete, State::Cancelled)], false);
        assert_eq!(wanted.tasks, vec![TaskId(1)]);
        let err = check(
            &[task_move(1, State::Complete, State::Cancelled)],
            &heads,
            &Loaded::default(),
            &templates(),
            "test",
        )
        .err()
        .unwrap();
        assert_eq!(err, TaskerError::Database("task 1 does not exist".into()));
    }

    #[test]
    fn an_unregistered_template_names_the_key_and_the_store() {
        let heads = Heads::default();
        let err = check(
            &[create(1)],
            &heads,
            &Loaded::default(),
            &TemplateCache::default(),
            "sqlite://x",
        )
        .err()
        .unwrap();
        assert_eq!(
            err.to_string(),
            "task 1: template n/t@1 is not registered with the store sqlite://x; register the template before creating tasks of it"
        );
    }
}
