//! Retrying: one jittered exponential backoff for every destination and store, and the reason
//! given for what is not sent because the invocation's deadline is near.

use std::time::Duration;

/// Why an alert was not sent: the invocation's deadline is near.
pub const DEADLINE: &str =
    "not sent: the invocation's deadline is near (it fails so that the alert is retried)";

/// Exponential backoff with ±50% jitter, shared by every destination: `base` × 4^(retry-1), at
/// most `max`, times a factor from 0.5 to 1.5.
pub fn backoff(base: Duration, retry: u32, max: Duration) -> Duration {
    let exp = base
        .saturating_mul(4u32.saturating_pow(retry.saturating_sub(1)))
        .min(max);
    // fastrand: a per-thread wyrand generator, seeded once from the OS. (The clock's sub-second
    // digits it replaces are constant on a coarse clock: every retry got the same factor.)
    exp.mul_f64(0.5 + fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_jitters_each_retry_within_half_either_way() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(60);
        let waits: Vec<Duration> = (0..200).map(|_| backoff(base, 2, max)).collect();
        for w in &waits {
            assert!(
                (Duration::from_millis(200)..=Duration::from_millis(600)).contains(w),
                "{w:?}"
            );
        }
        // Spread, not one factor for every call made in the same instant (the clock-digit jitter
        // this replaced gave back-to-back calls the same wait).
        let distinct: std::collections::BTreeSet<_> = waits.iter().collect();
        assert!(
            distinct.len() > 150,
            "{} distinct waits of 200",
            distinct.len()
        );
        let mean = waits.iter().map(Duration::as_secs_f64).sum::<f64>() / 200.0;
        assert!(
            (0.35..0.45).contains(&mean),
            "mean {mean} s, expected about 0.4 s"
        );
        // Capped before the jitter.
        assert!(backoff(base, 10, max) <= max.mul_f64(1.5));
    }
}
