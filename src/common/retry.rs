//! Retrying: one jittered exponential backoff for every destination and store, and the reason
//! given for what is not sent because the invocation's deadline is near.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why an alert was not sent: the invocation's deadline is near.
pub const DEADLINE: &str =
    "not sent: the invocation's deadline is near (it fails so that the alert is retried)";

/// Exponential backoff with ±50% jitter, shared by every destination: `base` × 4^(retry-1), at
/// most `max`, times a factor from 0.5 to 1.5.
pub fn backoff(base: Duration, retry: u32, max: Duration) -> Duration {
    let exp = base
        .saturating_mul(4u32.saturating_pow(retry.saturating_sub(1)))
        .min(max);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    exp.mul_f64(0.5 + f64::from(nanos % 1000) / 1000.0)
}
