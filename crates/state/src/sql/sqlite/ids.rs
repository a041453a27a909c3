//! Where a SQLite store's ids come from: counted in memory, in blocks reserved in the file.
//! Must not be used by more than one store's id counter per file at a time without the
//! reservation (it is what keeps two stores on one file apart).

use crate::sql::codec::db_error;
use crate::sql::runtime::StoreRuntime;
use sqlx::sqlite::SqlitePool;
use tasker_model::{StepId, TaskId, TaskerResult};

/// Ids reserved in the file and not handed out yet.
#[derive(Default)]
pub(super) struct Ids {
    tasks: IdRange,
    steps: IdRange,
}

/// `next..=reserved` may be handed out without touching the file (empty at first).
#[derive(Default)]
struct IdRange {
    next: i64,
    reserved: i64,
}

/// Ids reserved at a time.
const ID_BLOCK: i64 = 1000;

impl Ids {
    /// A task id and `steps` consecutive step ids.
    pub(super) fn allocate(
        &mut self,
        pool: &SqlitePool,
        runtime: &StoreRuntime,
        store: &str,
        steps: u32,
    ) -> TaskerResult<(TaskId, Vec<StepId>)> {
        let n = i64::from(steps);
        let task = self.tasks.take(pool, IdTable::Tasks, 1, runtime, store)?;
        let first = self.steps.take(pool, IdTable::Steps, n, runtime, store)?;
        Ok((TaskId(task), (0..n).map(|i| StepId(first + i)).collect()))
    }
}

impl IdRange {
    /// `n` consecutive ids of `table`, from the block reserved in memory, or from a new
    /// block reserved in the file when that one is used up.
    fn take(
        &mut self,
        pool: &SqlitePool,
        table: IdTable,
        n: i64,
        runtime: &StoreRuntime,
        store: &str,
    ) -> TaskerResult<i64> {
        if self.next == 0 || self.next + n - 1 > self.reserved {
            let size = n.max(ID_BLOCK);
            let first = runtime.block_on(reserve(pool, table, size)).map_err(|e| {
                db_error(format!("reserving ids of {} in {store}", table.name()), e)
            })?;
            *self = IdRange {
                next: first,
                reserved: first + size - 1,
            };
        }
        let first = self.next;
        self.next += n;
        Ok(first)
    }
}

/// The tables whose ids the store hands out.
#[derive(Clone, Copy)]
enum IdTable {
    Tasks,
    Steps,
}

impl IdTable {
    fn name(self) -> &'static str {
        match self {
            IdTable::Tasks => "tasker_tasks",
            IdTable::Steps => "tasker_workflow_steps",
        }
    }
}

/// Reserves `size` ids of `table` and returns the first: the block starts after the
/// largest id the table has ever used (its rows, and `sqlite_sequence`, where AUTOINCREMENT
/// remembers ids of deleted rows too), and its end is written to `sqlite_sequence`. So an
/// id handed out but never committed (the process died first) is not handed out again
/// after a restart, and two stores on one file never hand out the same id.
async fn reserve(pool: &SqlitePool, table: IdTable, size: i64) -> Result<i64, sqlx::Error> {
    let largest = match table {
        IdTable::Tasks => {
            "SELECT MAX(COALESCE((SELECT MAX(task_id) FROM tasker_tasks), 0), \
                        COALESCE((SELECT MAX(seq) FROM sqlite_sequence \
                                  WHERE name = 'tasker_tasks'), 0))"
        }
        IdTable::Steps => {
            "SELECT MAX(COALESCE((SELECT MAX(workflow_step_id) FROM tasker_workflow_steps), 0), \
                        COALESCE((SELECT MAX(seq) FROM sqlite_sequence \
                                  WHERE name = 'tasker_workflow_steps'), 0))"
        }
    };
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let largest: i64 = sqlx::query_scalar(largest).fetch_one(&mut *tx).await?;
    let last = largest + size;
    sqlx::query(
        "INSERT INTO sqlite_sequence (name, seq) SELECT ?1, ?2 \
         WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?1)",
    )
    .bind(table.name())
    .bind(last)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE sqlite_sequence SET seq = ?2 WHERE name = ?1")
        .bind(table.name())
        .bind(last)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(largest + 1)
}
