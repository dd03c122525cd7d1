//! AWS SDK set-up, built once per process: one lean HTTPS client (rustls + ring) and
//! `AWS_ENDPOINT_URL` honoured (for local stand-ins such as moto); for the CLI the default
//! credential chain (with IAM Identity Center and `credential_process` profiles), for the
//! function only what Lambda puts in its environment ([`function_config`]).

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// What a command line sets over the environment, as the AWS CLI's `--profile` and `--region`.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// The profile: over `AWS_PROFILE`, and its credentials over `AWS_ACCESS_KEY_ID` & co.
    pub profile: Option<String>,
    /// The Region: over `AWS_REGION`, `AWS_DEFAULT_REGION` and the profile's.
    pub region: Option<String>,
}

/// Loads the shared SDK configuration from the environment (region, credentials, endpoint).
pub async fn load_config() -> SdkConfig {
    load_config_with(&AwsOptions::default()).await
}

/// Loads the shared SDK configuration from the environment, with `options` over it.
///
/// A profile named here is used as the AWS CLI uses `--profile`: for the Region (after
/// `--region` and the environment's) and for the credentials, which then come from that
/// profile only (botocore drops the environment's keys when a profile is given explicitly).
pub async fn load_config_with(options: &AwsOptions) -> SdkConfig {
    let http = Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http.clone());
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let Some(profile) = &options.profile else {
        return loader.load().await;
    };
    let config = loader.profile_name(profile).load().await;
    // The default chain would take AWS_ACCESS_KEY_ID first: the profile's own provider instead.
    let provider_config = ProviderConfig::without_region()
        .with_http_client(http)
        .with_region(config.region().cloned());
    let credentials = ProfileFileCredentialsProvider::builder()
        .configure(&provider_config)
        .profile_name(profile)
        .build();
    config
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build()
}

/// The function's SDK configuration, without the default credential chain: Lambda gives a
/// function its role's credentials in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
/// `AWS_SESSION_TOKEN`, and its Region in `AWS_REGION`, so only those are read (and
/// `AWS_ENDPOINT_URL`, for local stand-ins). Nothing here reaches the profile files, IAM
/// Identity Center or `credential_process`, so the function's binary does not carry them (the
/// CLI, with [`load_config_with`], does).
pub fn function_config() -> SdkConfig {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    let http = Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http)
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .identity_cache(aws_config::identity::IdentityCache::lazy().build())
        .retry_config(RetryConfig::standard())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_millis(3100))
                .build(),
        )
        .time_source(aws_smithy_async::time::SystemTimeSource::new());
    if let Some(sleep) = aws_smithy_async::rt::sleep::default_async_sleep() {
        builder = builder.sleep_impl(sleep);
    }
    if let Some(region) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        builder = builder.region(Region::new(region));
    }
    if let Some(url) = env("AWS_ENDPOINT_URL") {
        // From the environment, as aws-config marks it: a service's own variable
        // (AWS_ENDPOINT_URL_GUARDDUTY, …) still wins over it.
        builder.insert_origin(
            "endpoint_url",
            aws_types::origin::Origin::shared_environment_variable(),
        );
        builder = builder.endpoint_url(url);
    }
    // Per-service endpoints from the environment (AWS_ENDPOINT_URL_S3, …_GUARDDUTY, …).
    builder = builder.service_config(EnvServiceConfig);
    builder.build()
}

/// Per-service settings from environment variables only (no profile files).
#[derive(Debug)]
struct EnvServiceConfig;

impl aws_types::service_config::LoadServiceConfig for EnvServiceConfig {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        // As aws-config reads them: the service's own variable (AWS_ENDPOINT_URL_GUARDDUTY for
        // service id "GuardDuty"), then the general one.
        let service = key
            .service_id()
            .to_ascii_uppercase()
            .replace([' ', '-'], "_");
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        var(&format!("{}_{service}", key.env())).or_else(|| var(key.env()))
    }
}

/// Gets the credentials once, so that a profile that cannot give any (an expired IAM Identity
/// Center session, a failing `credential_process`, a missing profile) is one error up front, not
/// one per request. The credentials got are kept and handed to the first client that asks, so
/// the profile is asked once.
pub async fn resolve_credentials(config: SdkConfig) -> Result<SdkConfig, String> {
    let Some(provider) = config.credentials_provider() else {
        return Err("no credentials provider is configured".into());
    };
    let first = provider
        .provide_credentials()
        .await
        .map_err(|e| error_chain(&e))?;
    let resolved = Resolved {
        first: std::sync::Mutex::new(Some(first)),
        inner: provider,
    };
    Ok(config
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(resolved))
        .build())
}

/// An error and its sources, each once: `a: b: c` (without the debug dump that
/// `DisplayErrorContext` appends).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// Credentials already got, then the provider they came from.
#[derive(Debug)]
struct Resolved {
    first: std::sync::Mutex<Option<Credentials>>,
    inner: SharedCredentialsProvider,
}

impl ProvideCredentials for Resolved {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let first = self.first.lock().unwrap_or_else(|e| e.into_inner()).take();
        let fresh = first.filter(|c| {
            c.expiry().is_none_or(|t| {
                t > std::time::SystemTime::now() + std::time::Duration::from_secs(300)
            })
        });
        match fresh {
            Some(c) => aws_credential_types::provider::future::ProvideCredentials::ready(Ok(c)),
            None => self.inner.provide_credentials(),
        }
    }
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
