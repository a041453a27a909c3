//! [`check`]: a batch checked change by change, exactly as `MemoryStore` checks it (same
//! errors, same wording), and planned as set-based writes ([`Plan`]). Both SQL stores call
//! it between reading the heads and writing; it must not touch the database.

use crate::change::{Change, StepPatch};
use crate::checks::{check_change, check_sort_key, merge_patch, patch_step, Moving};
use crate::sql::codec::identity_hash;
use crate::sql::plan::{
    finishes_task, Head, HeadCheck, Heads, Loaded, NewStepRow, NewTaskRow, Plan, StepUpdate,
    TaskUpdate, TransitionRow,
};
use crate::sql::templates::TemplateCache;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use tasker_model::{State, StepId, TaskId, TaskerError, TaskerResult, Timestamp};

/// One kind of owner's history (tasks' or steps') as the batch writes it: each owner's head
/// once an earlier change of the batch created or moved it (MemoryStore's `task_states` /
/// `step_states`), the batch's transition rows, which of them is each owner's latest, and
/// the checks of the committed heads they supersede.
struct Histories<Id> {
    heads: HashMap<Id, Head>,
    latest: HashMap<Id, usize>,
    rows: Vec<TransitionRow>,
    flips: Vec<HeadCheck>,
}

impl<Id: Copy + Eq + Hash> Histories<Id> {
    fn new() -> Self {
        Histories {
            heads: HashMap::new(),
            latest: HashMap::new(),
            rows: Vec::new(),
            flips: Vec::new(),
        }
    }

    /// Appends `row`, `id`'s next transition, and when it supersedes a committed head (not
    /// one an earlier change of the batch wrote), the check of that head; `id`'s head moves
    /// to the row.
    fn push(&mut self, id: Id, row: TransitionRow) {
        if !self.heads.contains_key(&id) && row.sort_key > 1 {
            self.flips.push(HeadCheck {
                owner: row.owner,
                sort_key: row.sort_key - 1,
                at: row.at,
            });
        }
        self.heads.insert(id, (row.to, row.sort_key));
        self.latest.insert(id, self.rows.len());
        self.rows.push(row);
    }

    /// The flips and the rows to write, each owner's latest row marked most recent.
    fn take_rows(&mut self) -> (Vec<HeadCheck>, Vec<TransitionRow>) {
        for &i in self.latest.values() {
            self.rows[i].most_recent = true;
        }
        (
            std::mem::take(&mut self.flips),
            std::mem::take(&mut self.rows),
        )
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
    let mut tasks: Histories<TaskId> = Histories::new();
    let mut steps: Histories<StepId> = Histories::new();
    let mut step_task: HashMap<StepId, TaskId> = HashMap::new();
    let mut new_task_at: HashMap<TaskId, usize> = HashMap::new();
    let mut task_update_at: HashMap<TaskId, usize> = HashMap::new();
    let mut step_slot: HashMap<StepId, StepSlot> = HashMap::new();
    let mut checked_steps: HashSet<StepId> = HashSet::new();

    let committed_task =
        |id: &TaskId| -> Option<Head> { heads.task(id).or_else(|| loaded.tasks.get(id).copied()) };
    let committed_step = |id: &StepId| -> Option<(Option<TaskId>, Head)> {
        match heads.step(id) {
            Some(h) => Some((None, h)),
            None => loaded.steps.get(id).map(|(t, h)| (Some(*t), *h)),
        }
    };

    for change in batch {
        match change {
            Change::CreateTask(new) => {
                let id = new.task.task_id;
                if committed_task(&id).is_some() || tasks.heads.contains_key(&id) {
                    return Err(TaskerError::Database(format!("task {id} already exists")));
                }
                let key = &new.task.template;
                let rows = templates.get(key).ok_or_else(|| {
                    TaskerError::Database(format!(
                        "task {id}: template {key} is not registered with the store {store}; register the template before creating tasks of it"
                    ))
                })?;
                tasks.heads.insert(id, (State::Pending, 0));
                new_task_at.insert(id, plan.new_tasks.len());
                plan.created.push(id);
                plan.new_tasks.push(NewTaskRow {
                    record: new.task.clone(),
                    named_task_id: rows.named_task_id,
                    identity_hash: new
                        .identity_hash
                        .clone()
                        .unwrap_or_else(|| identity_hash(id)),
                });
                for s in &new.steps {
                    let (named_step_id, _) = *rows.steps.get(&*s.name).ok_or_else(|| {
                        TaskerError::Database(format!(
                            "task {id}: step {} is not a step of template {key} as registered with the store {store}",
                            s.name
                        ))
                    })?;
                    steps.heads.insert(s.step_id, (State::Pending, 0));
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
                let in_batch = tasks.heads.get(task_id).copied();
                let (cur, key) = match in_batch.or_else(|| committed_task(task_id)) {
                    Some(h) => h,
                    None => {
                        return Err(TaskerError::Database(format!(
                            "task {task_id} does not exist"
                        )))
                    }
                };
                let task = Moving::Task(*task_id);
                check_change(task, (cur, key), *from, *to, *expect_sort_key)?;
                let row = TransitionRow::after(task_id.0, key, *from, *to, meta, *at);
                tasks.push(*task_id, row);
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
                let in_batch = steps.heads.get(step_id).copied();
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
                let step = Moving::Step(*task_id, *step_id);
                check_change(step, (cur, key), *from, *to, *expect_sort_key)?;
                let row = TransitionRow::after(step_id.0, key, *from, *to, meta, *at);
                steps.push(*step_id, row);
                step_task.entry(*step_id).or_insert(*task_id);
                patch_into_plan(&mut plan, &mut step_slot, *step_id, patch, *at);
            }
            Change::PatchStep {
                step_id,
                at,
                patch,
                expect_sort_key,
            } => {
                let (key, in_batch) = match steps.heads.get(step_id) {
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
                patch_into_plan(&mut plan, &mut step_slot, *step_id, patch, *at);
            }
        }
    }

    for task in tasks.latest.keys() {
        if finishes_task(tasks.heads[task].0) {
            plan.finished.push(*task);
        }
    }
    (plan.task_flips, plan.task_transitions) = tasks.take_rows();
    (plan.step_flips, plan.step_transitions) = steps.take_rows();
    plan.task_heads = tasks.heads.into_iter().collect();
    plan.step_heads = steps
        .heads
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

/// Routes a patch of `step_id` to its new row, or folds it into the step's one update.
fn patch_into_plan(
    plan: &mut Plan,
    slots: &mut HashMap<StepId, StepSlot>,
    step_id: StepId,
    patch: &StepPatch,
    at: Timestamp,
) {
    let slot = slots.entry(step_id).or_insert(StepSlot::Existing(None));
    match slot {
        StepSlot::New(i) => patch_step(&mut plan.new_steps[*i].record, patch, at),
        StepSlot::Existing(Some(i)) => {
            let u = &mut plan.step_updates[*i];
            merge_patch(&mut u.patch, patch);
            u.at = at;
        }
        StepSlot::Existing(None) => {
            *slot = StepSlot::Existing(Some(plan.step_updates.len()));
            let mut folded = StepPatch::default();
            merge_patch(&mut folded, patch);
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
    use crate::records::TransitionMeta;
    use crate::sql::templates::TemplateRows;
    use crate::test_rows::{create_task, template_key};

    fn templates() -> TemplateCache {
        let cache = TemplateCache::default();
        cache.insert(TemplateRows {
            key: template_key(),
            named_task_id: 7,
            steps: [("a".to_string(), (70, 0)), ("b".to_string(), (71, 1))]
                .into_iter()
                .collect(),
        });
        cache
    }

    fn create(task: i64) -> Change {
        create_task(TaskId(task), StepId(task * 10), &["a", "b"], Timestamp(1))
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
