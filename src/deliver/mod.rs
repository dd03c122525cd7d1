//! Delivery: the destinations (SNS topics and webhooks), the fan-out that hands every alert to
//! each with burst control, retries and pacing, the account of what was delivered, the dry run,
//! and the secrets the destinations need.

pub mod fanout;
pub mod secret;
pub mod sns;
pub mod webhook;

pub use fanout::*;
