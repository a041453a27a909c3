//! Retention on `TaskerCore::Native::Engine`: `start_retention` (the engine's thread that
//! deletes expired finished tasks), `purge_finished` (one run now, for
//! `rake tasker_core:cleanup`), `expired_tasks` and `purge_exported` (the two halves of a
//! run the Ruby side drives when an export hook must see the tasks first) and
//! `retention_stats` (what was deleted, for Insights).
//! Conversions only: what expires and how it is deleted is the engine's and the store's.

use super::Engine;
use crate::helpers::convert::{to_i64, to_seconds};
use crate::helpers::errors::{guard, invalid, to_ruby as err};
use crate::helpers::view::{to_ruby, Keys};
use magnus::{prelude::*, Error, RArray, Ruby, Value};
use serde::Serialize;
use std::time::Duration;
use tasker_engine::RetentionSettings;
use tasker_model::TaskId;

/// A batch size from Ruby: a positive Integer, or nil for the default.
fn batch(v: Value, what: &str) -> Result<usize, Error> {
    if v.is_nil() {
        return Ok(RetentionSettings::DEFAULT_BATCH);
    }
    let n = to_i64(v, what)?;
    if n < 1 {
        return Err(invalid(what, format!("must be at least 1, got {n}")));
    }
    Ok(n as usize)
}

/// `retention_stats`: [`tasker_engine::RetentionStats`] with times as ISO 8601 text.
#[derive(Serialize)]
struct Stats {
    enabled: bool,
    retention_seconds: Option<f64>,
    interval_seconds: Option<f64>,
    batch_size: Option<usize>,
    runs: u64,
    deleted_tasks: u64,
    deleted_steps: u64,
    last_run_at: Option<String>,
    last_run_tasks: u64,
    last_run_seconds: f64,
    last_error: Option<String>,
}

/// `purge_finished`'s and `purge_exported`'s answer.
#[derive(Serialize)]
struct Deleted {
    deleted_tasks: u64,
    deleted_steps: u64,
}

impl Deleted {
    /// What the engine deleted, as `{deleted_tasks:, deleted_steps:}`.
    fn to_ruby(ruby: &Ruby, deleted: tasker_engine::Deleted) -> Result<Value, Error> {
        let answer = Deleted {
            deleted_tasks: deleted.tasks,
            deleted_steps: deleted.steps,
        };
        to_ruby(ruby, &answer, Keys::Symbol)
    }
}

impl Engine {
    /// `start_retention(keep, interval, batch)`: deletes tasks finished more than `keep`
    /// seconds ago, every `interval` seconds (nil: half of `keep`, between 0.1 and 60),
    /// `batch` per transaction (nil: 1,000).
    pub(super) fn start_retention(
        &self,
        keep: Value,
        interval: Value,
        size: Value,
    ) -> Result<(), Error> {
        guard(|| {
            let keep = to_seconds(keep, "retention")?;
            let mut settings = RetentionSettings::keeping(keep);
            if !interval.is_nil() {
                settings.interval = to_seconds(interval, "retention_interval")?;
                if settings.interval.is_zero() {
                    return Err(invalid("retention_interval", "must be above 0 seconds"));
                }
            }
            settings.batch = batch(size, "retention_batch")?;
            self.live()?.start_retention(settings).map_err(err)
        })
    }

    /// `purge_finished(older_than, batch)`: deletes now, with the GVL released, every task
    /// finished more than `older_than` seconds ago; `{deleted_tasks:, deleted_steps:}`.
    pub(super) fn purge_finished(
        ruby: &Ruby,
        rb_self: &Self,
        older_than: Value,
        size: Value,
    ) -> Result<Value, Error> {
        guard(|| {
            let older_than: Duration = to_seconds(older_than, "older_than")?;
            let size = batch(size, "batch_size")?;
            let purged = rb_self.off_gvl("deleting finished tasks", |engine| {
                engine.purge_finished(older_than, size)
            })?;
            Deleted::to_ruby(ruby, purged)
        })
    }

    /// `expired_tasks(older_than, limit)`: with the GVL released, the ids (Integers) of up
    /// to `limit` tasks finished more than `older_than` seconds ago, oldest first, deleting
    /// nothing (a batch for the export hook).
    pub(super) fn expired_tasks(&self, older_than: Value, limit: Value) -> Result<Vec<i64>, Error> {
        guard(|| {
            let older_than: Duration = to_seconds(older_than, "older_than")?;
            let limit = batch(limit, "batch_size")?;
            let ids = self.off_gvl("reading expired finished tasks", |engine| {
                engine.expired_tasks(older_than, limit)
            })?;
            Ok(ids.into_iter().map(|id| id.0).collect())
        })
    }

    /// `purge_exported(older_than, ids)`: with the GVL released, deletes those of `ids`
    /// still finished more than `older_than` seconds ago; `{deleted_tasks:, deleted_steps:}`.
    pub(super) fn purge_exported(
        ruby: &Ruby,
        rb_self: &Self,
        older_than: Value,
        ids: RArray,
    ) -> Result<Value, Error> {
        guard(|| {
            let older_than: Duration = to_seconds(older_than, "older_than")?;
            let ids = (0..ids.len())
                .map(|i| to_i64(ids.entry::<Value>(i as isize)?, "task id").map(TaskId))
                .collect::<Result<Vec<_>, _>>()?;
            let purged = rb_self.off_gvl("deleting exported finished tasks", |engine| {
                engine.purge_exported(older_than, &ids)
            })?;
            Deleted::to_ruby(ruby, purged)
        })
    }

    /// `retention_stats`: what retention deleted so far in this engine (see `Stats`).
    pub(super) fn retention_stats(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        let s = rb_self.inner.retention_stats();
        let stats = Stats {
            enabled: s.settings.is_some(),
            retention_seconds: s.settings.map(|s| s.keep.as_secs_f64()),
            interval_seconds: s.settings.map(|s| s.interval.as_secs_f64()),
            batch_size: s.settings.map(|s| s.batch),
            runs: s.runs,
            deleted_tasks: s.deleted_tasks,
            deleted_steps: s.deleted_steps,
            last_run_at: s.last_run_at.map(|t| t.to_rfc3339()),
            last_run_tasks: s.last_run_tasks,
            last_run_seconds: s.last_run_seconds,
            last_error: s.last_error,
        };
        to_ruby(ruby, &stats, Keys::Symbol)
    }
}
