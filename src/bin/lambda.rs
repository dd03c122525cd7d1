//! The Lambda function binary (`bootstrap` on `provided.al2023`). Configuration and AWS clients
//! are built once per cold start (webhook secrets fetched then); a bad setting fails the cold
//! start with a message naming it, never a secret, reported to Lambda as the error
//! `InvalidSetting.NAME`.

use guardduty_alerts::lambda::{App, Config, delivery_deadline, handle_until, report_init_error};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    guardduty_alerts::lambda::init_logging();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => init_failed(e.setting(), &e.to_string()).await,
    };
    let sdk = guardduty_alerts::app::aws::function_config();
    let app = match App::new(config, &sdk).await {
        Ok(a) => a,
        Err(e) => init_failed(&e.setting, &e.to_string()).await,
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let deadline = delivery_deadline(event.context.deadline, now_ms);
        handle_until(app, event.payload, deadline).await
    }))
    .await
}

/// A cold start that cannot go on: logged, reported to the Runtime API (so the invocation's
/// error names the setting), then the process exits.
async fn init_failed(setting: &str, message: &str) -> ! {
    tracing::error!(setting, "{message}");
    report_init_error(setting, message).await;
    std::process::exit(1);
}
