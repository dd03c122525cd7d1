//! [`SecretStore`]: fetches each referenced secret (AWS Secrets Manager, SSM Parameter Store, an
//! environment variable) once per cold start and caches it. Errors name the secret's
//! *reference* (an ARN or a parameter name, which are not secret) and what to do; they never
//! contain a value.

use std::collections::HashMap;

use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};

use crate::common::secret::{Secret, SecretRef, member};

/// A secret could not be fetched: names the reference and what to do, never a value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("secret {reference}: {problem}")]
pub struct SecretError {
    /// The reference's display form.
    pub reference: String,
    /// What went wrong and what to do.
    pub problem: String,
}

/// Fetches secrets from Secrets Manager and SSM, each document once, and caches them.
#[derive(Debug)]
pub struct SecretStore {
    secrets_manager: Option<aws_sdk_secretsmanager::Client>,
    ssm: Option<aws_sdk_ssm::Client>,
    cache: HashMap<(bool, String), Secret>,
}

impl SecretStore {
    /// A store backed by AWS (clients built from `sdk`).
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        SecretStore {
            secrets_manager: Some(aws_sdk_secretsmanager::Client::new(sdk)),
            ssm: Some(aws_sdk_ssm::Client::new(sdk)),
            cache: HashMap::new(),
        }
    }

    /// A store that resolves only `env:` references (no AWS access).
    pub fn env_only() -> Self {
        SecretStore {
            secrets_manager: None,
            ssm: None,
            cache: HashMap::new(),
        }
    }

    /// The value a reference points at.
    pub async fn resolve(&mut self, r: &SecretRef) -> Result<Secret, SecretError> {
        let err = |problem: String| SecretError {
            reference: r.to_string(),
            problem,
        };
        let (document, key) = match r {
            SecretRef::Env { var } => {
                return match std::env::var(var) {
                    Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
                    _ => Err(err(format!("the environment variable {var} is not set"))),
                };
            }
            SecretRef::SecretsManager { id, key } => {
                (self.fetch(true, id).await.map_err(err)?, key)
            }
            SecretRef::Ssm { name, key } => (self.fetch(false, name).await.map_err(err)?, key),
        };
        match key {
            None => Ok(document),
            Some(k) => member(&document, k).map_err(err),
        }
    }

    async fn fetch(&mut self, secrets_manager: bool, id: &str) -> Result<Secret, String> {
        let cache_key = (secrets_manager, id.to_owned());
        if let Some(s) = self.cache.get(&cache_key) {
            return Ok(s.clone());
        }
        let value = if secrets_manager {
            let client = self
                .secrets_manager
                .as_ref()
                .ok_or("Secrets Manager is not available here")?;
            match client.get_secret_value().secret_id(id).send().await {
                Ok(out) => out
                    .secret_string()
                    .map(str::to_owned)
                    .ok_or("the secret has no SecretString (binary secrets are not supported)")?,
                Err(e) => {
                    return Err(aws_problem(
                        e.code(),
                        &DisplayErrorContext(&e).to_string(),
                        "secretsmanager:GetSecretValue on the secret (and kms:Decrypt on its key if it uses a customer managed key)",
                    ));
                }
            }
        } else {
            let client = self.ssm.as_ref().ok_or("SSM is not available here")?;
            match client
                .get_parameter()
                .name(id)
                .with_decryption(true)
                .send()
                .await
            {
                Ok(out) => out
                    .parameter()
                    .and_then(|p| p.value())
                    .map(str::to_owned)
                    .ok_or("the parameter has no value")?,
                Err(e) => {
                    return Err(aws_problem(
                        aws_sdk_ssm::error::ProvideErrorMetadata::code(&e),
                        &aws_sdk_ssm::error::DisplayErrorContext(&e).to_string(),
                        "ssm:GetParameter on the parameter (and kms:Decrypt on its key for a SecureString)",
                    ));
                }
            }
        };
        let value = Secret::new(value);
        self.cache.insert(cache_key, value.clone());
        Ok(value)
    }
}

fn aws_problem(code: Option<&str>, detail: &str, needs: &str) -> String {
    match code {
        Some("ResourceNotFoundException" | "ParameterNotFound") => {
            "it does not exist; create it or fix the reference".to_owned()
        }
        Some("AccessDeniedException" | "AccessDenied") => {
            format!("access denied: the role needs {needs}")
        }
        _ => format!("could not be read: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn env_references_resolve_without_aws() {
        let mut store = SecretStore::env_only();
        let r = SecretRef::Env {
            var: "GUARDDUTY_ALERTS_TEST_NO_SUCH_VAR".into(),
        };
        let e = store.resolve(&r).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "secret env:GUARDDUTY_ALERTS_TEST_NO_SUCH_VAR: the environment variable GUARDDUTY_ALERTS_TEST_NO_SUCH_VAR is not set"
        );
        let e = store
            .resolve(&SecretRef::Ssm {
                name: "/x".into(),
                key: None,
            })
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "secret ssm:/x: SSM is not available here");
    }
}
