//! `guardduty-alerts check-config FILE`: load and check a rules file, and say what it does.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use super::RulesConfig;

/// Checks the rules file at `path`. On success prints the configuration's summary to `out`
/// (and any warnings to `err`) and returns 0; otherwise prints every error to `err` and
/// returns 2. Never prints a credential: the file holds only references to them.
pub fn check_config(path: &Path, out: &mut impl Write, err: &mut impl Write) -> ExitCode {
    match RulesConfig::from_file(path) {
        Ok(config) => {
            for w in config.warnings() {
                let _ = writeln!(err, "warning: {w}");
            }
            let _ = writeln!(out, "{}", config.summary());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors.errors {
                let _ = writeln!(err, "error: {e}");
            }
            let n = errors.errors.len();
            let _ = writeln!(
                err,
                "{}: {n} error{} found; nothing was loaded",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
            ExitCode::from(2)
        }
    }
}
