//! The composition root: settings from the environment, the destinations resolved (secrets
//! fetched once), and the SDK clients, built once per process.

pub mod aws;
pub mod resolve;
