//! Fuzz target `trigger_event`: see [`guardduty_alerts_fuzz::trigger_event`] for what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: guardduty_alerts_fuzz::allow_from_env(),
    |data: &[u8]| {
        if let Err(e) = guardduty_alerts_fuzz::trigger_event(data) {
            panic!("invariant violated: {e}");
        }
    }
);
