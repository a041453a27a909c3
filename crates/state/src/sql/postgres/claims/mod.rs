//! Task ownership among engines sharing one PostgreSQL database: the process table, leases
//! and fencing tokens (`migrations/postgres/0002_tasker_core.sql` and `0005`).
//!
//! - Each store is a row of `tasker_core_processes`; its id is the `owner` of its claims. The
//!   store refreshes the row's `heartbeat_at` every heartbeat interval (`beat`). A process
//!   whose heartbeat is older than the lease timeout is dead: its claims may be taken. On the
//!   same host (same pid namespace and boot) a process that no longer exists is dead at once,
//!   so a restarted engine does not wait out its predecessor's lease.
//! - A claim is a row of `tasker_core_task_claims` with a fencing token. Taking over a dead
//!   owner's claim increments the token; claiming what one holds keeps it. The store keeps the
//!   token of every task it holds, and every batch it writes checks in its statement, under
//!   a `FOR SHARE` lock on those claims, that they are still its own with the same token
//!   (`write.rs`). A batch that fails that check is `Fenced`: the tasks lost are found, dropped
//!   from the batch and from this store (`take_lost` reports them to the engine), and the
//!   rest is written.
//! - Claims are short statements (`INSERT … ON CONFLICT DO UPDATE`, candidates picked with
//!   `FOR UPDATE SKIP LOCKED`), and nothing depends on a session outliving its transaction,
//!   so the store works through a transaction-pooling PgBouncer. LISTEN (`mod.rs`) only wakes
//!   engines early; polling finds the same work.
//! - Closing the store hands its claims back and deletes its row, so a deploy moves work at
//!   once.
//!
//! Why not one advisory lock per task: advisory locks live in the server's shared lock table
//! (about 6,400 slots by default, for the whole server), and a few thousand live tasks ran it
//! out. Why not one session advisory lock per store (the previous design): it needs a
//! connection held for the process's life, which transaction pooling does not give.

mod process_row;

use super::here::Here;
use super::pooling::{in_session, prepared};
use crate::sharing::{Role, Sharing};
use crate::sql::codec::to_naive;
use crate::sql::plan::Plan;
use parking_lot::Mutex;
use sqlx::postgres::PgPool;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::AtomicI32;
use tasker_model::{TaskId, TaskerResult, Timestamp};

/// The NOTIFY channel that wakes engines when unclaimed work appears.
pub(crate) const WORK_CHANNEL: &str = "tasker_core_work";

/// How many lost tasks an owner remembers (see `Owner::gone`).
const GONE_KEPT: usize = 10_000;

/// This store as an owner of tasks.
pub(crate) struct Owner {
    id: i32,
    sharing: Sharing,
    here: Here,
    /// The fencing token of every task this store holds.
    tokens: Mutex<HashMap<TaskId, i64>>,
    /// Tasks found taken over by another process, not yet reported (`take_lost`).
    lost: Mutex<Vec<TaskId>>,
    /// Tasks found taken over and not claimed back since (the most recent
    /// [`GONE_KEPT`]): later batches touching them, sent before the engine dropped them,
    /// are known lost without asking the database.
    gone: Mutex<(HashSet<TaskId>, VecDeque<TaskId>)>,
    /// Handler slots of the engine, published in the process row.
    capacity: AtomicI32,
    /// Steps the engine has handed out, published in the process row.
    steps_in_flight: AtomicI32,
}

/// Liveness of the owner `c.owner`, in SQL: `$lease` seconds of lease, `$dead` the ids
/// known dead here.
macro_rules! owner_alive {
    ($lease:literal, $dead:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM tasker_core_processes p WHERE p.id = c.owner \
               AND p.heartbeat_at > now() - make_interval(secs => ",
            $lease,
            ") AND p.id <> ALL(",
            $dead,
            "))"
        )
    };
}

/// Claiming: insert, or take over when the claim is this owner's or its owner is dead. The
/// token moves only on a takeover, so a batch in flight with the held token stays valid.
macro_rules! claim_upsert {
    ($lease:literal, $dead:literal) => {
        concat!(
            "ON CONFLICT (task_id) DO UPDATE \
                SET owner = EXCLUDED.owner, claimed_at = EXCLUDED.claimed_at, \
                    token = CASE WHEN c.owner = EXCLUDED.owner THEN c.token ELSE c.token + 1 END \
                WHERE c.owner = EXCLUDED.owner OR NOT ",
            owner_alive!($lease, $dead),
            " RETURNING c.task_id, c.token"
        )
    };
}

/// What makes task `t` claimable (after its FROM, before any more conditions): unfinished,
/// pending or in progress, no step that never ran held back by its `run_at` (`$2` is now),
/// and no claim of a live owner (`$3` lease seconds, `$4` ids known dead here).
macro_rules! claimable {
    () => {
        concat!(
            "LEFT JOIN tasker_task_transitions tr \
               ON tr.task_id = t.task_id AND tr.most_recent \
             WHERE t.complete = false \
               AND COALESCE(tr.to_state, 'pending') IN ('pending', 'in_progress') \
               AND NOT EXISTS (SELECT 1 FROM tasker_workflow_steps ws \
                 WHERE ws.task_id = t.task_id AND COALESCE(ws.attempts, 0) = 0 AND NOT ws.processed \
                   AND ws.last_attempted_at \
                       + make_interval(secs => ws.backoff_request_seconds) > $2) \
               AND NOT EXISTS (SELECT 1 FROM tasker_core_task_claims c WHERE c.task_id = t.task_id AND ",
            owner_alive!("$3", "$4"),
            ")"
        )
    };
}

mod caps;

impl Owner {
    /// This store's key (the `owner` column of its claims).
    pub(crate) fn key(&self) -> i32 {
        self.id
    }

    pub(crate) fn sharing(&self) -> &Sharing {
        &self.sharing
    }

    /// Claims `ids` for this store; returns those it owns afterwards, in the order given.
    pub(crate) async fn claim(&self, pool: &PgPool, ids: &[TaskId]) -> TaskerResult<Vec<TaskId>> {
        let dead = self.dead_here(pool).await?;
        let got: Vec<(i64, i64)> = in_session(pool, "claiming tasks", async |conn| {
            sqlx::query_as(concat!(
                "INSERT INTO tasker_core_task_claims AS c (task_id, owner, claimed_at) \
                 SELECT t.task_id, $2, $3 FROM tasker_tasks t WHERE t.task_id = ANY($1) ",
                claim_upsert!("$4", "$5")
            ))
            .persistent(prepared())
            .bind(ids.iter().map(|t| t.0).collect::<Vec<_>>())
            .bind(self.id)
            .bind(to_naive(Timestamp::now()))
            .bind(self.sharing.lease_timeout.as_secs_f64())
            .bind(dead)
            .fetch_all(conn)
            .await
        })
        .await?;
        let got = self.record(got);
        Ok(ids.iter().filter(|id| got.contains(id)).copied().collect())
    }

    /// Claims up to `limit` unfinished tasks no live process holds (unclaimed ones, and
    /// those of dead processes), by priority aged as the dispatch gate ages it (a point per
    /// second since the task was created: the earliest `created_at − priority seconds`
    /// first), then oldest first; so a high-priority task is not claimed after every older
    /// low-priority one of a backlog (issue 17). Tasks other engines are claiming at the same
    /// moment are skipped, not waited for. A task submitted with a `run_at` still ahead (a
    /// step that never ran, held by its backoff columns: the engine's `schedule.rs`) is left
    /// for a round after that time, so it takes no engine's room while it waits.
    ///
    /// Why two branches: the aged key is an expression no index holds, and sorting by it
    /// sorted every claimable task on each claim (reviewed: about 190 ms a claim with
    /// 100,000 unclaimed tasks). Tasks
    /// without a priority row (priority 0) have `created_at` as their key, so Tasker's
    /// index on (complete, created_at, task_id) walks them in order and stops after
    /// `limit`; tasks with a priority row are found from that table (it holds only non-zero
    /// priorities), read whole first (`MATERIALIZED`: else the planner may walk every
    /// unfinished task and look each up there), and sorted. Each branch locks its own
    /// `limit` best; the best `limit` of both are claimed, and the other locked rows are
    /// let go at commit.
    pub(crate) async fn claim_available(
        &self,
        pool: &PgPool,
        limit: usize,
    ) -> TaskerResult<Vec<TaskId>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let dead = self.dead_here(pool).await?;
        let got: Vec<(i64, i64)> = in_session(pool, "claiming available tasks", async |conn| {
            sqlx::query_as(concat!(
                "WITH pr AS MATERIALIZED (SELECT task_id, priority FROM tasker_core_task_priorities), \
                 plain AS ( \
                    SELECT t.task_id, t.created_at AS key FROM tasker_tasks t ",
                claimable!(),
                " AND NOT EXISTS (SELECT 1 FROM tasker_core_task_priorities own \
                      WHERE own.task_id = t.task_id) \
                 ORDER BY t.created_at, t.task_id LIMIT $5 FOR UPDATE OF t SKIP LOCKED), \
                 prioritized AS ( \
                    SELECT t.task_id, t.created_at - make_interval(secs => pr.priority) AS key \
                    FROM pr JOIN tasker_tasks t ON t.task_id = pr.task_id ",
                claimable!(),
                " ORDER BY 2, t.task_id LIMIT $5 FOR UPDATE OF t SKIP LOCKED), \
                 candidates AS ( \
                    SELECT task_id FROM (SELECT * FROM plain UNION ALL SELECT * FROM prioritized) b \
                    ORDER BY key, task_id LIMIT $5) \
                 INSERT INTO tasker_core_task_claims AS c (task_id, owner, claimed_at) \
                 SELECT task_id, $1, $2 FROM candidates ",
                claim_upsert!("$3", "$4")
            ))
            // Planned at each claim, for its limit and the tables' size then: a generic
            // plan made while the tables were small reads every unfinished task through
            // the partial index on them and sorts, instead of walking the creation index
            // and stopping after `limit` (plans_at_scale, claimable backlog).
            .persistent(false)
            .bind(self.id)
            .bind(to_naive(Timestamp::now()))
            .bind(self.sharing.lease_timeout.as_secs_f64())
            .bind(dead)
            .bind(limit.min(i64::MAX as usize) as i64)
            .fetch_all(conn)
            .await
        })
        .await?;
        let mut got: Vec<TaskId> = self.record(got).into_iter().collect();
        got.sort_unstable();
        Ok(got)
    }

    /// Keeps the tokens of claims just granted.
    fn record(&self, granted: Vec<(i64, i64)>) -> HashSet<TaskId> {
        let mut tokens = self.tokens.lock();
        let mut gone = self.gone.lock();
        for (id, _) in &granted {
            gone.0.remove(&TaskId(*id));
        }
        drop(gone);
        granted
            .into_iter()
            .map(|(id, token)| {
                tokens.insert(TaskId(id), token);
                TaskId(id)
            })
            .collect()
    }

    /// Whether a batch creating tasks claims them for this store (a client leaves them for
    /// workers).
    pub(crate) fn claims_new_tasks(&self) -> bool {
        self.sharing.role == Role::Worker
    }

    /// Which of `tasks` this store holds, with their tokens.
    pub(crate) fn held(&self, tasks: &[TaskId]) -> Vec<(i64, i64)> {
        let tokens = self.tokens.lock();
        tasks
            .iter()
            .filter_map(|t| tokens.get(t).map(|token| (t.0, *token)))
            .collect()
    }

    /// Which of `tasks` were found lost before and not claimed back.
    pub(crate) fn gone(&self, tasks: &[TaskId]) -> Vec<TaskId> {
        let gone = self.gone.lock();
        tasks
            .iter()
            .filter(|t| gone.0.contains(t))
            .copied()
            .collect()
    }

    /// After `plan` committed: its new tasks are held (token 1), its finished ones are not.
    pub(crate) fn committed(&self, plan: &Plan) {
        let mut tokens = self.tokens.lock();
        if self.claims_new_tasks() {
            for t in &plan.created {
                tokens.insert(*t, 1);
            }
        }
        for t in &plan.finished {
            tokens.remove(t);
        }
    }

    /// After a fenced write: which of `fence` this store no longer holds. They are dropped
    /// here and kept for `take_lost`.
    pub(crate) async fn find_lost(
        &self,
        pool: &PgPool,
        fence: &[(i64, i64)],
    ) -> TaskerResult<Vec<TaskId>> {
        if fence.is_empty() {
            return Ok(Vec::new());
        }
        let lost: Vec<i64> = in_session(
            pool,
            "finding the tasks taken over by another process",
            async |conn| {
                sqlx::query_scalar(
                    "SELECT u.id FROM UNNEST($1::int8[], $2::int8[]) AS u(id, token) \
                 WHERE NOT EXISTS (SELECT 1 FROM tasker_core_task_claims c \
                    WHERE c.task_id = u.id AND c.owner + 0 = $3 AND c.token = u.token)",
                )
                .persistent(prepared())
                .bind(fence.iter().map(|f| f.0).collect::<Vec<_>>())
                .bind(fence.iter().map(|f| f.1).collect::<Vec<_>>())
                .bind(self.id)
                .fetch_all(conn)
                .await
            },
        )
        .await?;
        let lost: Vec<TaskId> = lost.into_iter().map(TaskId).collect();
        if !lost.is_empty() {
            tasker_metrics::log_warn!(
                "tasker-core: task(s) {} were taken over by another process (this one missed its lease); its changes to them are dropped",
                lost.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        let mut tokens = self.tokens.lock();
        let mut gone = self.gone.lock();
        for t in &lost {
            tokens.remove(t);
            if gone.0.insert(*t) {
                gone.1.push_back(*t);
            }
        }
        while gone.1.len() > GONE_KEPT {
            let old = gone.1.pop_front().expect("longer than the bound");
            gone.0.remove(&old);
        }
        drop((tokens, gone));
        self.lost.lock().extend(lost.iter().copied());
        Ok(lost)
    }

    /// Tasks found taken over since the last call.
    pub(crate) fn take_lost(&self) -> Vec<TaskId> {
        std::mem::take(&mut *self.lost.lock())
    }

    /// Hands the claims on `ids` back and wakes the other engines for them. By task id only
    /// (`owner + 0`, as in find_lost and the batch's fence, sql/postgres/write.rs): the owner
    /// index's range for this process holds every claim it made since the last vacuum.
    pub(crate) async fn release(&self, pool: &PgPool, ids: &[TaskId]) -> TaskerResult<()> {
        in_session(pool, "handing tasks back", async |conn| {
            sqlx::query(
                "WITH released AS (DELETE FROM tasker_core_task_claims \
                    WHERE task_id = ANY($1) AND owner + 0 = $2 RETURNING 1) \
                 SELECT pg_notify($3, '') WHERE EXISTS (SELECT 1 FROM released)",
            )
            .persistent(prepared())
            .bind(ids.iter().map(|t| t.0).collect::<Vec<_>>())
            .bind(self.id)
            .bind(WORK_CHANNEL)
            .execute(conn)
            .await
        })
        .await?;
        let mut tokens = self.tokens.lock();
        for t in ids {
            tokens.remove(t);
        }
        Ok(())
    }

    /// Hands every claim back and leaves the process table; wakes the other engines for the
    /// tasks handed back.
    pub(crate) async fn close(&self, pool: &PgPool) -> TaskerResult<()> {
        in_session(pool, "handing back this process's claims", async |conn| {
            sqlx::query(
                "WITH released AS (DELETE FROM tasker_core_task_claims WHERE owner = $1 RETURNING 1), \
                      gone AS (DELETE FROM tasker_core_processes WHERE id = $1) \
                 SELECT pg_notify($2, '') WHERE EXISTS (SELECT 1 FROM released)",
            )
            .persistent(prepared())
            .bind(self.id)
            .bind(WORK_CHANNEL)
    .execute(conn)
                .await
        })
        .await?;
        self.tokens.lock().clear();
        Ok(())
    }
}
