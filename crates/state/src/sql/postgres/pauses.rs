//! Pauses shared by every engine on one PostgreSQL database (`tasker_core_pauses`,
//! migration 0008): reading them, and recording or clearing one with a NOTIFY that wakes
//! the other engines' claim loops, which read them again. What a pause holds back is the
//! engine's dispatch gate's business; this file must not decide it.

use super::claims::WORK_CHANNEL;
use super::pooling::{prepared, Session};
use crate::sql::codec::db_error;
use sqlx::postgres::PgPool;
use tasker_model::TaskerResult;

/// Every pause, sorted: `(namespace, template)`, `None` for a whole namespace.
pub(super) async fn read(pool: &PgPool) -> TaskerResult<Vec<(String, Option<String>)>> {
    let doing = "reading the pauses";
    let mut session = Session::open(pool).await.map_err(|e| db_error(doing, e))?;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT namespace, template FROM tasker_core_pauses ORDER BY namespace, template",
    )
    .persistent(prepared())
    .fetch_all(&mut *session)
    .await
    .map_err(|e| db_error(doing, e))?;
    session.finish().await.map_err(|e| db_error(doing, e))?;
    Ok(rows
        .into_iter()
        .map(|(ns, t)| (ns, (!t.is_empty()).then_some(t)))
        .collect())
}

/// Records (`paused`) or clears the pause of `namespace` (and `template`, if given), and
/// wakes the engines that listen, when it changed anything.
pub(super) async fn write(
    pool: &PgPool,
    namespace: &str,
    template: Option<&str>,
    paused: bool,
) -> TaskerResult<()> {
    let doing = if paused {
        "recording a pause"
    } else {
        "clearing a pause"
    };
    let sql = if paused {
        "WITH changed AS (INSERT INTO tasker_core_pauses (namespace, template) VALUES ($1, $2) \
            ON CONFLICT DO NOTHING RETURNING 1) \
         SELECT pg_notify($3, '') FROM changed"
    } else {
        "WITH changed AS (DELETE FROM tasker_core_pauses WHERE namespace = $1 AND template = $2 \
            RETURNING 1) \
         SELECT pg_notify($3, '') FROM changed"
    };
    let mut session = Session::open(pool).await.map_err(|e| db_error(doing, e))?;
    sqlx::query(sql)
        .persistent(prepared())
        .bind(namespace)
        .bind(template.unwrap_or(""))
        .bind(WORK_CHANNEL)
        .execute(&mut *session)
        .await
        .map_err(|e| db_error(doing, e))?;
    session.finish().await.map_err(|e| db_error(doing, e))
}
