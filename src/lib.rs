//! # guardduty-alerts
//!
//! Turns Amazon GuardDuty findings exports (gzip'd JSON Lines objects that GuardDuty writes to
//! S3) into alerts. Data flows one way:
//!
//! ```text
//! SourceRef --Opener--> ByteStream --export--> Finding --classify--> Classification
//!     --Policy--> Decision --Output--> stdout / destination
//! ```
//!
//! - [`source`]: where an export comes from (file, stdin, S3) and what its key says.
//! - [`trigger`]: which export objects a Lambda event names (S3 notification, `s3:TestEvent`,
//!   EventBridge, SQS, SNS), one unit per SQS message, skips and undecodable parts reported.
//! - [`export`]: byte stream -> findings (gzip sniffing, multi-member gzip, bounded lines,
//!   tolerant parse), decoding and parsing on two tasks.
//! - [`finding`]: the borrowed, tolerant view of a finding.
//! - [`classify`]: severity band, type parts, resource summary, sample flag, console link.
//! - [`decision`]: alert or suppress, and why.
//! - [`dedup`]: finding dedup and object idempotency state in DynamoDB (conditional writes).
//! - [`rules`]: routing rules from a TOML file (which findings go where, which are dropped,
//!   first match wins) and the per-destination digest; checked once with every error reported.
//! - [`pipeline`]: one source end to end, and the account of it ([`pipeline::Stats`]).
//! - [`output`]: the CLI's text and JSON outputs.
//! - [`aws`], [`s3`]: the SDK set-up and the streamed S3 source.
//! - [`alert`], [`sns`]: alert messages and the SNS destination.
//! - [`render`]: one alert as each webhook's payload (Slack, Teams, PagerDuty, generic JSON),
//!   with the escaping and limits of each.
//! - [`lambda`]: the Lambda function's configuration, handler and metrics.
//!
//! The whole pipeline for one file:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use guardduty_alerts::{decision::Policy, export::ReaderOptions, output::JsonLines, pipeline, source::*};
//! let src = SourceRef::parse("events/sample-export.jsonl.gz")?;
//! let mut out = JsonLines::new(std::io::stdout());
//! let mut stats = pipeline::Stats::default();
//! pipeline::process_source(&src, &LocalOpener, &ReaderOptions::default(), &Policy::default(), &mut out, &mut stats).await?;
//! eprintln!("{}", stats.summary_json(std::time::Duration::ZERO));
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod alert;
pub mod aws;
pub mod classify;
pub mod config;
pub mod decision;
pub mod dedup;
pub mod delivery;
pub mod export;
pub mod finding;
pub mod health;
pub mod lambda;
pub mod output;
pub mod pipeline;
pub mod render;
pub mod rules;
pub mod s3;
pub mod secret;
pub mod sns;
pub mod source;
pub mod trigger;
pub mod webhook;
