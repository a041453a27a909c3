//! Engine-side retry backoff (TASKER.md, "Retry backoff (engine side)").
//!
//! Delays are 1, 2, 4, 8, 16, 32 s for attempts 1..=6, then attempt², capped at 300 s, with
//! ±10 % jitter. A handler may ask for its own delay (an HTTP Retry-After, say); it is capped
//! the same way and is not jittered, because the handler asked for that time exactly.

/// The cap on any retry delay, in seconds.
pub const MAX_BACKOFF_SECONDS: f64 = 300.0;

/// The base delay before retry number `attempts` (the count of failures so far, ≥ 1), in
/// seconds, before jitter and scaling.
pub fn base_delay_seconds(attempts: u32) -> f64 {
    let attempts = attempts.max(1);
    let delay = if attempts <= 6 {
        f64::from(1u32 << (attempts - 1))
    } else {
        f64::from(attempts) * f64::from(attempts)
    };
    delay.min(MAX_BACKOFF_SECONDS)
}

/// The delay to wait before the next attempt.
///
/// `requested` is a handler-requested delay; `jitter` is a number in [0, 1) (the caller owns
/// the randomness so this stays pure); `scale` multiplies the result so tests can run the real
/// schedule in milliseconds.
pub fn retry_delay_seconds(attempts: u32, requested: Option<f64>, jitter: f64, scale: f64) -> f64 {
    let seconds = match requested {
        Some(r) => r.clamp(0.0, MAX_BACKOFF_SECONDS),
        None => {
            let base = base_delay_seconds(attempts);
            (base * (0.9 + 0.2 * jitter)).min(MAX_BACKOFF_SECONDS)
        }
    };
    seconds * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_doubles_then_squares_then_caps() {
        let got: Vec<f64> = (1..=20).map(base_delay_seconds).collect();
        assert_eq!(&got[..6], &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0]);
        assert_eq!(got[6], 49.0);
        assert_eq!(got[16], 289.0);
        assert_eq!(got[17], 300.0);
        assert_eq!(got[19], 300.0);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        assert_eq!(retry_delay_seconds(3, None, 0.0, 1.0), 4.0 * 0.9);
        assert!((retry_delay_seconds(3, None, 0.999_999, 1.0) - 4.4).abs() < 1e-5);
        assert_eq!(retry_delay_seconds(30, None, 0.999_999, 1.0), 300.0);
    }

    #[test]
    fn requested_delay_is_honoured_and_capped() {
        assert_eq!(retry_delay_seconds(1, Some(42.0), 0.5, 1.0), 42.0);
        assert_eq!(retry_delay_seconds(1, Some(9999.0), 0.5, 1.0), 300.0);
        assert_eq!(retry_delay_seconds(1, Some(-5.0), 0.5, 1.0), 0.0);
    }

    #[test]
    fn scale_shrinks_the_whole_schedule() {
        assert!((retry_delay_seconds(2, None, 0.5, 0.001) - 0.002).abs() < 1e-12);
    }
}
