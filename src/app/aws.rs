//! AWS SDK set-up, built once per process: one lean HTTPS client (rustls + ring), the default
//! credential chain, and `AWS_ENDPOINT_URL` honoured (for local stand-ins such as moto).

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Loads the shared SDK configuration from the environment (region, credentials, endpoint).
pub async fn load_config() -> SdkConfig {
    let http = Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

/// An S3 client. With a custom endpoint (`AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_S3`, e.g. a local
/// stand-in on 127.0.0.1) requests use path-style addressing, which such endpoints need.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let custom_endpoint =
        config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let s3 = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(custom_endpoint)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

/// An SNS client.
pub fn sns_client(config: &SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(config)
}

/// A DynamoDB client (the dedup table, [`crate::state`]).
pub fn dynamodb_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}
