//! Records for the crate's unit tests (compiled only for them): a fresh task of template
//! `n/t@1` and its fresh steps, the same in every test. Must not be used outside tests.

use crate::change::{Change, NewTask};
use crate::records::{StepRecord, TaskRecord};
use serde_json::json;
use std::sync::Arc;
use tasker_model::{StepId, TaskId, TemplateKey, Timestamp};

/// The template every test task is of.
pub(crate) fn template_key() -> TemplateKey {
    TemplateKey {
        namespace: "n".into(),
        name: "t".into(),
        version: "1".into(),
    }
}

/// A `CreateTask` of `task_id` with one pending step per name (ids from `first_step` up,
/// template order) and an edge from the first step to the second, all created `at`.
pub(crate) fn create_task(
    task_id: TaskId,
    first_step: StepId,
    names: &[&str],
    at: Timestamp,
) -> Change {
    let steps: Vec<StepRecord> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            StepRecord::new(
                StepId(first_step.0 + i as i64),
                task_id,
                Arc::from(*name),
                i as u32,
                at,
            )
        })
        .collect();
    Change::CreateTask(Box::new(NewTask {
        task: TaskRecord::new(task_id, template_key(), Arc::new(json!({})), at),
        steps,
        edges: vec![(first_step, StepId(first_step.0 + 1))],
        identity_hash: None,
    }))
}
