//! A [`TaskView`] assembled from rows read by either backend.
//!
//! Step order: a step's `template_index` comes from the template's step list when the
//! template was registered with this store (cached by named task id); otherwise, e.g. for a
//! task written by another engine or by the Rails app, from the order of
//! `workflow_step_id`, which follows template order because the engine takes a task's step
//! ids in one `allocate_ids` call, in increasing order, and assigns them in template order.

use crate::records::{StepRecord, TaskRecord, TransitionRecord};
use crate::sql::templates::TemplateCache;
use crate::store::{StepView, TaskView};
use std::collections::HashMap;
use tasker_model::{State, StepId};

/// The rows of one task, as read.
pub(crate) struct TaskRows {
    pub(crate) task: TaskRecord,
    pub(crate) named_task_id: i64,
    /// Oldest first.
    pub(crate) transitions: Vec<TransitionRecord>,
    /// By `workflow_step_id`; `template_index` is filled here.
    pub(crate) steps: Vec<StepRecord>,
    /// (step, transition), each step's oldest first.
    pub(crate) step_transitions: Vec<(StepId, TransitionRecord)>,
    /// (parent, child), in the order they were written.
    pub(crate) edges: Vec<(StepId, StepId)>,
}

fn current(transitions: &[TransitionRecord]) -> State {
    transitions
        .iter()
        .rev()
        .find(|t| t.most_recent)
        .or(transitions.last())
        .map_or(State::Pending, |t| t.to_state)
}

pub(crate) fn assemble(rows: TaskRows, templates: &TemplateCache) -> TaskView {
    let TaskRows {
        task,
        named_task_id,
        transitions,
        mut steps,
        step_transitions,
        edges,
    } = rows;
    let template = templates.by_named_task(named_task_id);
    for (position, step) in steps.iter_mut().enumerate() {
        step.template_index = template
            .as_ref()
            .and_then(|t| t.steps.get(&*step.name))
            .map_or(position as u32, |(_, index)| *index);
    }
    steps.sort_by_key(|s| (s.template_index, s.step_id));

    let mut histories: HashMap<StepId, Vec<TransitionRecord>> = HashMap::new();
    for (step, t) in step_transitions {
        histories.entry(step).or_default().push(t);
    }
    let mut parents: HashMap<StepId, Vec<StepId>> = HashMap::new();
    for (p, c) in edges {
        parents.entry(c).or_default().push(p);
    }
    let steps = steps
        .into_iter()
        .map(|step| {
            let transitions = histories.remove(&step.step_id).unwrap_or_default();
            StepView {
                state: current(&transitions),
                parents: parents.remove(&step.step_id).unwrap_or_default(),
                step,
                transitions,
            }
        })
        .collect();
    TaskView {
        state: current(&transitions),
        task,
        transitions,
        steps,
    }
}
