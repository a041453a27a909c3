//! The Prometheus text exposition (version 0.0.4) of a reading of [`Metrics`](crate::Metrics)
//! and the engine's levels. This file owns the format only; it must not decide which values
//! exist (that is `metrics.rs`) nor read anything live.

use crate::histogram::{bucket_upper_ns, HistogramSnapshot};
use std::fmt::Write;

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

/// A labelled gauge, `tasker_core_{name}{label="value",…} value` per row, with its TYPE
/// line; label values escaped as the exposition format wants. Nothing when `rows` is empty.
pub fn labelled_gauge_text(name: &str, rows: &[(Vec<(&str, String)>, f64)]) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        return out;
    }
    let _ = writeln!(out, "# TYPE tasker_core_{name} gauge");
    for (labels, value) in rows {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| {
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                format!("{k}=\"{v}\"")
            })
            .collect();
        let _ = writeln!(out, "tasker_core_{name}{{{}}} {value}", labels.join(","));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::Histogram;
    use std::time::Duration;

    #[test]
    fn labelled_gauges_escape_their_values() {
        let text = labelled_gauge_text(
            "processes",
            &[(
                vec![("role", "worker".into()), ("host", "a\"b".into())],
                3.0,
            )],
        );
        assert_eq!(
            text,
            "# TYPE tasker_core_processes gauge\ntasker_core_processes{role=\"worker\",host=\"a\\\"b\"} 3\n"
        );
        assert_eq!(labelled_gauge_text("processes", &[]), "");
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
