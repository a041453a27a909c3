//! Conversions between the store's Rust values and their SQL columns, shared by both backends.

use crate::records::TransitionMeta;
use chrono::{DateTime, Datelike, NaiveDateTime, Timelike};
use serde_json::Value as Json;
use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};
use tasker_model::{State, TaskId, TaskerError, TaskerResult, Timestamp};

/// `timestamp without time zone` holding UTC, at microsecond precision like [`Timestamp`].
pub(crate) fn to_naive(t: Timestamp) -> NaiveDateTime {
    DateTime::from_timestamp_micros(t.as_micros())
        .unwrap_or_default()
        .naive_utc()
}

/// The inverse of [`to_naive`].
pub(crate) fn from_naive(t: NaiveDateTime) -> Timestamp {
    Timestamp(t.and_utc().timestamp_micros())
}

/// SQLite's DATETIME text, always with six fractional digits (`YYYY-MM-DD HH:MM:SS.ffffff`)
/// so that text order is time order.
pub(crate) fn sqlite_time(t: Timestamp) -> String {
    let n = to_naive(t);
    let year = n.year();
    if !(0..=9999).contains(&year) {
        return n.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    }
    // Written digit by digit: this runs for every timestamp of every row of a batch, and
    // chrono's `format` spent more time parsing its pattern than the rest of the row.
    let mut out = *b"0000-00-00 00:00:00.000000";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year as u32);
    put(5, 2, n.month());
    put(8, 2, n.day());
    put(11, 2, n.hour());
    put(14, 2, n.minute());
    put(17, 2, n.second());
    put(20, 6, n.nanosecond() / 1000 % 1_000_000);
    String::from_utf8(out.to_vec()).expect("ASCII digits")
}

/// Reads SQLite DATETIME text (also written by others: with or without fractions, `T` or
/// space between date and time).
pub(crate) fn parse_sqlite_time(text: &str) -> TaskerResult<Timestamp> {
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text.trim_end_matches('Z'), f).ok())
        .map(from_naive)
        .ok_or_else(|| {
            TaskerError::Unreadable(format!("unreadable timestamp {text:?} in the store"))
        })
}

/// A stored state name.
pub(crate) fn parse_state(name: &str) -> TaskerResult<State> {
    State::parse(name)
        .ok_or_else(|| TaskerError::Unreadable(format!("unknown state {name:?} in the store")))
}

/// A JSON column's text (NULL reads as JSON null).
pub(crate) fn parse_json(text: Option<&str>) -> TaskerResult<Json> {
    match text {
        None => Ok(Json::Null),
        Some(t) => serde_json::from_str(t)
            .map_err(|e| TaskerError::Unreadable(format!("unreadable JSON in the store: {e}"))),
    }
}

/// The text of a JSON column; JSON null is stored as SQL NULL.
pub(crate) fn json_text(value: &Json) -> Option<String> {
    (!value.is_null()).then(|| value.to_string())
}

/// A transition's `metadata` read back: the known keys typed, everything else in `extra`.
pub(crate) fn meta_from_json(value: Json) -> TransitionMeta {
    let Json::Object(mut m) = value else {
        return TransitionMeta::default();
    };
    let mut text = |key: &str| match m.remove(key) {
        Some(Json::String(s)) => Some(s),
        Some(Json::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    let reason = text("reason").unwrap_or_default();
    let actor = text("actor").unwrap_or_default();
    let error_class = text("error_class");
    let error_message = text("error_message");
    let duration_ms = m.remove("duration_ms").and_then(|v| v.as_f64());
    let attempt = m
        .remove("attempt")
        .and_then(|v| v.as_u64())
        .and_then(|a| u32::try_from(a).ok());
    TransitionMeta {
        reason: Cow::Owned(reason),
        actor: Cow::Owned(actor),
        error_class,
        error_message,
        duration_ms,
        attempt,
        extra: (!m.is_empty()).then_some(Json::Object(m)),
    }
}

/// A value for `tasker_tasks.identity_hash` (unique, at most 128 characters): 64 hex digits
/// made of the task id, the clock and randomness, so no two tasks share one even across
/// engines and the Rails app.
pub(crate) fn identity_hash(task: TaskId) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!(
        "{:016x}{:016x}{:016x}{:016x}",
        task.0 as u64,
        nanos,
        fastrand::u64(..),
        fastrand::u64(..)
    )
}

/// A count column (attempts, retry_limit) read back: negatives, impossible for the engine's
/// own rows, read as 0.
pub(crate) fn count(value: Option<i32>) -> Option<u32> {
    value.map(|v| u32::try_from(v).unwrap_or(0))
}

/// A count written to an `integer` column.
pub(crate) fn int_column(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// `backoff_request_seconds` is `integer`; a larger request is capped, not an error.
pub(crate) fn backoff_column(value: i64) -> i32 {
    value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// A sqlx failure, with what the store was doing.
pub(crate) fn db_error(doing: impl std::fmt::Display, e: sqlx::Error) -> TaskerError {
    TaskerError::Database(format!("{doing}: {e}"))
}

/// Whether `e` says the database could not be reached rather than that the statement was
/// wrong: a refused or dropped connection, a pool that found no live connection in time, or
/// the server ending sessions (SQLSTATE class 08, and 57P01-57P03: shutdown, crash,
/// starting up). PostgreSQL restarting or failing over looks like this for a few seconds.
pub(crate) fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

/// Whether `e` is a duplicate key in a history table (`tasker_task_transitions`,
/// `tasker_workflow_step_transitions`): another writer appended to a history the checks
/// read from the cache. PostgreSQL names the table; SQLite's message names `table.column`.
pub(crate) fn is_history_conflict(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| {
        d.is_unique_violation()
            && (d.table().is_some_and(|t| t.ends_with("_transitions"))
                || d.message().contains("_transitions."))
    })
}

/// A failed read: SQL, or a value the store cannot make sense of.
pub(crate) enum ReadError {
    Sql(sqlx::Error),
    Value(TaskerError),
}

impl From<sqlx::Error> for ReadError {
    fn from(e: sqlx::Error) -> Self {
        ReadError::Sql(e)
    }
}

impl From<TaskerError> for ReadError {
    fn from(e: TaskerError) -> Self {
        ReadError::Value(e)
    }
}

impl ReadError {
    pub(crate) fn into_tasker(self, doing: impl std::fmt::Display) -> TaskerError {
        match self {
            // A column whose stored value does not decode (text where a number belongs,
            // bytes that are not UTF-8): the database answered, the row is at fault.
            ReadError::Sql(e @ (sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_))) => {
                TaskerError::Unreadable(format!("{doing}: {e}"))
            }
            ReadError::Sql(e) => db_error(doing, e),
            ReadError::Value(TaskerError::Database(m)) => {
                TaskerError::Database(format!("{doing}: {m}"))
            }
            ReadError::Value(TaskerError::Unreadable(m)) => {
                TaskerError::Unreadable(format!("{doing}: {m}"))
            }
            ReadError::Value(e) => e,
        }
    }
}

/// Query parameters whose values are secrets, or say where one is kept: libpq's `password`,
/// `sslpassword` and `passfile`, and anything named like a password, secret or token.
fn is_secret_param(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key == "passfile"
        || ["password", "secret", "token"]
            .iter()
            .any(|s| key.contains(s))
}

/// `url` with its password (in the authority, or in a password-like parameter such as
/// `password=`, `sslpassword=` or `passfile=`) replaced by `***`. The one redaction used
/// wherever a URL is logged or shown in an error, Ruby's included (`Native.redact_url`).
pub fn redact_url(url: &str) -> String {
    let mut out = match url.find("://") {
        Some(scheme_end) => {
            let rest = &url[scheme_end + 3..];
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let authority = &rest[..authority_end];
            match authority.rfind('@') {
                Some(at) => {
                    let userinfo = &authority[..at];
                    let user = userinfo.split(':').next().unwrap_or("");
                    let masked = if userinfo.contains(':') {
                        format!("{user}:***")
                    } else {
                        user.to_string()
                    };
                    format!("{}{}{}", &url[..scheme_end + 3], masked, &rest[at..])
                }
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    };
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if is_secret_param(k) => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cr:et@db.example:5432/prod?sslmode=require"),
            "postgres://app:***@db.example:5432/prod?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://app@db/prod?password=hunter2&x=1"),
            "postgres://app@db/prod?password=***&x=1"
        );
        assert_eq!(
            redact_url("postgres:///prod?host=/run/pg&user=app&PASSWORD=a&sslpassword=b&passfile=/p&api_token=c&sslmode=require"),
            "postgres:///prod?host=/run/pg&user=app&PASSWORD=***&sslpassword=***&passfile=***&api_token=***&sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://:only-secret@db/prod"),
            "postgres://:***@db/prod"
        );
        assert_eq!(redact_url("sqlite://tmp/x.db"), "sqlite://tmp/x.db");
        assert_eq!(redact_url("mysql://u:p@h/db"), "mysql://u:***@h/db");
    }

    #[test]
    fn timestamps_keep_microseconds() {
        let t = Timestamp(1_700_000_000_123_456);
        assert_eq!(from_naive(to_naive(t)), t);
        let text = sqlite_time(t);
        assert_eq!(text, "2023-11-14 22:13:20.123456");
        assert_eq!(parse_sqlite_time(&text).unwrap(), t);
        assert_eq!(
            sqlite_time(Timestamp::from_secs(1_700_000_000)),
            "2023-11-14 22:13:20.000000"
        );
        assert_eq!(sqlite_time(Timestamp(-1)), "1969-12-31 23:59:59.999999");
        assert_eq!(sqlite_time(Timestamp(7)), "1970-01-01 00:00:00.000007");
        for micros in [
            0,
            1,
            999_999,
            1_000_000,
            86_400_000_000 * 365 * 30 + 123_456,
        ] {
            let t = Timestamp(micros);
            assert_eq!(
                sqlite_time(t),
                to_naive(t).format("%Y-%m-%d %H:%M:%S%.6f").to_string()
            );
        }
    }

    #[test]
    fn metadata_round_trips_through_json() {
        let meta = TransitionMeta {
            reason: "r".into(),
            actor: "engine".into(),
            error_class: Some("E".into()),
            error_message: None,
            duration_ms: Some(1.25),
            attempt: Some(2),
            extra: Some(json!({"k": [1, 2]})),
        };
        assert_eq!(meta_from_json(meta.to_json()), meta);
        let plain = TransitionMeta::engine("x");
        assert_eq!(meta_from_json(plain.to_json()), plain);
    }
}
