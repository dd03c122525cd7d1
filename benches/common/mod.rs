//! Helpers shared by the bench programs (`#[path]`-included; not a bench target itself).

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
