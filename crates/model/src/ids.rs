//! Identifiers and time.
//!
//! Ids are `i64` because Tasker's tables use `bigint` keys and Ruby Integers convert to `i64`
//! without allocation. Timestamps are microseconds since the Unix epoch in UTC: a plain
//! integer keeps readiness evaluation branch-light and matches PostgreSQL's resolution.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A task's id (`tasker_tasks.task_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskId(pub i64);

/// A workflow step's id (`tasker_workflow_steps.workflow_step_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StepId(pub i64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A UTC instant with microsecond resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current wall-clock time, read without building a calendar date and taking it
    /// apart again as `chrono::Utc::now().timestamp_micros()` did (that round trip was ~230
    /// of the instructions of each `complete_step` call; issue 15 item 6).
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// `t` in whole microseconds, rounded down as chrono's `DateTime::<Utc>::from(t)` rounds
    /// (before 1970 too, where `Utc::now()` would have panicked).
    pub fn from_system_time(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(since) => Timestamp(since.as_micros() as i64),
            Err(e) => Timestamp(-(e.duration().as_nanos().div_ceil(1000) as i64)),
        }
    }

    /// Builds a timestamp from whole seconds since the epoch.
    pub const fn from_secs(secs: i64) -> Self {
        Timestamp(secs * 1_000_000)
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// This instant moved forward by `seconds` (which may be fractional).
    pub fn plus_seconds(self, seconds: f64) -> Self {
        Timestamp(self.0 + (seconds * 1_000_000.0).round() as i64)
    }

    /// Seconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn seconds_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0) as f64 / 1_000_000.0
    }

    /// RFC 3339 text, as event contexts and logs show it.
    pub fn to_rfc3339(self) -> String {
        chrono::DateTime::from_timestamp_micros(self.0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            .unwrap_or_else(|| format!("@{}us", self.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    #[test]
    fn system_times_round_as_chrono_rounds_them() {
        use std::time::{Duration, SystemTime, UNIX_EPOCH};
        let nanos: [u64; 12] = [
            0,
            1,
            999,
            1_000,
            1_001,
            1_999,
            123_456_789,
            1_000_000_000,
            1_733_400_000_123_456_789,
            u32::MAX as u64,
            86_399_999_999_999,
            4_102_444_800_000_000_001,
        ];
        for n in nanos {
            let d = Duration::from_nanos(n);
            for t in [UNIX_EPOCH + d, UNIX_EPOCH - d] {
                let chrono = chrono::DateTime::<chrono::Utc>::from(t).timestamp_micros();
                assert_eq!(Timestamp::from_system_time(t).as_micros(), chrono, "{t:?}");
            }
        }
        let now = SystemTime::now();
        assert_eq!(
            Timestamp::from_system_time(now).as_micros(),
            chrono::DateTime::<chrono::Utc>::from(now).timestamp_micros()
        );
    }
}
