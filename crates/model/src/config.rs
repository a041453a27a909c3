//! Engine configuration.
//!
//! The binding builds this from keyword arguments, naming the keyword when a value is bad.

/// Knobs that change how the engine behaves (not what it computes).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Multiplies every retry delay. 1.0 in production; tests use e.g. 0.001 to run the real
    /// 1, 2, 4 … schedule in milliseconds.
    pub backoff_scale: f64,
    /// Capacity of each Rust-side event subscriber's buffer.
    pub event_buffer: usize,
    /// How long a step's attempt may run when its template gives no timeout; `None` (the
    /// default): no limit.
    pub step_timeout: Option<std::time::Duration>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            backoff_scale: 1.0,
            event_buffer: 65_536,
            step_timeout: None,
        }
    }
}
