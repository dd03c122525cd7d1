//! The composition root: settings from the environment, the destinations resolved (secrets
//! fetched once), and the SDK clients, built once per process. [`Wiring::build`] is the one
//! place both binaries (the function and `process --deliver`) turn their settings into what
//! decides and where alerts go.

pub mod aws;
pub mod resolve;

use crate::decide::{Decide, Decider, Policy};
use crate::deliver::Destination;
use crate::deliver::secret::SecretStore;
use resolve::{DestinationsConfig, RulesLocation, SetupError};

/// What a run decides with and delivers to.
pub struct Wiring {
    /// The policy, or the rules file.
    pub decider: Decider,
    /// Where alerts go: a rules file's destinations in its order, or the environment's; empty
    /// when nothing is delivered.
    pub destinations: Vec<Destination>,
    /// The rules file's warnings, for the caller to log.
    pub warnings: Vec<String>,
    /// Whether destination variables were set but not used (a rules file names the
    /// destinations).
    pub unused_destination_variables: bool,
}

/// What [`Wiring::build`] starts from.
pub struct Settings<'a> {
    /// The policy, used without a rules file.
    pub policy: Policy,
    /// The rules file, if any, and the name of the setting that gave it (`RULES_CONFIG`,
    /// `--config`), for errors.
    pub rules: Option<(&'a RulesLocation, &'a str)>,
    /// The destination variables; `None` when nothing is delivered.
    pub destinations: Option<&'a DestinationsConfig>,
    /// The AWS configuration, where AWS is needed (S3/SSM rules, secrets, SNS).
    pub sdk: Option<&'a aws_config::SdkConfig>,
}

impl Wiring {
    /// Loads the rules file (if any) and builds the destinations, fetching their secrets once.
    /// An error names the setting at fault, never a secret.
    pub async fn build(s: Settings<'_>) -> Result<Wiring, SetupError> {
        let (decider, warnings) = match s.rules {
            None => (Decider::Policy(s.policy), Vec::new()),
            Some((location, setting)) => {
                let rules = location
                    .load(s.sdk)
                    .await
                    .map_err(|problem| SetupError::new(setting, problem))?;
                let warnings = rules.warnings().iter().map(ToString::to_string).collect();
                (Decider::Rules(Box::new(rules)), warnings)
            }
        };
        let destinations = match s.destinations {
            None => Vec::new(),
            Some(config) => {
                let mut store = s.sdk.map_or_else(SecretStore::env_only, SecretStore::new);
                let sns = s.sdk.map(aws::sns_client);
                config.build(decider.rules(), &mut store, sns).await?
            }
        };
        Ok(Wiring {
            unused_destination_variables: decider.rules().is_some()
                && s.destinations
                    .is_some_and(DestinationsConfig::has_destinations),
            decider,
            destinations,
            warnings,
        })
    }
}
