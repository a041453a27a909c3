//! What a PostgreSQL store runs in the background for task sharing: its heartbeat in the
//! process table (so other engines do not take its tasks) and, for a worker, the LISTEN that
//! wakes it when work is left to claim. Both end with the store. Must not claim anything.
//! The heartbeat's timer also hands an idle batch writer's kept connection back (`held.rs`).

use super::claims::WORK_CHANNEL;
use super::PgDb;
use crate::sql::store::Shared;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::time::Duration;

/// Refreshes this store's heartbeat every heartbeat interval, so other engines do not take
/// its tasks. A failed beat is logged and tried again at the next: the lease is several
/// beats long. Ends with the store.
pub(super) async fn heartbeat(inner: std::sync::Weak<Shared<PgDb>>) {
    loop {
        let every = match inner.upgrade() {
            Some(inner) => inner.db.owner.sharing().heartbeat_interval,
            None => return,
        };
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if inner.db.pool.is_closed() {
            return;
        }
        inner.db.writer.release_idle(super::IDLE_TIMEOUT);
        if let Err(e) = inner.db.owner.beat(&inner.db.pool).await {
            tasker_metrics::log_warn!("tasker-core: store {}: {e}", inner.describe);
        }
    }
}

/// Wakes `wake` on every NOTIFY of [`WORK_CHANNEL`], on a connection of its own; on a
/// lost connection it tries again every few seconds (polling covers the gap).
pub(super) async fn listen(options: PgConnectOptions, wake: crossbeam_channel::Sender<()>) {
    loop {
        let listener = async {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(WORK_CHANNEL).await?;
            loop {
                listener.recv().await?;
                let _ = wake.try_send(());
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        if listener.await.is_err() {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }
}
