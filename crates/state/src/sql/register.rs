//! Writing a registered template's named rows (`templates.rs` says which, and in what order),
//! for both databases, over the dialect's [`RegisterSql`]. Must not decide what a template
//! registers: that is `templates.rs`'s plan.
//!
//! The dependent systems, named steps and links are written set-based: each kind is an
//! `INSERT … SELECT` over its rows (skipping rows that exist, and `ON CONFLICT DO NOTHING`
//! for rows another writer creates meanwhile), then a `SELECT` over the same rows reads
//! every id back. A template's cost is then a handful of statements whatever its size (a row
//! at a time, 10,000 steps took seconds). The read-back is a separate statement so that,
//! under PostgreSQL's READ COMMITTED, it sees rows a concurrent registration committed while
//! the insert waited on them.
//!
//! How the rows reach the statements is the dialect's ([`RowsIn`]): PostgreSQL reads them
//! out of one JSON text parameter (`json_to_recordset` parses it once); SQLite binds them,
//! 1,000 rows a statement, since its `json_each` and `->>` re-parse each row's object for
//! every field read, which was most of its registration.

use crate::sql::dialect::{Dialect, Param, ReadRow, RegisterSql, RowsIn};
use crate::sql::read::begin;
use crate::sql::templates::TemplatePlan;
use serde::Serialize;
use sqlx::Database;
use tasker_model::Timestamp;

/// A named step to find or create.
#[derive(Serialize)]
struct NamedStep<'a> {
    system: i64,
    name: &'a str,
    description: Option<&'a str>,
}

/// A `tasker_named_tasks_named_steps` row of the named task.
#[derive(Serialize)]
struct Link {
    step: i64,
    skippable: bool,
    retryable: bool,
    retry_limit: i32,
}

/// Finds or creates every named row of `template` in one transaction; returns the named
/// task's id and each step's named step id, in template order.
pub(crate) async fn register<D: Dialect>(
    db: &D,
    template: &TemplatePlan,
) -> Result<(i64, Vec<i64>), sqlx::Error> {
    let sql: &RegisterSql = &D::SQL.register;
    let now = Param::Time(Timestamp::now());
    let mut tx = begin(db.pool(), D::SQL.begin_write).await?;
    // (name, now): the find takes the name only.
    let named = [Param::Text(&template.key.namespace), now.clone()];
    let (namespace, _) = find_or_insert::<D>(
        &mut tx,
        (sql.find_namespace, &named[..1]),
        (sql.insert_namespace, &named),
    )
    .await?;

    let systems = insert_set::<D>(
        &mut tx,
        (sql.insert_systems, sql.find_systems),
        &json(&template.dependent_systems),
        template.dependent_systems.len(),
        &now,
    )
    .await?;

    let (named_task, created) = find_or_insert::<D>(
        &mut tx,
        (
            sql.find_named_task,
            &[
                Param::Int(namespace),
                Param::Text(&template.key.name),
                Param::Text(&template.key.version),
            ],
        ),
        (
            sql.insert_named_task,
            &[
                Param::Text(&template.key.name),
                Param::OptText(template.description.as_deref()),
                Param::Int(namespace),
                Param::Text(&template.key.version),
                Param::Text(&template.configuration),
                now.clone(),
            ],
        ),
    )
    .await?;

    let named_steps: Vec<NamedStep> = template
        .steps
        .iter()
        .map(|step| NamedStep {
            system: systems[step.dependent_system],
            name: &step.name,
            description: step.description.as_deref(),
        })
        .collect();
    let steps = match sql.rows_in {
        RowsIn::Json => {
            insert_set::<D>(
                &mut tx,
                (sql.insert_named_steps, sql.find_named_steps),
                &json(&named_steps),
                named_steps.len(),
                &now,
            )
            .await?
        }
        RowsIn::Values(rows) => {
            named_steps_bound::<D>(&mut tx, sql, &named_steps, rows, &now).await?
        }
    };

    let links: Vec<Link> = template
        .steps
        .iter()
        .zip(&steps)
        .map(|(step, id)| Link {
            step: *id,
            skippable: step.skippable,
            retryable: step.default_retryable,
            retry_limit: step.default_retry_limit,
        })
        .collect();
    // A named task this transaction created has no links yet: none to look for.
    let insert_links = match created {
        true => sql.insert_new_links,
        false => sql.insert_links,
    };
    match sql.rows_in {
        RowsIn::Json => {
            let links = json(&links);
            D::rows(
                &mut tx,
                insert_links,
                &[Param::Int(named_task), Param::Text(&links), now],
            )
            .await?;
        }
        RowsIn::Values(rows) => {
            for chunk in links.chunks(rows) {
                let mut params = Vec::with_capacity(2 + 4 * rows);
                params.extend([Param::Int(named_task), now.clone()]);
                for link in chunk {
                    params.extend([
                        Param::Int(link.step),
                        Param::Int(link.skippable.into()),
                        Param::Int(link.retryable.into()),
                        Param::Int(link.retry_limit.into()),
                    ]);
                }
                params.resize(2 + 4 * rows, Param::OptText(None));
                D::rows(&mut tx, insert_links, &params).await?;
            }
        }
    }
    tx.commit().await?;
    Ok((named_task, steps))
}

/// The rows of a set-based statement, as the JSON array its statement reads.
fn json<T: Serialize>(rows: &T) -> String {
    serde_json::to_string(rows).expect("named rows serialize")
}

/// Writes one kind of named rows set-based: `insert` creates those of `rows` (their JSON
/// array, `len` long, written at `now`) that are missing, then `find` reads every id back;
/// returns the ids in array order.
async fn insert_set<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    (insert, find): (&'static str, &'static str),
    rows: &str,
    len: usize,
    now: &Param<'_>,
) -> Result<Vec<i64>, sqlx::Error> {
    // (rows, now): the find takes the rows only.
    let params = [Param::Text(rows), now.clone()];
    D::rows(conn, insert, &params).await?;
    ids_in_order::<D>(conn, find, &params[..1], len).await
}

/// Runs a `find_*` statement, whose one row is a JSON array of [position in the rows, id]
/// (one row rather than one per id: SQLite hands rows over one at a time), and returns the
/// ids in array order; every position must have one.
async fn ids_in_order<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    find: &'static str,
    params: &[Param<'_>],
    len: usize,
) -> Result<Vec<i64>, sqlx::Error> {
    let found = found_ids::<D>(conn, find, params).await?;
    in_order(found, len)
}

/// The [position, id] pairs a `find_*` statement returns.
async fn found_ids<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    find: &'static str,
    params: &[Param<'_>],
) -> Result<Vec<(usize, i64)>, sqlx::Error> {
    let rows = D::rows(conn, find, params).await?;
    let found: String = rows.first().ok_or(sqlx::Error::RowNotFound)?.get(0)?;
    serde_json::from_str(&found).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// The ids of `found` by position, `len` of them; every position must have one.
fn in_order(found: Vec<(usize, i64)>, len: usize) -> Result<Vec<i64>, sqlx::Error> {
    let mut ids = vec![None; len];
    for (position, id) in found {
        if let Some(slot) = ids.get_mut(position) {
            *slot = Some(id);
        }
    }
    ids.into_iter()
        .map(|id| id.ok_or(sqlx::Error::RowNotFound))
        .collect()
}

/// The named steps written as [`RowsIn::Values`] says, `rows` at a time: each chunk's
/// missing rows inserted, then its ids read back; returns the ids in step order.
async fn named_steps_bound<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    sql: &RegisterSql,
    steps: &[NamedStep<'_>],
    rows: usize,
    now: &Param<'_>,
) -> Result<Vec<i64>, sqlx::Error> {
    let mut found = Vec::with_capacity(steps.len());
    for (chunk_index, chunk) in steps.chunks(rows).enumerate() {
        // (now, rows): the find takes the rows only.
        let mut params = Vec::with_capacity(1 + 4 * rows);
        params.push(now.clone());
        for (i, step) in chunk.iter().enumerate() {
            params.extend([
                Param::Int((chunk_index * rows + i) as i64),
                Param::Int(step.system),
                Param::Text(step.name),
                Param::OptText(step.description),
            ]);
        }
        params.resize(1 + 4 * rows, Param::OptText(None));
        D::rows(conn, sql.insert_named_steps, &params).await?;
        found.extend(found_ids::<D>(conn, sql.find_named_steps, &params[1..]).await?);
    }
    in_order(found, steps.len())
}

/// A statement and its parameters.
type Bound<'a> = (&'static str, &'a [Param<'a>]);

/// Runs `find`; when it finds nothing, `insert` (which does nothing on a unique conflict,
/// i.e. when another writer just created the row), and when that returns nothing, `find`
/// again. Finding first keeps a re-registration from consuming PostgreSQL sequence values.
/// Returns the id and whether `insert` created the row.
async fn find_or_insert<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    find: Bound<'_>,
    insert: Bound<'_>,
) -> Result<(i64, bool), sqlx::Error> {
    if let Some(row) = D::rows(conn, find.0, find.1).await?.first() {
        return Ok((row.get(0)?, false));
    }
    if let Some(row) = D::rows(conn, insert.0, insert.1).await?.first() {
        return Ok((row.get(0)?, true));
    }
    match D::rows(conn, find.0, find.1).await?.first() {
        Some(row) => Ok((row.get(0)?, false)),
        None => Err(sqlx::Error::RowNotFound),
    }
}
