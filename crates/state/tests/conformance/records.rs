//! A template's step records for a new task: shared by the conformance helpers and
//! benches/sql_readiness.rs (included there by `#[path]`). Must not: write anything, choose
//! ids (the caller gives them) or depend on the rest of `conformance`.

use std::sync::Arc;
use tasker_model::{StepId, TaskId, TaskTemplate, Timestamp};
use tasker_state::StepRecord;

/// The step records of a new task of `template` created at `at`, step `i` with `step_ids[i]`.
pub fn step_records(
    template: &TaskTemplate,
    task_id: TaskId,
    step_ids: &[StepId],
    at: Timestamp,
) -> Vec<StepRecord> {
    template
        .step_templates
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let name = Arc::from(st.name.as_str());
            StepRecord::of_template(step_ids[i], task_id, name, i as u32, st, at)
        })
        .collect()
}
