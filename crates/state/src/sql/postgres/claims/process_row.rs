//! This process's row of `tasker_core_processes`: added at open, refreshed by the heartbeat,
//! read for `Store::processes` and for the processes of this host that are gone. Must not
//! touch claims.

use super::Owner;
use crate::sharing::{ProcessInfo, Sharing};
use crate::sql::postgres::here::Here;
use crate::sql::postgres::pooling::{in_session, prepared};
use parking_lot::Mutex;
use sqlx::postgres::PgPool;
use std::sync::atomic::{AtomicI32, Ordering};
use tasker_model::{TaskerResult, Timestamp};

impl Owner {
    /// Adds this process to the process table.
    pub(crate) async fn open(pool: &PgPool, sharing: Sharing) -> TaskerResult<Owner> {
        let here = Here::find();
        let id: i32 = in_session(
            pool,
            "adding this process to tasker_core_processes",
            async |conn| {
                sqlx::query_scalar(
                "INSERT INTO tasker_core_processes (hostname, pid, pid_namespace, role, version) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .persistent(prepared())
            .bind(&here.hostname)
            .bind(here.pid)
            .bind(here.pid_namespace.clone().unwrap_or_default())
            .bind(sharing.role.as_str())
            .bind(env!("CARGO_PKG_VERSION"))
    .fetch_one(conn)
                .await
            },
        )
        .await?;
        Ok(Owner {
            id,
            sharing,
            here,
            tokens: Mutex::default(),
            lost: Mutex::default(),
            gone: Mutex::default(),
            capacity: AtomicI32::new(0),
            steps_in_flight: AtomicI32::new(0),
        })
    }

    pub(crate) fn set_capacity(&self, slots: usize) {
        self.capacity
            .store(slots.min(i32::MAX as usize) as i32, Ordering::Relaxed);
    }

    pub(crate) fn set_steps_in_flight(&self, steps: usize) {
        self.steps_in_flight
            .store(steps.min(i32::MAX as usize) as i32, Ordering::Relaxed);
    }

    /// Every process of the table, with the tasks each holds (`Store::processes`); alive
    /// as a claim would judge it (heartbeat within the lease, and on this host still there).
    pub(crate) async fn processes(&self, pool: &PgPool) -> TaskerResult<Vec<ProcessInfo>> {
        type Row = (
            i32,
            String,
            i32,
            String,
            i64,
            f64,
            bool,
            i32,
            i32,
            i64,
            String,
        );
        let rows: Vec<Row> = in_session(pool, "listing tasker_core_processes", async |conn| {
            sqlx::query_as(
                "SELECT p.id, p.hostname, p.pid, p.role, \
                    (EXTRACT(EPOCH FROM p.started_at) * 1000000)::int8, \
                    EXTRACT(EPOCH FROM now() - p.heartbeat_at)::float8, \
                    p.heartbeat_at > now() - make_interval(secs => $1), \
                    p.capacity, p.steps_in_flight, \
                    (SELECT count(*) FROM tasker_core_task_claims c WHERE c.owner = p.id), p.version \
                 FROM tasker_core_processes p ORDER BY p.id",
            )
            .persistent(prepared())
            .bind(self.sharing.lease_timeout.as_secs_f64())
    .fetch_all(conn)
                .await
        })
        .await?;
        let dead = self.dead_here(pool).await?;
        Ok(rows
            .into_iter()
            .map(|r| ProcessInfo {
                id: r.0,
                hostname: r.1,
                pid: r.2,
                role: r.3,
                started_at: Timestamp(r.4),
                heartbeat_age_seconds: r.5.max(0.0),
                alive: r.6 && !dead.contains(&r.0),
                capacity: r.7,
                steps_in_flight: r.8,
                claimed_tasks: r.9,
                version: r.10,
            })
            .collect())
    }

    /// Refreshes the heartbeat (putting the row back if a survivor pruned it while this
    /// process was paused) and prunes processes dead for four leases.
    pub(crate) async fn beat(&self, pool: &PgPool) -> TaskerResult<()> {
        in_session(pool, "refreshing this process's heartbeat", async |conn| {
            sqlx::query(
                "INSERT INTO tasker_core_processes AS p \
                    (id, hostname, pid, pid_namespace, role, version, capacity, steps_in_flight) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), capacity = EXCLUDED.capacity, \
                    steps_in_flight = EXCLUDED.steps_in_flight",
            )
            .persistent(prepared())
            .bind(self.id)
            .bind(&self.here.hostname)
            .bind(self.here.pid)
            .bind(self.here.pid_namespace.clone().unwrap_or_default())
            .bind(self.sharing.role.as_str())
            .bind(env!("CARGO_PKG_VERSION"))
            .bind(self.capacity.load(Ordering::Relaxed))
            .bind(self.steps_in_flight.load(Ordering::Relaxed))
    .execute(conn)
                .await
        })
        .await?;
        in_session(pool, "pruning dead processes", async |conn| {
            sqlx::query(
                "DELETE FROM tasker_core_processes \
                 WHERE heartbeat_at < now() - make_interval(secs => $1) AND id <> $2",
            )
            .persistent(prepared())
            .bind(4.0 * self.sharing.lease_timeout.as_secs_f64())
            .bind(self.id)
            .execute(conn)
            .await
        })
        .await?;
        Ok(())
    }

    /// Processes of this host's pid namespace that no longer exist.
    pub(super) async fn dead_here(&self, pool: &PgPool) -> TaskerResult<Vec<i32>> {
        let Some(ns) = &self.here.pid_namespace else {
            return Ok(Vec::new());
        };
        let rows: Vec<(i32, i32)> =
            in_session(pool, "listing this host's processes", async |conn| {
                sqlx::query_as(
                    "SELECT id, pid FROM tasker_core_processes \
                 WHERE hostname = $1 AND pid_namespace = $2 AND id <> $3",
                )
                .persistent(prepared())
                .bind(&self.here.hostname)
                .bind(ns)
                .bind(self.id)
                .fetch_all(conn)
                .await
            })
            .await?;
        Ok(rows
            .into_iter()
            .filter(|&(_, pid)| !Here::alive(pid))
            .map(|(id, _)| id)
            .collect())
    }
}
