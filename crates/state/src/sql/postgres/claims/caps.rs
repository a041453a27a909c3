//! Concurrency-cap slots shared by every engine on one PostgreSQL database
//! (`migrations/postgres/0008_tasker_core_shared_gate.sql`): handing slots back and taking
//! free ones, in as few statements as a trade needs. Which steps wait, and for which cap,
//! is the engine's gate's business (`crates/engine/src/gate/`); this file must not decide it.
//!
//! Why slot rows and not session advisory locks: a lock lives as long as its session, and
//! behind a transaction-pooling PgBouncer there is no session to keep (see `mod.rs`). A slot
//! row names its owner's row in the process table instead, so a dead owner's slots are found
//! by the same heartbeat and lease that free its tasks, and leave with its row (cascade).

use super::Owner;
use crate::sql::codec::db_error;
use crate::sql::postgres::pooling::{prepared, Session};
use sqlx::postgres::PgPool;
use std::collections::HashMap;
use std::time::Duration;
use tasker_model::TaskerResult;

/// Slots this store takes: `(cap name, slot number)`.
pub(crate) type CapSlot = (String, i32);

/// What an engine wants of a cap: its name, its limit, how many more slots.
pub(crate) type CapWant = (String, u32, u32);

impl Owner {
    /// Hands `release` back (only slots this store holds) and takes up to the number wanted
    /// of each cap in `want`, within its limit; answers the slots taken. A cap found short
    /// is looked at once more after the slots of dead processes are freed.
    pub(crate) async fn trade_cap_slots(
        &self,
        pool: &PgPool,
        release: &[CapSlot],
        want: &[CapWant],
    ) -> TaskerResult<Vec<CapSlot>> {
        if !release.is_empty() {
            self.release_cap_slots(pool, release).await?;
        }
        if want.is_empty() {
            return Ok(Vec::new());
        }
        let mut got = self.take_cap_slots(pool, want).await?;
        let mut count: HashMap<&str, u32> = HashMap::new();
        for (cap, _) in &got {
            *count.entry(cap.as_str()).or_default() += 1;
        }
        let short: Vec<CapWant> = want
            .iter()
            .filter_map(|(cap, limit, n)| {
                let missing = n.saturating_sub(count.get(cap.as_str()).copied().unwrap_or(0));
                (missing > 0).then(|| (cap.clone(), *limit, missing))
            })
            .collect();
        // The slots taken above are committed and this store's: they must reach the gate
        // even if what follows fails, or no one would ever hand them back (this process is
        // alive, so no survivor frees them). A failure here is only a missed second look;
        // the cap is asked for again at the next trade.
        if !short.is_empty() {
            if let Ok(freed) = self.free_dead_cap_slots(pool, &short).await {
                if freed > 0 {
                    if let Ok(more) = self.take_cap_slots(pool, &short).await {
                        got.extend(more);
                    }
                }
            }
        }
        Ok(got)
    }

    /// The slots this store's process row owns now, and how long that row's lease has left
    /// (heartbeat age subtracted from the lease): until then no other process may take them,
    /// since slots are taken from a process only once it is dead. No row (it was deleted as
    /// dead): no slots, no lease. The engine lets a capped step out only while such an
    /// answer, read after the last stall, still holds (review H2).
    pub(crate) async fn held_cap_slots(
        &self,
        pool: &PgPool,
    ) -> TaskerResult<(Vec<CapSlot>, Duration)> {
        let doing = "reading the concurrency-cap slots this process holds";
        let mut session = Session::open(pool).await.map_err(|e| db_error(doing, e))?;
        let rows: Vec<(f64, Option<String>, Option<i32>)> = sqlx::query_as(
            "SELECT GREATEST(0, $2 - EXTRACT(EPOCH FROM now() - p.heartbeat_at))::float8, \
                    c.cap, c.slot \
             FROM tasker_core_processes p \
             LEFT JOIN tasker_core_cap_slots c ON c.owner = p.id \
             WHERE p.id = $1",
        )
        .persistent(prepared())
        .bind(self.key())
        .bind(self.sharing().lease_timeout.as_secs_f64())
        .fetch_all(&mut *session)
        .await
        .map_err(|e| db_error(doing, e))?;
        session.finish().await.map_err(|e| db_error(doing, e))?;
        let left = rows.first().map_or(0.0, |r| r.0);
        let held = rows
            .into_iter()
            .filter_map(|(_, cap, slot)| Some((cap?, slot?)))
            .collect();
        Ok((held, Duration::from_secs_f64(left.max(0.0))))
    }

    async fn release_cap_slots(&self, pool: &PgPool, release: &[CapSlot]) -> TaskerResult<()> {
        let doing = "handing concurrency-cap slots back";
        let mut session = Session::open(pool).await.map_err(|e| db_error(doing, e))?;
        sqlx::query(
            "DELETE FROM tasker_core_cap_slots c \
             USING UNNEST($2::text[], $3::int4[]) AS r(cap, slot) \
             WHERE c.cap = r.cap AND c.slot = r.slot AND c.owner = $1",
        )
        .persistent(prepared())
        .bind(self.key())
        .bind(release.iter().map(|r| r.0.as_str()).collect::<Vec<_>>())
        .bind(release.iter().map(|r| r.1).collect::<Vec<_>>())
        .execute(&mut *session)
        .await
        .map_err(|e| db_error(doing, e))?;
        session.finish().await.map_err(|e| db_error(doing, e))
    }

    /// Takes the lowest free slot numbers. Among the first `held + n` numbers at least `n`
    /// are free (`held` rows can fill only `held` of them), so the series a cap reads is
    /// as long as its slots in use plus those wanted, never its limit: a limit of a million
    /// costs nothing. Two engines taking the same number: the later INSERT finds the row and
    /// does nothing, so it gets fewer and never exceeds the limit.
    async fn take_cap_slots(&self, pool: &PgPool, want: &[CapWant]) -> TaskerResult<Vec<CapSlot>> {
        let doing = "taking concurrency-cap slots";
        let mut session = Session::open(pool).await.map_err(|e| db_error(doing, e))?;
        let limit = |l: u32| l.min(i32::MAX as u32) as i32;
        let got: Vec<(String, i32)> = sqlx::query_as(
            "INSERT INTO tasker_core_cap_slots (cap, slot, owner) \
             SELECT w.cap, f.slot, $1 \
             FROM UNNEST($2::text[], $3::int4[], $4::int4[]) AS w(cap, lim, n) \
             CROSS JOIN LATERAL ( \
                SELECT s.slot FROM generate_series(0, LEAST(w.lim::int8, w.n + \
                    (SELECT count(*) FROM tasker_core_cap_slots h WHERE h.cap = w.cap)) - 1) AS s(slot) \
                WHERE NOT EXISTS (SELECT 1 FROM tasker_core_cap_slots c \
                    WHERE c.cap = w.cap AND c.slot = s.slot) \
                LIMIT w.n) f \
             ON CONFLICT DO NOTHING \
             RETURNING cap, slot",
        )
        .persistent(prepared())
        .bind(self.key())
        .bind(want.iter().map(|w| w.0.as_str()).collect::<Vec<_>>())
        .bind(want.iter().map(|w| limit(w.1)).collect::<Vec<_>>())
        .bind(want.iter().map(|w| limit(w.2)).collect::<Vec<_>>())
        .fetch_all(&mut *session)
        .await
        .map_err(|e| db_error(doing, e))?;
        session.finish().await.map_err(|e| db_error(doing, e))?;
        Ok(got)
    }

    /// Deletes the slots of `short`'s caps held by processes that are dead (heartbeat
    /// older than the lease, or gone from this host); answers how many. A stalled process
    /// whose slots are taken so may still be running the steps they covered when it wakes:
    /// the same window as its tasks (docs/processes.md).
    async fn free_dead_cap_slots(&self, pool: &PgPool, short: &[CapWant]) -> TaskerResult<u64> {
        let doing = "freeing the concurrency-cap slots of dead processes";
        let dead = self.dead_here(pool).await?;
        let mut session = Session::open(pool).await.map_err(|e| db_error(doing, e))?;
        let freed = sqlx::query(concat!(
            "DELETE FROM tasker_core_cap_slots c WHERE c.cap = ANY($1) AND c.owner <> $2 AND NOT ",
            owner_alive!("$3", "$4")
        ))
        .persistent(prepared())
        .bind(short.iter().map(|w| w.0.as_str()).collect::<Vec<_>>())
        .bind(self.key())
        .bind(self.sharing().lease_timeout.as_secs_f64())
        .bind(dead)
        .execute(&mut *session)
        .await
        .map_err(|e| db_error(doing, e))?
        .rows_affected();
        session.finish().await.map_err(|e| db_error(doing, e))?;
        Ok(freed)
    }
}
