//! Helpers shared by the bench programs (`#[path]`-included; not a bench target itself).
// Each bench uses some of them.
#![allow(dead_code)]

/// `", <model name>"` from `/proc/cpuinfo`, or nothing where that is not available.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, model)| format!(", {}", model.trim()))
        })
        .unwrap_or_default()
}

/// A number from the environment, or `default` when the variable is unset; a value that does not
/// parse stops the bench with the variable's name (`_` may group digits: `500_000`).
pub fn env_number<T>(name: &str, default: T) -> T
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|e| panic!("{name}={text:?} is not a whole number: {e}")),
        Err(std::env::VarError::NotPresent) => default,
        Err(e) => panic!("{name} is not usable: {e}"),
    }
}

/// [`env_number`] for a count: at least 1.
pub fn env_count(name: &str, default: usize) -> usize {
    let value = env_number(name, default);
    assert!(value > 0, "{name} must be at least 1");
    value
}

/// Median, p90 (nearest rank) and minimum of samples.
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub p90: f64,
    pub min: f64,
}

impl Summary {
    /// `None` for no samples.
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let mid = n / 2;
        let median = if n % 2 == 1 {
            sorted[mid]
        } else {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        };
        let rank = (n * 9).div_ceil(10).max(1);
        Some(Summary {
            n,
            median,
            p90: sorted[rank - 1],
            min: sorted[0],
        })
    }
}
