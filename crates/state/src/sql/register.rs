//! Writing a registered template's named rows (`templates.rs` says which, and in what order),
//! for both databases, over the dialect's [`RegisterSql`]. Must not decide what a template
//! registers: that is `templates.rs`'s plan.

use crate::sql::dialect::{Dialect, Param, ReadRow, RegisterSql};
use crate::sql::read::begin;
use crate::sql::templates::TemplatePlan;
use sqlx::Database;
use tasker_model::Timestamp;

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
    let namespace = find_or_insert::<D>(
        &mut tx,
        (sql.find_namespace, &named[..1]),
        (sql.insert_namespace, &named),
    )
    .await?;
    let mut systems = Vec::with_capacity(template.dependent_systems.len());
    for name in &template.dependent_systems {
        let named = [Param::Text(name), now.clone()];
        let id = find_or_insert::<D>(
            &mut tx,
            (sql.find_system, &named[..1]),
            (sql.insert_system, &named),
        )
        .await?;
        systems.push(id);
    }
    let named_task = find_or_insert::<D>(
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
    let mut steps = Vec::with_capacity(template.steps.len());
    for step in &template.steps {
        let system = Param::Int(systems[step.dependent_system]);
        let name = Param::Text(&step.name);
        let named_step = find_or_insert::<D>(
            &mut tx,
            (sql.find_named_step, &[system.clone(), name.clone()]),
            (
                sql.insert_named_step,
                &[
                    system,
                    name,
                    Param::OptText(step.description.as_deref()),
                    now.clone(),
                ],
            ),
        )
        .await?;
        let pair = [Param::Int(named_task), Param::Int(named_step)];
        find_or_insert::<D>(
            &mut tx,
            (sql.find_link, &pair),
            (
                sql.insert_link,
                &[
                    Param::Int(named_task),
                    Param::Int(named_step),
                    Param::Bool(step.skippable),
                    Param::Bool(step.default_retryable),
                    Param::Int4(step.default_retry_limit),
                    now.clone(),
                ],
            ),
        )
        .await?;
        steps.push(named_step);
    }
    tx.commit().await?;
    Ok((named_task, steps))
}

/// A statement and its parameters.
type Bound<'a> = (&'static str, &'a [Param<'a>]);

/// Runs `find`; when it finds nothing, `insert` (which does nothing on a unique conflict,
/// i.e. when another writer just created the row), and when that returns nothing, `find`
/// again. Finding first keeps a re-registration from consuming PostgreSQL sequence values.
async fn find_or_insert<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    find: Bound<'_>,
    insert: Bound<'_>,
) -> Result<i64, sqlx::Error> {
    if let Some(row) = D::rows(conn, find.0, find.1).await?.first() {
        return row.get(0);
    }
    if let Some(row) = D::rows(conn, insert.0, insert.1).await?.first() {
        return row.get(0);
    }
    match D::rows(conn, find.0, find.1).await?.first() {
        Some(row) => row.get(0),
        None => Err(sqlx::Error::RowNotFound),
    }
}
