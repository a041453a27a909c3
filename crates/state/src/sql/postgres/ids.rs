//! Task and step ids for new tasks, taken from PostgreSQL's sequences a block at a time, so
//! that `submit_task` rarely waits for the database. It must not write rows: the ids are
//! used by the batch that creates the task.

use super::pooling::{in_session, prepared};
use crate::sql::runtime::StoreRuntime;
use sqlx::postgres::PgPool;
use std::collections::VecDeque;
use tasker_model::{StepId, TaskId, TaskerResult};

/// Ids taken from a sequence at a time (more when one task needs more steps); the common
/// `allocate_ids` call touches no database.
const ID_BLOCK: usize = 1000;

/// Ids taken from the sequences and not handed out yet, in increasing order.
#[derive(Default)]
pub(super) struct IdBlocks {
    tasks: VecDeque<i64>,
    steps: VecDeque<i64>,
}

impl IdBlocks {
    /// A task id and `steps` step ids, taking more from the (task, step) `sequences` when
    /// this holds too few; blocks on `runtime`.
    pub(super) fn allocate(
        &mut self,
        pool: &PgPool,
        runtime: &StoreRuntime,
        sequences: (&str, &str),
        steps: usize,
    ) -> TaskerResult<(TaskId, Vec<StepId>)> {
        if self.tasks.is_empty() {
            let block = runtime.block_on(take_ids(pool, sequences.0, ID_BLOCK))?;
            self.tasks.extend(block);
        }
        if self.steps.len() < steps {
            let more = ID_BLOCK.max(steps - self.steps.len());
            let block = runtime.block_on(take_ids(pool, sequences.1, more))?;
            self.steps.extend(block);
        }
        let task = self.tasks.pop_front().expect("refilled above");
        Ok((
            TaskId(task),
            self.steps.drain(..steps).map(StepId).collect(),
        ))
    }
}

/// `n` ids from `sequence`, increasing.
async fn take_ids(pool: &PgPool, sequence: &str, n: usize) -> TaskerResult<Vec<i64>> {
    let doing = format!("taking ids from {sequence}");
    let mut ids: Vec<i64> = in_session(pool, doing, async |conn| {
        sqlx::query_scalar("SELECT nextval($1::text::regclass) FROM generate_series(1, $2)")
            .persistent(prepared())
            .bind(sequence)
            .bind(n as i32)
            .fetch_all(conn)
            .await
    })
    .await?;
    ids.sort_unstable();
    Ok(ids)
}
