//! Connecting through a transaction pooler (PgBouncer's `pool_mode = transaction`), asked
//! for with `prepared_statements=false` in the URL, the key Rails' `database.yml` uses for
//! the same reason. Must not hold any SQL of the store's own.
//!
//! Behind such a pooler each transaction may run on a different server connection, so:
//! - **No named prepared statements** (they live on one server connection): every
//!   statement is sent unnamed ([`prepared`]), and the statement cache is off.
//! - **Every statement inside a transaction** ([`Session`]): sqlx prepares an unnamed
//!   statement in one round trip and binds it in the next; outside a transaction the pooler
//!   may hand the second to another server connection. A transaction keeps them together.
//! - **No startup options**: PgBouncer refuses the `options` startup parameter and, unless
//!   told to ignore it, `extra_float_digits`. The planner settings the store normally sends
//!   at connect (`mod.rs`) are set with `SET LOCAL` in the transactions [`Session`] opens.
//! - **No LISTEN**: a listening session would be handed to other clients. Workers find new
//!   work by polling (`claim_interval`).
//!
//! Why a process-wide switch: the store's shared SQL code runs statements on bare
//! connections (`Dialect::rows`) with no store at hand. Once one store of a process connects
//! through a pooler, every PostgreSQL store of the process sends unnamed statements: slower
//! by a parse per statement, never wrong.

use crate::sql::codec::db_error;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::fmt::Display;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use tasker_model::TaskerResult;

static POOLED: AtomicBool = AtomicBool::new(false);

/// The URL key that says the server is reached through a transaction pooler.
const KEY: &str = "prepared_statements";

/// The planner settings `mod.rs` sends at connect, for a transaction through a pooler.
const BEGIN_POOLED: &str = "BEGIN; SET LOCAL enable_seqscan = off; \
    SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; SET LOCAL jit = off; \
    SET LOCAL max_parallel_workers_per_gather = 0";

/// Whether statements may be prepared under a name (no store of this process goes through a
/// transaction pooler).
pub(crate) fn prepared() -> bool {
    !POOLED.load(Ordering::Relaxed)
}

/// From now on, every PostgreSQL store of this process sends unnamed statements.
pub(crate) fn switch_on() {
    POOLED.store(true, Ordering::Relaxed);
}

/// Whether any store of this process goes through a transaction pooler.
pub(crate) fn pooled() -> bool {
    POOLED.load(Ordering::Relaxed)
}

/// Reads `prepared_statements=false` (or `0`, `no`, `off`) from `url`; returns the URL
/// without it and whether it was there.
pub(crate) fn from_url(url: &str) -> (String, bool) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), false);
    };
    let mut pooled = false;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key != KEY {
                return true;
            }
            pooled = matches!(
                value.to_ascii_lowercase().as_str(),
                "false" | "0" | "no" | "off"
            );
            false
        })
        .collect();
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, pooled)
}

/// A connection to run statements on: a plain pooled connection, or, through a transaction
/// pooler, one inside a transaction. [`Session::finish`] commits that transaction; dropped
/// without it, the transaction rolls back.
pub(crate) enum Session {
    Plain(PoolConnection<Postgres>),
    Pooled(Transaction<'static, Postgres>),
}

impl Session {
    /// A connection from `pool`, in a transaction when going through a pooler.
    pub(crate) async fn open(pool: &PgPool) -> Result<Session, sqlx::Error> {
        if pooled() {
            Ok(Session::Pooled(pool.begin_with(BEGIN_POOLED).await?))
        } else {
            Ok(Session::Plain(pool.acquire().await?))
        }
    }

    /// Ends the session, committing its transaction if it has one.
    pub(crate) async fn finish(self) -> Result<(), sqlx::Error> {
        match self {
            Session::Plain(_) => Ok(()),
            Session::Pooled(tx) => tx.commit().await,
        }
    }
}

/// Runs `work` in a [`Session`] of `pool` and ends it. Opening, the work and the commit fail
/// alike: as one `TaskerError::Database` saying what was being `doing`. A failed session is
/// dropped unfinished, so its transaction (through a pooler) rolls back.
pub(crate) async fn in_session<T>(
    pool: &PgPool,
    doing: impl Display,
    work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
) -> TaskerResult<T> {
    let run = async {
        let mut session = Session::open(pool).await?;
        let out = work(&mut session).await?;
        session.finish().await?;
        Ok(out)
    };
    run.await.map_err(|e| db_error(doing, e))
}

impl Deref for Session {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        match self {
            Session::Plain(c) => c,
            Session::Pooled(t) => t,
        }
    }
}

impl DerefMut for Session {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            Session::Plain(c) => c,
            Session::Pooled(t) => t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_removes_the_key() {
        let (url, pooled) = from_url("postgres://u@h:6432/db?prepared_statements=false");
        assert_eq!(url, "postgres://u@h:6432/db");
        assert!(pooled);
        let (url, pooled) =
            from_url("postgres://u@h/db?sslmode=disable&prepared_statements=true&x=1");
        assert_eq!(url, "postgres://u@h/db?sslmode=disable&x=1");
        assert!(!pooled);
        assert_eq!(
            from_url("postgres://u@h/db"),
            ("postgres://u@h/db".to_string(), false)
        );
    }
}
