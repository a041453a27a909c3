//! Latency histograms of the engine's operations, and the Prometheus text of them.
//!
//! Recording must cost next to nothing on paths that run a million times a second, so a
//! histogram is a fixed array of atomic counters over power-of-two buckets (no lock, no
//! allocation); quantiles read from it are bucket estimates (within a factor of √2).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets: `[0, 256 ns)`, then doubling up to `2^(8+BUCKETS-2)` ns (about 69 s), then
/// everything above.
const BUCKETS: usize = 30;
const FIRST_BUCKET_LOG2: u32 = 8;

/// One operation's latencies.
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }
}

/// Upper bound, in nanoseconds, of bucket `i` (the last bucket has none).
fn bucket_upper_ns(i: usize) -> Option<u64> {
    (i + 1 < BUCKETS).then(|| 1u64 << (FIRST_BUCKET_LOG2 + i as u32))
}

impl Histogram {
    /// Records one operation that took `elapsed`.
    #[inline]
    pub fn record(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let log2 = 64 - ns.leading_zeros(); // bits needed: ns < 2^log2
        let i = (log2.saturating_sub(FIRST_BUCKET_LOG2) as usize).min(BUCKETS - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// A consistent-enough copy (each counter read once; a record racing the read may be
    /// half counted, which a monitoring read tolerates).
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            count: self.count.load(Ordering::Relaxed),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }
}

/// A histogram read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    pub buckets: [u64; BUCKETS],
    pub count: u64,
    pub sum_ns: u64,
}

impl HistogramSnapshot {
    /// Mean in seconds (0 when empty).
    pub fn mean_seconds(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_ns as f64 / self.count as f64 / 1e9
        }
    }

    /// The `q` quantile (0..=1) in seconds, as the geometric middle of the bucket it falls
    /// in (0 when empty).
    pub fn quantile_seconds(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let upper = bucket_upper_ns(i).unwrap_or(1u64 << 63) as f64;
                let lower = if i == 0 { 0.0 } else { upper / 2.0 };
                let middle = if i == 0 {
                    upper / 2.0
                } else {
                    (lower * upper).sqrt()
                };
                return middle / 1e9;
            }
        }
        0.0
    }
}

/// The operations the engine times. Boundary calls are timed by the binding around the
/// whole native method (conversions included); the rest inside the engine.
#[derive(Debug, Default)]
pub struct Metrics {
    /// `submit` from Ruby: context conversion, validation, hand-off to the orchestrator.
    pub submit: Histogram,
    /// A drain that returned steps (`next_steps`): taking the batch and building its Ruby
    /// objects; the wait for steps to become ready is not counted.
    pub drain: Histogram,
    /// `complete_step` from Ruby, results conversion included.
    pub complete: Histogram,
    /// `fail_step` from Ruby.
    pub fail: Histogram,
    /// The orchestrator applying a batch of reports: state rules, readiness of the
    /// children, dispatch of what became ready.
    pub readiness: Histogram,
    /// Steps completed in the last full second (a gauge the orchestrator sets each second).
    pub steps_last_second: AtomicU64,
}

impl Metrics {
    /// Name and snapshot of every histogram, in a fixed order.
    pub fn snapshot(&self) -> Vec<(&'static str, HistogramSnapshot)> {
        vec![
            ("submit", self.submit.snapshot()),
            ("drain", self.drain.snapshot()),
            ("complete", self.complete.snapshot()),
            ("fail", self.fail.snapshot()),
            ("readiness", self.readiness.snapshot()),
        ]
    }
}

/// The Prometheus text exposition (version 0.0.4) of `counters` (name, value; a name ending
/// in `_total`-worthy counts is exported as a counter, the rest as gauges — `gauges` lists
/// which) and `histograms` (seconds, cumulative `le` buckets).
pub fn prometheus_text(
    counters: &[(&'static str, u64)],
    gauges: &[&str],
    histograms: &[(&'static str, HistogramSnapshot)],
    extra_gauges: &[(&'static str, f64)],
) -> String {
    let mut out = String::with_capacity(8 * 1024);
    for (name, value) in counters {
        if gauges.contains(name) {
            let _ = writeln!(out, "# TYPE tasker_core_{name} gauge");
            let _ = writeln!(out, "tasker_core_{name} {value}");
        } else {
            let _ = writeln!(out, "# TYPE tasker_core_{name}_total counter");
            let _ = writeln!(out, "tasker_core_{name}_total {value}");
        }
    }
    for (name, value) in extra_gauges {
        let _ = writeln!(out, "# TYPE tasker_core_{name} gauge");
        let _ = writeln!(out, "tasker_core_{name} {value}");
    }
    for (name, h) in histograms {
        let metric = format!("tasker_core_{name}_duration_seconds");
        let _ = writeln!(out, "# TYPE {metric} histogram");
        let mut cumulative = 0;
        for (i, &n) in h.buckets.iter().enumerate() {
            cumulative += n;
            match bucket_upper_ns(i) {
                Some(upper) => {
                    let _ = writeln!(
                        out,
                        "{metric}_bucket{{le=\"{}\"}} {cumulative}",
                        upper as f64 / 1e9
                    );
                }
                None => {
                    let _ = writeln!(out, "{metric}_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let _ = writeln!(out, "{metric}_sum {}", h.sum_ns as f64 / 1e9);
        let _ = writeln!(out, "{metric}_count {}", h.count);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_land_in_power_of_two_buckets_and_quantiles_estimate_them() {
        let h = Histogram::default();
        for _ in 0..90 {
            h.record(Duration::from_micros(1)); // 1,000 ns: bucket [512, 1024)
        }
        for _ in 0..10 {
            h.record(Duration::from_millis(1)); // 1,000,000 ns: bucket [2^19, 2^20)
        }
        h.record(Duration::from_nanos(10)); // first bucket
        let s = h.snapshot();
        assert_eq!(s.count, 101);
        assert_eq!(s.buckets[0], 1);
        assert_eq!(s.buckets[2], 90, "{:?}", s.buckets);
        assert_eq!(s.buckets[12], 10, "{:?}", s.buckets);
        let p50 = s.quantile_seconds(0.5);
        assert!((512e-9..1024e-9).contains(&p50), "{p50}");
        let p99 = s.quantile_seconds(0.99);
        assert!((524_288e-9..1_048_576e-9).contains(&p99), "{p99}");
        assert_eq!(s.sum_ns, 90 * 1_000 + 10 * 1_000_000 + 10);
    }

    #[test]
    fn an_hour_lands_in_the_last_bucket() {
        let h = Histogram::default();
        h.record(Duration::from_secs(3600));
        assert_eq!(h.snapshot().buckets[BUCKETS - 1], 1);
    }

    #[test]
    fn prometheus_text_has_cumulative_buckets_ending_in_inf_and_typed_series() {
        let h = Histogram::default();
        h.record(Duration::from_micros(1));
        h.record(Duration::from_millis(1));
        let text = prometheus_text(
            &[("tasks_submitted", 3), ("steps_in_flight", 1)],
            &["steps_in_flight"],
            &[("submit", h.snapshot())],
            &[("steps_per_second", 2.5)],
        );
        assert!(text.contains("# TYPE tasker_core_tasks_submitted_total counter\ntasker_core_tasks_submitted_total 3\n"));
        assert!(text
            .contains("# TYPE tasker_core_steps_in_flight gauge\ntasker_core_steps_in_flight 1\n"));
        assert!(text.contains("tasker_core_steps_per_second 2.5\n"));
        assert!(text.contains("tasker_core_submit_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("tasker_core_submit_duration_seconds_count 2\n"));
        let counts: Vec<u64> = text
            .lines()
            .filter(|l| l.starts_with("tasker_core_submit_duration_seconds_bucket"))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(
            counts.windows(2).all(|w| w[0] <= w[1]),
            "cumulative: {counts:?}"
        );
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(name.starts_with("tasker_core_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
