//! The `guardduty-alerts` command line (see `guardduty_alerts::cli`).

fn main() -> std::process::ExitCode {
    guardduty_alerts::cli::main()
}
