//! Riding out a database that cannot be reached for a while (a restart, a failover, a
//! dropped connection): which failures count ([`is_unreachable`]), and how long a read and a
//! batch are tried again before the failure is reported. Must not decide what a batch
//! writes: it only repeats an attempt that wrote nothing.

use crate::sql::codec::{db_error, is_unreachable, ReadError};
use crate::sql::plan::Failure;
use std::future::Future;
use std::time::{Duration, Instant};

/// How long a read waits for an unreachable database before it is reported as failed. After
/// a server restart every pooled connection fails once before the pool replaces it.
const READ_RECONNECT_WINDOW: Duration = Duration::from_secs(10);

/// How long a batch waits for an unreachable database before it is reported as failed.
const BATCH_RECONNECT_WINDOW: Duration = Duration::from_secs(120);

/// The read `work()` makes, made again with backoff (20 ms doubling to 1 s) while the
/// database cannot be reached, for up to [`READ_RECONNECT_WINDOW`].
pub(crate) async fn retry_read<T, E, F, W>(work: W) -> Result<T, ReadError>
where
    W: Fn() -> F,
    F: Future<Output = Result<T, E>>,
    E: Into<ReadError>,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        match work().await.map_err(Into::into) {
            Err(ReadError::Sql(e))
                if is_unreachable(&e) && started.elapsed() < READ_RECONNECT_WINDOW =>
            {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            outcome => return outcome,
        }
    }
}

/// `attempt()`, made again with backoff (50 ms doubling to 2 s) while it fails with
/// [`Failure::Unreachable`], for up to [`BATCH_RECONNECT_WINDOW`]; the batches behind it
/// wait. Each failed attempt wrote nothing, except in the instant of a commit the server
/// never acknowledged: then the retry finds the batch's own rows and reports a concurrent
/// modification. One line is logged when the retrying starts and one when it ends.
pub(crate) async fn retry_batch<T, F, Fut>(describe: &str, mut attempt: F) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    let mut logged = false;
    loop {
        match attempt().await {
            Err(Failure::Unreachable(e)) if started.elapsed() < BATCH_RECONNECT_WINDOW => {
                if !logged {
                    tasker_metrics::log_warn!(
                        "tasker-core: {e}; the store retries the batch until the database answers (up to {} s)",
                        BATCH_RECONNECT_WINDOW.as_secs()
                    );
                    logged = true;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            outcome => {
                if logged {
                    tasker_metrics::log_info!(
                        "tasker-core: {describe} answers again after {:.1} s; the batch went on",
                        started.elapsed().as_secs_f64()
                    );
                }
                return outcome;
            }
        }
    }
}

/// A failed statement of a batch's attempt: worth retrying when the database was unreachable.
pub(crate) fn failure(doing: String, e: sqlx::Error) -> Failure {
    if is_unreachable(&e) {
        Failure::Unreachable(db_error(doing, e))
    } else {
        Failure::Refused(db_error(doing, e))
    }
}
