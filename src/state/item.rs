//! The items in the table, as the module doc of [`crate::state`] describes them: keys,
//! attribute values and the reading of a stored item (which never panics on what it finds).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::classify::SeverityLabel;
use crate::decide::dedup::{Alerted, Lease, Stored};

pub(super) fn finding_pk(key: &str) -> String {
    format!("finding#{key}")
}

pub(super) fn object_pk(object_id: &str) -> String {
    format!("object#{object_id}")
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A new version: unique per write (time, a process-wide counter, 64 random bits).
pub(super) fn new_ver() -> String {
    use ring::rand::SecureRandom as _;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut random = [0u8; 8];
    let random = match ring::rand::SystemRandom::new().fill(&mut random) {
        Ok(()) => u64::from_le_bytes(random),
        Err(_) => u64::from(std::process::id()),
    };
    format!("{nanos:x}-{count:x}-{random:016x}")
}

/// The members of an [`Alerted`] state.
pub(super) fn state_members(a: &Alerted) -> [(&'static str, AttributeValue); 4] {
    let severity = if a.severity.is_finite() {
        a.severity
    } else {
        0.0
    };
    [
        ("band", n(a.label as u8)),
        ("severity", n(severity)),
        ("count", n(a.count)),
        ("alerted_at", n(a.alerted_at_s)),
    ]
}

/// A finding item (see the module doc).
pub(super) fn finding_item(
    pk: String,
    state: &Alerted,
    ver: String,
    expires_at_s: u64,
    lease: Option<Lease>,
) -> HashMap<String, AttributeValue> {
    let mut item: HashMap<String, AttributeValue> = state_members(state)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    item.insert("pk".into(), s(pk));
    item.insert("ver".into(), s(ver));
    item.insert("expires_at".into(), n(expires_at_s));
    if let Some(lease) = lease {
        item.insert("lease_until".into(), n(lease.until_s));
        if let Some(prev) = lease.prev {
            let prev = state_members(&prev)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            item.insert("prev".into(), AttributeValue::M(prev));
        }
    }
    item
}

/// A number member, or why not.
pub(super) fn num<T: std::str::FromStr>(
    m: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<T, String> {
    match m.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| format!("{name} is not a number of the expected kind: {v:?}")),
        Some(_) => Err(format!("{name} is not of type N")),
        None => Err(format!("{name} is missing")),
    }
}

pub(super) fn parse_state(m: &HashMap<String, AttributeValue>) -> Result<Alerted, String> {
    let band: usize = num(m, "band")?;
    let label = *SeverityLabel::ALL
        .get(band)
        .ok_or_else(|| format!("band {band} is not 0 to 3"))?;
    let severity: f64 = num(m, "severity")?;
    if !severity.is_finite() {
        return Err("severity is not finite".into());
    }
    Ok(Alerted {
        label,
        severity,
        count: num(m, "count")?,
        alerted_at_s: num(m, "alerted_at")?,
    })
}

/// A finding item's state, or why it cannot be read.
pub(super) fn parse_stored(item: &HashMap<String, AttributeValue>) -> Result<Stored, String> {
    let current = parse_state(item)?;
    let expires_at_s = num(item, "expires_at")?;
    let lease = match item.get("lease_until") {
        None => None,
        Some(_) => {
            let until_s = num(item, "lease_until")?;
            let prev = match item.get("prev") {
                None | Some(AttributeValue::Null(_)) => None,
                Some(AttributeValue::M(m)) => {
                    Some(parse_state(m).map_err(|e| format!("prev: {e}"))?)
                }
                Some(_) => return Err("prev is not of type M".into()),
            };
            Some(Lease { until_s, prev })
        }
    };
    Ok(Stored {
        current,
        lease,
        expires_at_s,
    })
}
