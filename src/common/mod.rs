//! The lowest layer: small facts and helpers every stage shares, with no I/O of their own —
//! secrets that never print, the shapes of AWS names, header names the sender owns, stable ids,
//! retry backoff, time parsing, and the forms environment settings take.

pub mod env;
pub mod error;
pub mod format;
pub mod hash;
pub mod headers;
pub mod names;
pub mod retry;
pub mod secret;
pub mod time;
