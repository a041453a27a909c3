//! Recurring schedules on `TaskerCore::Native::Engine`: `start_schedules` (the engine's
//! thread that submits each cron occurrence once) and `schedule_stats`. Conversions only:
//! when an occurrence is due and how it stays unique is `tasker_engine`'s.

use super::Engine;
use crate::helpers::convert::to_json;
use crate::helpers::errors::{error, guard};
use crate::helpers::view::{to_ruby, Keys};
use magnus::{Error, RArray, Ruby, Value};
use serde::Serialize;
use std::time::Duration;
use tasker_engine::{ScheduleSpec, SubmitRequest};
use tasker_model::TaskerError;

/// One schedule as `TaskerCore::Engine` hands it over:
/// `[name, cron, task, namespace, version, context, catch_up]`.
type Row = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Value,
    Option<f64>,
);

fn read_row(row: RArray) -> Result<Row, Error> {
    Ok((
        row.entry(0)?,
        row.entry(1)?,
        row.entry(2)?,
        row.entry(3)?,
        row.entry(4)?,
        row.entry(5)?,
        row.entry(6)?,
    ))
}

/// `schedule_stats`: [`tasker_engine::ScheduleStats`] with times as ISO 8601 text.
#[derive(Serialize)]
struct Stats {
    name: String,
    cron: String,
    created: u64,
    existing: u64,
    failed: u64,
    last_occurrence: Option<String>,
    next_occurrence: Option<String>,
    last_error: Option<String>,
}

/// A refused schedule is a `TaskerCore::ConfigurationError` (it comes from configuration).
fn configuration(e: TaskerError) -> Error {
    match e {
        TaskerError::Validation { .. } => error("ConfigurationError", e.to_string()),
        other => crate::helpers::errors::to_ruby(other),
    }
}

impl Engine {
    /// `start_schedules(rows)`: parses every schedule (see [`Row`]) and starts the thread
    /// submitting their occurrences; a bad cron expression or unknown task raises
    /// `ConfigurationError` naming the schedule, and nothing starts.
    pub(super) fn start_schedules(ruby: &Ruby, rb_self: &Self, rows: RArray) -> Result<(), Error> {
        guard(|| {
            let mut specs = Vec::with_capacity(rows.len());
            for i in 0..rows.len() {
                let row: RArray = rows.entry(i as isize)?;
                let (name, cron, task, namespace, version, context, catch_up) = read_row(row)?;
                let context = to_json(ruby, context, || format!("schedule {name:?} context"))?;
                let catch_up = match catch_up {
                    None => None,
                    Some(s) if s.is_finite() && s >= 0.0 => Some(Duration::from_secs_f64(s)),
                    Some(s) => {
                        return Err(error(
                            "ConfigurationError",
                            format!("schedule {name:?}: catch_up must be seconds >= 0, got {s}"),
                        ))
                    }
                };
                specs.push(ScheduleSpec {
                    request: SubmitRequest {
                        name: task,
                        namespace,
                        version,
                        context,
                        start: true,
                        ..SubmitRequest::default()
                    },
                    name,
                    cron,
                    catch_up,
                });
            }
            rb_self
                .live()?
                .start_schedules(specs)
                .map_err(configuration)
        })
    }

    /// `schedule_stats`: what each schedule did so far in this engine (see `Stats`).
    pub(super) fn schedule_stats(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        let stats: Vec<Stats> = rb_self
            .inner
            .schedule_stats()
            .into_iter()
            .map(|s| Stats {
                name: s.name,
                cron: s.cron,
                created: s.created,
                existing: s.existing,
                failed: s.failed,
                last_occurrence: s.last_occurrence.map(|t| t.to_rfc3339()),
                next_occurrence: s.next_occurrence.map(|t| t.to_rfc3339()),
                last_error: s.last_error,
            })
            .collect();
        to_ruby(ruby, &stats, Keys::Symbol)
    }
}
