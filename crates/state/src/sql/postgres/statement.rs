//! [`Statement`]: PostgreSQL's batch write as one statement — data-modifying CTEs over bound
//! arrays and the checks of its final `SELECT` (see `write.rs` for why). It knows nothing of
//! Tasker's tables: `write.rs` says what goes into it.

use super::pooling::prepared;
use crate::sql::codec::to_naive;
use crate::sql::dialect::WriteError;
use chrono::NaiveDateTime;
use sqlx::postgres::{PgArguments, PgConnection};
use sqlx::{Arguments, AssertSqlSafe, Encode, Postgres, Type};

/// The timestamps `f` picks from `rows`, as one bound array.
pub(super) fn times<T>(
    rows: &[T],
    f: impl Fn(&T) -> tasker_model::Timestamp,
) -> Vec<NaiveDateTime> {
    rows.iter().map(|r| to_naive(f(r))).collect()
}

/// One statement: data-modifying CTEs (`w1`, `w2`, …) and the checks of the final `SELECT`.
#[derive(Default)]
pub(super) struct Statement {
    ctes: Vec<String>,
    args: PgArguments,
    bound: usize,
    /// Boolean SQL expressions that must all hold.
    pub(super) checks: Vec<String>,
    /// A boolean SQL expression that holds while this store still holds the tasks the
    /// statement writes (`write.rs`'s fence); evaluated before `checks`, and failing with
    /// its own error, `WriteError::Fenced`.
    pub(super) fence: Option<String>,
    /// Commit without waiting for the WAL flush (`Durability::Deferred`, see `write.rs`).
    pub(super) deferred: bool,
}

impl Statement {
    /// Binds `value` as the next parameter and returns its number.
    pub(super) fn bind<'q, T>(&mut self, value: T) -> Result<usize, sqlx::Error>
    where
        T: Encode<'q, Postgres> + Type<Postgres> + 'q,
    {
        self.args.add(value).map_err(sqlx::Error::Encode)?;
        self.bound += 1;
        Ok(self.bound)
    }

    /// Binds one array parameter: what `f` picks from each of `rows`, in order.
    pub(super) fn bind_column<'q, R, T>(
        &mut self,
        rows: &'q [R],
        f: impl FnMut(&'q R) -> T,
    ) -> Result<usize, sqlx::Error>
    where
        Vec<T>: Encode<'q, Postgres> + Type<Postgres> + 'q,
    {
        self.bind(rows.iter().map(f).collect::<Vec<_>>())
    }

    /// `sql` with its parameters `$1`, `$2`, … renumbered to follow those bound before the
    /// `params` it uses (bound just now, in order).
    pub(super) fn renumber(&self, sql: &str, params: usize) -> String {
        let base = self.bound - params;
        let mut out = String::with_capacity(sql.len() + 16);
        let mut rest = sql;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let n: usize = rest[..digits].parse().expect("a numbered parameter");
            out.push_str(&(n + base).to_string());
            rest = &rest[digits..];
        }
        out.push_str(rest);
        out
    }

    /// Adds `sql`, whose `params` parameters were just bound, as the next CTE; returns its
    /// name.
    pub(super) fn cte(&mut self, sql: &str, params: usize) -> String {
        let name = format!("w{}", self.ctes.len() + 1);
        let sql = self.renumber(sql, params);
        self.ctes.push(format!("{name} AS ({sql})"));
        name
    }

    /// Adds `sql` (`… RETURNING 1`) as the next CTE, which must return `rows` rows; returns
    /// its name.
    pub(super) fn counted_cte(
        &mut self,
        sql: &str,
        params: usize,
        rows: usize,
    ) -> Result<String, sqlx::Error> {
        let name = self.cte(sql, params);
        let n = self.bind(rows as i64)?;
        self.checks
            .push(format!("(SELECT count(*) FROM {name}) = ${n}::int8"));
        Ok(name)
    }

    /// Nothing to write and nothing to check: [`Statement::run`] would send nothing.
    pub(super) fn is_empty(&self) -> bool {
        self.ctes.is_empty() && self.checks.is_empty()
    }

    pub(super) async fn run(self, conn: &mut PgConnection) -> Result<(), WriteError> {
        if self.is_empty() {
            return Ok(());
        }
        let mut checks = self.checks;
        if self.deferred {
            // In autocommit the statement is its transaction: a setting made for the
            // transaction (`set_config(…, true)`) from inside it holds until its commit.
            checks.push("set_config('synchronous_commit', 'off', true) = 'off'".to_string());
        }
        let checks = if checks.is_empty() {
            "true".to_string()
        } else {
            checks.join(" AND ")
        };
        // A lost claim raises "square root of a negative number" (SQLSTATE 2201F), a failed
        // check a division by zero (22012): both abort the statement, telling which it was.
        let fence = self.fence.as_deref().unwrap_or("true");
        let sql = format!(
            "WITH {} SELECT sqrt(CASE WHEN {fence} THEN 1.0 ELSE -1.0 END), \
                1 / (CASE WHEN {checks} THEN 1 ELSE 0 END)",
            self.ctes.join(",\n")
        );
        sqlx::query_with(AssertSqlSafe(sql), self.args)
            .persistent(prepared())
            .execute(conn)
            .await?;
        Ok(())
    }
}
