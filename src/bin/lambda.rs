//! The Lambda function binary (`bootstrap` on `provided.al2023`). Configuration and AWS clients
//! are built once per cold start; a bad setting fails the cold start with a message naming it.

use guardduty_alerts::lambda::{App, Config, handle};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    guardduty_alerts::lambda::init_logging();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let sdk = guardduty_alerts::aws::load_config().await;
    let app = App::new(config, &sdk);
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(app, event.payload).await
    }))
    .await
}
