//! Idempotent submissions that lost a race with another process: the unique index on
//! `tasker_tasks.identity_hash` refused a batch because another engine stored a task with
//! the same identity first. The engine guards identities within one process, so this
//! happens only across processes sharing a database.
//!
//! The batch is written again without the losing tasks (their creation and every later
//! change to them or their steps), as for tasks lost to a takeover; each loser is recorded
//! with the winner's id so the submitting engine can answer with it
//! ([`Store::duplicate_of`](crate::Store::duplicate_of)).

use crate::change::Change;
use crate::sql::dialect::{Dialect, Param, ReadRow};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use tasker_model::{StepId, TaskId, TaskerError};

/// Loser task → the task that holds its identity.
pub(crate) type Duplicates = Mutex<HashMap<TaskId, TaskId>>;

/// Whether the database refused `e`'s batch for a repeated identity_hash.
pub(crate) fn is_identity_conflict(e: &TaskerError) -> bool {
    matches!(e, TaskerError::Database(m) if m.contains("identity_hash"))
}

/// Whether `batch` creates a task with a chosen identity (only those can conflict).
pub(crate) fn creates_identified(batch: &[Change]) -> bool {
    batch
        .iter()
        .any(|c| matches!(c, Change::CreateTask(t) if t.identity_hash.is_some()))
}

/// Removes from `batch` every task whose identity is already stored under another id,
/// with all of its changes, and records it in `duplicates`. Returns how many it removed.
pub(crate) async fn drop_duplicates<D: Dialect>(
    db: &D,
    batch: &mut Vec<Change>,
    duplicates: &Duplicates,
) -> Result<usize, sqlx::Error> {
    let mut losers: HashSet<TaskId> = HashSet::new();
    let mut loser_steps: HashSet<StepId> = HashSet::new();
    let mut conn = db.begin_read().await?;
    for change in batch.iter() {
        let Change::CreateTask(new) = change else {
            continue;
        };
        let Some(hash) = &new.identity_hash else {
            continue;
        };
        let rows = D::rows(&mut conn, D::SQL.task_with_identity, &[Param::Text(hash)]).await?;
        let Some(row) = rows.first() else { continue };
        let winner = TaskId(row.get(0)?);
        if winner != new.task.task_id {
            losers.insert(new.task.task_id);
            loser_steps.extend(new.steps.iter().map(|s| s.step_id));
            duplicates.lock().insert(new.task.task_id, winner);
        }
    }
    D::end_read(conn).await?;
    batch.retain(|change| match change {
        Change::PatchStep { step_id, .. } => !loser_steps.contains(step_id),
        other => other.task_id().is_none_or(|t| !losers.contains(&t)),
    });
    Ok(losers.len())
}
