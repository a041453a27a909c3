//! Latency histograms: where the time of an operation goes, at a cost recording paths that
//! run a million times a second can pay.
//!
//! A histogram is a fixed array of atomic counters over power-of-two buckets (no lock, no
//! allocation); quantiles read from it are bucket estimates (within a factor of √2). This file
//! owns the type and its arithmetic; which operations are timed is `metrics.rs`'s business,
//! and it must not know about any of them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets: `[0, 256 ns)`, then doubling up to `2^(8+BUCKETS-2)` ns (about 69 s), then
/// everything above.
pub const BUCKETS: usize = 30;
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
pub fn bucket_upper_ns(i: usize) -> Option<u64> {
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
}
