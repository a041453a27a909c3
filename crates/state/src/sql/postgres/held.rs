//! The batch writer's connection, kept between batches ([`HeldWriter`]). It owns when that
//! one connection goes back to its pool; it must not hold SQL of the store's own, nor know
//! what a batch writes.
//!
//! Why not acquire it from the pool for every batch, as before: sqlx pings every connection
//! returned to a pool (a Sync and its ReadyForQuery, a round trip), in a task of its own, and
//! the next `acquire` waits for that ping. The state actor commits one batch after another,
//! so the next batch waited for the previous one's ping: one round trip more per batch, two
//! per serial task, on the path between a step's result and `wait_for_task` (`strace` of
//! `benches/chain_ab.rb`: the creation batch of a task sent only when the ping of the
//! previous task's last batch came back, 0.1-0.6 ms later).
//!
//! A connection that comes back from a batch that finished is kept here and handed to the
//! next batch without a round trip. One that sat unused for a second (`PING_AFTER_IDLE`) is pinged
//! first (what the pool's `before_acquire` does: a server restart or a dropped socket shows
//! there, not in the middle of a write). A batch that fails or is dropped unfinished gives
//! its connection back to the pool instead, which tests it as always. Through a transaction
//! pooler nothing is kept: each batch is a transaction of its own (`pooling.rs`). A connection
//! kept unused for the pool's idle timeout goes back to the pool (at a heartbeat), which
//! closes it as it closes its other idle connections.

use super::pooling::Session;
use parking_lot::Mutex;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The connection kept between batches, and when it was last used; `closed` once the store
/// closes, after which nothing is kept (see [`HeldWriter::close`]).
#[derive(Default)]
struct Slot {
    conn: Option<(PoolConnection<Postgres>, Instant)>,
    closed: bool,
}

type Kept = Arc<Mutex<Slot>>;

/// The writer's pool and the connection kept from it.
pub(crate) struct HeldWriter {
    pool: PgPool,
    kept: Kept,
    ping_after_idle: Duration,
}

impl HeldWriter {
    pub(crate) fn new(pool: PgPool, ping_after_idle: Duration) -> HeldWriter {
        HeldWriter {
            pool,
            kept: Arc::default(),
            ping_after_idle,
        }
    }

    /// A connection for the next batch: the kept one if it is there (pinged first when it
    /// sat idle), else one from the pool.
    pub(crate) async fn begin(&self) -> Result<WriterSession, sqlx::Error> {
        let kept = self.kept.lock().conn.take();
        if let Some((mut conn, last_used)) = kept {
            let alive = last_used.elapsed() < self.ping_after_idle || conn.ping().await.is_ok();
            if alive {
                return Ok(self.session(Session::Plain(conn)));
            }
            // Broken (server restart, dropped socket): the pool closes it on its return.
            drop(conn);
        }
        Ok(self.session(Session::open(&self.pool).await?))
    }

    fn session(&self, session: Session) -> WriterSession {
        WriterSession {
            session: Some(session),
            kept: self.kept.clone(),
        }
    }

    /// Gives the kept connection back to the pool when it sat unused for `after`, so an idle
    /// store's pool closes it as it closes its other idle connections (`mod.rs`).
    pub(crate) fn release_idle(&self, after: Duration) {
        let idle = {
            let mut slot = self.kept.lock();
            match &slot.conn {
                Some((_, last_used)) if last_used.elapsed() >= after => slot.conn.take(),
                _ => None,
            }
        };
        drop(idle);
    }

    /// Stops keeping a connection: the kept one goes back to its pool now, and a batch still
    /// running gives its own back when it finishes. Not async, so the store's close calls it
    /// at its first poll, inside the store's runtime, before anything that may outlast the
    /// close's time limit: a connection still kept after the runtime stopped would be dropped
    /// outside it, where sqlx panics (and a panic in a Ruby object's free aborts the VM).
    pub(crate) fn stop_keeping(&self) {
        let kept = {
            let mut slot = self.kept.lock();
            slot.closed = true;
            slot.conn.take()
        };
        drop(kept);
    }

    /// Stops keeping a connection and closes the pool (waits for the connections out).
    pub(crate) async fn close(&self) {
        // Before the pool's `close`, which waits for every connection to come back to it.
        self.stop_keeping();
        self.pool.close().await;
    }
}

impl Drop for HeldWriter {
    /// A store dropped without closing, outside any runtime: the kept connection is detached
    /// from its pool rather than handed back (which needs the runtime sqlx's drop would
    /// panic without).
    fn drop(&mut self) {
        let kept = self.kept.lock().conn.take();
        if let Some((conn, _)) = kept {
            if tokio::runtime::Handle::try_current().is_err() {
                drop(conn.detach());
            }
        }
    }
}

/// One batch's connection; see the module documentation.
pub(crate) struct WriterSession {
    /// `None` only once finished.
    session: Option<Session>,
    kept: Kept,
}

impl WriterSession {
    /// Ends the batch (committing its transaction through a pooler) and keeps a plain
    /// connection for the next one.
    pub(crate) async fn finish(mut self) -> Result<(), sqlx::Error> {
        match self.session.take().expect("a session until finished") {
            Session::Plain(conn) => {
                let mut slot = self.kept.lock();
                if slot.closed {
                    drop(slot);
                    // Back to the pool, whose close waits for it.
                    drop(conn);
                } else {
                    slot.conn = Some((conn, Instant::now()));
                }
                Ok(())
            }
            pooled => pooled.finish().await,
        }
    }
}

impl Deref for WriterSession {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.session.as_ref().expect("a session until finished")
    }
}

impl DerefMut for WriterSession {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.session.as_mut().expect("a session until finished")
    }
}
