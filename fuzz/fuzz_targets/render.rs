//! Fuzz target `render`: see [`guardduty_alerts_fuzz::render`] for what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: guardduty_alerts_fuzz::allow_from_env(),
    |data: &[u8]| {
        if let Err(e) = guardduty_alerts_fuzz::render(data) {
            panic!("invariant violated: {e}");
        }
    }
);
