//! Recurring schedules (issue 17, item 5): tasks submitted at the occurrences of a cron
//! expression, each occurrence once even with several engines on one database.
//!
//! [`Engine::start_schedules`] parses every schedule (a bad cron expression or an unknown
//! task is refused, naming the schedule, before anything starts) and starts one Rust-owned
//! thread (`tasker-schedules`) that sleeps until the next occurrence of any schedule and
//! submits it through the idempotent submission ([`Engine::submit_identified`]) with a
//! `caller_provided` identity `schedule:<name>:<occurrence, RFC 3339 UTC>`: every engine
//! running the same schedule computes the same key, and the unique `identity_hash` index
//! lets one task per occurrence through (the others get the existing task).
//!
//! Missed occurrences (the engine was down, or the thread fell behind): by default they are
//! skipped and the next one ahead is waited for; with `catch_up` seconds, the latest missed
//! occurrence no older than that is submitted once (never every missed one).
//!
//! Cron expressions are read by the `croner` crate: 5 fields (minute precision) or 6 with
//! seconds first, evaluated in UTC. This file must not decide how a task runs: it only
//! submits.

use super::background::Background;
use super::{Engine, SubmitRequest};
use crate::identity::{Identity, IdentityStrategy};
use crossbeam_channel::{select, Receiver};
use parking_lot::Mutex;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tasker_model::{TaskerError, TaskerResult, Timestamp};

/// One recurring schedule as configured.
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    /// The schedule's key: part of every occurrence's identity, so keep it stable.
    pub name: String,
    pub cron: String,
    /// What each occurrence submits (task name, namespace, version, context, labels).
    pub request: SubmitRequest,
    /// Submit the latest missed occurrence no older than this (see the module docs).
    pub catch_up: Option<Duration>,
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub spec: ScheduleSpec,
    cron: croner::Cron,
}

/// Most occurrences walked to find the latest missed one (a per-second schedule missed for
/// a day is 86,400).
const MAX_WALK: usize = 200_000;

impl Schedule {
    /// Parses `spec.cron`; a bad expression is a validation error naming the schedule.
    pub fn parse(spec: ScheduleSpec) -> TaskerResult<Schedule> {
        let bad =
            |message: String| TaskerError::validation(format!("schedule {:?}", spec.name), message);
        if spec.name.is_empty() {
            return Err(bad("the schedule's name must not be empty".into()));
        }
        let fields = spec.cron.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(bad(format!(
                "cron {:?} has {fields} fields; expected 5 (minute hour day month weekday) or 6 (second first)",
                spec.cron
            )));
        }
        let cron = croner::Cron::new(&spec.cron)
            .with_seconds_optional()
            .parse()
            .map_err(|e| bad(format!("cron {:?} is not valid: {e}", spec.cron)))?;
        let schedule = Schedule { spec, cron };
        if schedule.next_after(Timestamp::now()).is_none() {
            return Err(TaskerError::validation(
                format!("schedule {:?}", schedule.spec.name),
                format!("cron {:?} never occurs", schedule.spec.cron),
            ));
        }
        Ok(schedule)
    }

    /// The first occurrence strictly after `t`.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let at = chrono::DateTime::from_timestamp_micros(t.as_micros())?;
        let next = self.cron.find_next_occurrence(&at, false).ok()?;
        Some(Timestamp(next.timestamp_micros()))
    }

    /// The occurrence to submit next when every occurrence up to `done` was handled and it
    /// is `now`: the next one if it is still ahead; else (missed) the latest missed one when
    /// `catch_up` allows it, or the first one after `now`.
    pub fn next_occurrence(&self, done: Timestamp, now: Timestamp) -> Option<Timestamp> {
        let first = self.next_after(done)?;
        if first > now {
            return Some(first);
        }
        if let Some(window) = self.spec.catch_up {
            let mut latest = first;
            for _ in 0..MAX_WALK {
                match self.next_after(latest) {
                    Some(n) if n <= now => latest = n,
                    _ => break,
                }
            }
            if now.seconds_since(latest) <= window.as_secs_f64() {
                return Some(latest);
            }
        }
        self.next_after(now)
    }

    /// Where the thread starts: as if everything before `now - catch_up` was handled.
    pub fn start_from(&self, now: Timestamp) -> Timestamp {
        match self.spec.catch_up {
            Some(window) => now.plus_seconds(-window.as_secs_f64()),
            None => now,
        }
    }

    /// The idempotency key of the occurrence at `at`.
    pub fn occurrence_key(&self, at: Timestamp) -> String {
        format!("schedule:{}:{}", self.spec.name, at.to_rfc3339())
    }
}

/// What one schedule did so far in this engine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScheduleStats {
    pub name: String,
    pub cron: String,
    /// Occurrences this engine created a task for.
    pub created: u64,
    /// Occurrences whose task existed already (another engine, or an earlier run, made it).
    pub existing: u64,
    /// Occurrences whose submission failed (`last_error` says why).
    pub failed: u64,
    pub last_occurrence: Option<Timestamp>,
    pub next_occurrence: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// The engine's schedules: their counts and the thread.
#[derive(Default)]
pub(crate) struct Schedules {
    stats: Arc<Mutex<Vec<ScheduleStats>>>,
    thread: Background,
}

/// How long one occurrence's submission waits for its commit.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);

impl Engine {
    /// Parses `specs` and starts the schedules' thread (see the module documentation). Once
    /// per engine; nothing starts when any schedule is refused.
    pub fn start_schedules(self: &Arc<Self>, specs: Vec<ScheduleSpec>) -> TaskerResult<()> {
        let mut schedules = Vec::with_capacity(specs.len());
        for spec in specs {
            if schedules
                .iter()
                .any(|s: &Schedule| s.spec.name == spec.name)
            {
                return Err(TaskerError::validation(
                    format!("schedule {:?}", spec.name),
                    "is configured twice",
                ));
            }
            let r = &spec.request;
            self.registry
                .find(&r.name, r.namespace.as_deref(), r.version.as_deref())
                .map_err(|e| {
                    TaskerError::validation(format!("schedule {:?}", spec.name), e.to_string())
                })?;
            schedules.push(Schedule::parse(spec)?);
        }
        if schedules.is_empty() {
            return Ok(());
        }
        let first_stats: Vec<ScheduleStats> = schedules
            .iter()
            .map(|s| ScheduleStats {
                name: s.spec.name.clone(),
                cron: s.spec.cron.clone(),
                ..ScheduleStats::default()
            })
            .collect();
        let (engine, stats) = (Arc::downgrade(self), self.schedules.stats.clone());
        self.schedules.thread.start(
            "schedules",
            || self.is_stopped(),
            || {
                *self.schedules.stats.lock() = first_stats;
                || ()
            },
            move |stopped| run(engine, schedules, stats, stopped),
        )
    }

    /// Stops the schedules' thread, if any, and waits for it (it ends after the submission
    /// in progress). Part of `stop`.
    pub fn stop_schedules(&self) {
        // The thread itself may drop the last handle (and so stop the engine): `stop` does
        // not wait for itself.
        self.schedules.thread.stop();
    }

    /// What each schedule did so far (see [`ScheduleStats`]).
    pub fn schedule_stats(&self) -> Vec<ScheduleStats> {
        self.schedules.stats.lock().clone()
    }
}

/// The thread's loop: wait for the earliest next occurrence (or the stop signal), submit
/// it, compute that schedule's next one.
fn run(
    engine: Weak<Engine>,
    schedules: Vec<Schedule>,
    stats: Arc<Mutex<Vec<ScheduleStats>>>,
    stopped: Receiver<()>,
) {
    let now = Timestamp::now();
    let mut next: Vec<Option<Timestamp>> = schedules
        .iter()
        .map(|s| s.next_occurrence(s.start_from(now), now))
        .collect();
    loop {
        {
            let mut stats = stats.lock();
            for (st, n) in stats.iter_mut().zip(&next) {
                st.next_occurrence = *n;
            }
        }
        let Some((i, at)) = next
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.map(|n| (i, n)))
            .min_by_key(|(_, n)| *n)
        else {
            return;
        };
        let wait = at.seconds_since(Timestamp::now());
        if wait > 0.0 {
            // Woken early by nothing but the stop signal; a long wait is re-checked each
            // minute so a changed wall clock is noticed.
            select! {
                recv(stopped) -> _ => return,
                default(Duration::from_secs_f64(wait.min(60.0))) => continue,
            }
        }
        let Some(engine) = engine.upgrade() else {
            return;
        };
        // Counted after, not under the lock: a reader of the counts (a Ruby thread holding
        // the GVL) must not wait for a commit.
        let outcome = submit(&engine, &schedules[i], at);
        drop(engine);
        count(&mut stats.lock()[i], at, outcome);
        next[i] = schedules[i].next_occurrence(at, Timestamp::now());
        if !matches!(
            stopped.try_recv(),
            Err(crossbeam_channel::TryRecvError::Empty)
        ) {
            return;
        }
    }
}

/// Submits schedule `s`'s occurrence at `at` once (by its identity): whether this call
/// created its task.
fn submit(engine: &Engine, s: &Schedule, at: Timestamp) -> TaskerResult<bool> {
    let identity = Identity {
        strategy: IdentityStrategy::CallerProvided,
        key: Some(s.occurrence_key(at)),
        window: None,
    };
    let mut request = s.spec.request.clone();
    request.start = true;
    if request.source_system.is_none() {
        request.source_system = Some("tasker_core_schedule".into());
    }
    if request.reason.is_none() {
        let mut reason = format!("schedule {} at {}", s.spec.name, at.to_rfc3339());
        // Tasker's tasks table keeps 128 characters of a reason.
        if let Some((cut, _)) = reason.char_indices().nth(128) {
            reason.truncate(cut);
        }
        request.reason = Some(reason);
    }
    let result = engine.submit_identified(request, &identity, COMMIT_TIMEOUT);
    if let Err(e) = &result {
        if !engine.is_stopped() {
            tasker_metrics::log_error!(
                "tasker-core: schedule {} could not submit its occurrence at {}: {e}",
                s.spec.name,
                at.to_rfc3339()
            );
        }
    }
    result.map(|done| done.created)
}

/// Counts an occurrence's outcome.
fn count(stats: &mut ScheduleStats, at: Timestamp, outcome: TaskerResult<bool>) {
    stats.last_occurrence = Some(at);
    match outcome {
        Ok(true) => stats.created += 1,
        Ok(false) => stats.existing += 1,
        Err(e) => {
            stats.failed += 1;
            stats.last_error = Some(e.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(cron: &str, catch_up: Option<u64>) -> TaskerResult<Schedule> {
        Schedule::parse(ScheduleSpec {
            name: "nightly".into(),
            cron: cron.into(),
            request: SubmitRequest::default(),
            catch_up: catch_up.map(Duration::from_secs),
        })
    }

    fn at(text: &str) -> Timestamp {
        let t = chrono::DateTime::parse_from_rfc3339(text).unwrap();
        Timestamp(t.timestamp_micros())
    }

    /// Asserts that `s`'s first occurrence strictly after `after` is `expected` (both RFC 3339).
    #[track_caller]
    fn assert_next_after(s: &Schedule, after: &str, expected: &str) {
        assert_eq!(s.next_after(at(after)), Some(at(expected)), "after {after}");
    }

    #[test]
    fn five_fields_are_minutes_in_utc() {
        let s = schedule("0 2 * * *", None).unwrap();
        let next = s.next_after(at("2026-12-04T05:30:00Z")).unwrap();
        assert_eq!(next, at("2026-12-05T02:00:00Z"));
        assert_eq!(s.next_after(next), Some(at("2026-12-06T02:00:00Z")));
    }

    #[test]
    fn six_fields_have_seconds_first() {
        let s = schedule("*/2 * * * * *", None).unwrap();
        assert_next_after(&s, "2026-12-04T05:30:00.500Z", "2026-12-04T05:30:02Z");
        // Strictly after: an occurrence is never its own successor.
        assert_next_after(&s, "2026-12-04T05:30:02Z", "2026-12-04T05:30:04Z");
    }

    #[test]
    fn weekdays_count_from_sunday_as_in_cron() {
        // 2026-12-04 is a Friday; weekday 1 is Monday.
        let s = schedule("0 9 * * 1", None).unwrap();
        assert_next_after(&s, "2026-12-04T00:00:00Z", "2026-12-07T09:00:00Z");
    }

    #[test]
    fn bad_expressions_name_the_schedule() {
        for cron in [
            "",
            "* * *",
            "61 * * * *",
            "0 2 * * * * *",
            "every day",
            "0 25 * * *",
        ] {
            let e = schedule(cron, None).unwrap_err().to_string();
            assert!(e.contains("schedule \"nightly\""), "{cron:?}: {e}");
        }
    }

    #[test]
    fn missed_occurrences_are_skipped_without_catch_up() {
        let s = schedule("0 2 * * *", None).unwrap();
        // Down from the 3rd to the 5th at noon: the 4th and 5th at 02:00 were missed.
        let next = s.next_occurrence(at("2026-12-03T03:00:00Z"), at("2026-12-05T12:00:00Z"));
        assert_eq!(next, Some(at("2026-12-06T02:00:00Z")));
    }

    #[test]
    fn catch_up_submits_the_latest_missed_occurrence_once() {
        let s = schedule("0 2 * * *", Some(12 * 3600)).unwrap();
        let now = at("2026-12-05T12:00:00Z");
        let next = s.next_occurrence(at("2026-12-03T03:00:00Z"), now);
        assert_eq!(next, Some(at("2026-12-05T02:00:00Z")));
        // Once handled, the next is tomorrow's, not the 4th's.
        assert_eq!(
            s.next_occurrence(next.unwrap(), now),
            Some(at("2026-12-06T02:00:00Z"))
        );
        // Older than the window: skipped.
        let late = at("2026-12-05T15:00:00Z");
        assert_eq!(
            s.next_occurrence(at("2026-12-03T03:00:00Z"), late),
            Some(at("2026-12-06T02:00:00Z"))
        );
        // At start, the window reaches back from now.
        assert_eq!(
            s.next_occurrence(s.start_from(now), now),
            Some(at("2026-12-05T02:00:00Z"))
        );
    }

    #[test]
    fn occurrence_keys_name_schedule_and_time() {
        let s = schedule("0 2 * * *", None).unwrap();
        let key = s.occurrence_key(at("2026-12-05T02:00:00Z"));
        assert!(
            key.starts_with("schedule:nightly:2026-12-05T02:00:00"),
            "{key}"
        );
        assert_ne!(key, s.occurrence_key(at("2026-12-06T02:00:00Z")));
    }
}
