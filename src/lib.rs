//! # guardduty-alerts
//!
//! Turns Amazon GuardDuty findings exports (gzip'd JSON Lines objects that GuardDuty writes to
//! S3) into alerts. Data flows one way, and the modules are the stages in that order:
//!
//! ```text
//! trigger --ObjectRef--> source --bytes--> export --Finding--> classify --Classification-->
//!   decide --Record--> render --message--> deliver --> SNS / webhooks
//!                                   state (DynamoDB) <--claims-- pipeline
//! ```
//!
//! Layers, lowest first: `common, trigger, source, export, classify, decide, render, deliver,
//! state, pipeline, health, app, lambda, cli`. A module imports only from the layers before its
//! own (`tests/layers.rs` checks every `crate::` path against this list).
//!
//! - [`common`]: secrets that never print, AWS name shapes, header names, ids, backoff, time.
//! - [`trigger`]: every Lambda event shape -> the export objects it names (pure).
//! - [`source`]: a file, stdin or an S3 object -> an async byte stream ([`source::Opener`]).
//! - [`export`]: bytes -> findings: gzip sniffing, multi-member gzip, bounded lines, the
//!   tolerant borrowed [`export::finding::Finding`] view; decoding and parsing on two tasks.
//! - [`classify`]: severity band, type parts, resource summary, sample flag, console link.
//! - [`decide`]: alert or suppress and why — the policy, the rules file, the dedup verdict,
//!   the digest model; [`decide::Record`] is what it hands on to a [`decide::Sink`].
//! - [`render`]: one alert or digest as each destination's payload, escaped and cut to limits.
//! - [`deliver`]: SNS and webhook delivery, pacing, retries, burst control, the dry run, secrets.
//! - [`state`]: the DynamoDB table behind dedup and object idempotency.
//! - [`pipeline`]: one source end to end, with dedup, and the account of it.
//! - [`health`]: the scheduled check of GuardDuty's publishing destinations.
//! - [`app`]: settings from the environment, destinations resolved, and
//!   [`app::Wiring::build`], which both binaries use to build what decides and where alerts go.
//! - [`lambda`]: the function's handler, its summary and metrics.
//! - [`cli`]: the `guardduty-alerts` command line.
#![deny(missing_docs)]

pub mod app;
pub mod classify;
pub mod cli;
pub mod common;
pub mod decide;
pub mod deliver;
pub mod export;
pub mod health;
pub mod lambda;
pub mod pipeline;
pub mod render;
pub mod source;
pub mod state;
pub mod trigger;
