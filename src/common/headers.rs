//! The one check of a configured webhook header's name, for the environment
//! (`WEBHOOK_HEADERS`) and the rules file alike: a valid HTTP token, and not a header the sender
//! sets itself. `x-guardduty-alerts-*` is ours (the delivery id, the HMAC timestamp and
//! signature): a configured header of that name would replace the signature.

/// The delivery id of a generic webhook delivery: the same on every retry.
pub const DELIVERY_ID_HEADER: &str = "x-guardduty-alerts-delivery-id";
/// The Unix time of a signed delivery.
pub const TIMESTAMP_HEADER: &str = "x-guardduty-alerts-timestamp";
/// `v1=HEX`, the HMAC-SHA256 of `TIMESTAMP.BODY` with the signing secret.
pub const SIGNATURE_HEADER: &str = "x-guardduty-alerts-signature";
/// Every header name guardduty-alerts sets itself starts with this.
pub const OWN_PREFIX: &str = "x-guardduty-alerts-";

/// Headers the sender (or HTTP itself) sets.
const SET_BY_SENDER: [&str; 6] = [
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "transfer-encoding",
    "connection",
];

/// Whether `name` may be configured; the error says why not (never quoting a value).
pub fn check_header_name(name: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err("is not a header name (letters, digits and -)".into());
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with(OWN_PREFIX) {
        return Err(format!(
            "is set by guardduty-alerts itself ({OWN_PREFIX}*: the delivery id and the HMAC signature)"
        ));
    }
    if SET_BY_SENDER.contains(&lower.as_str()) {
        return Err("is set by the sender and cannot be configured".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names() {
        for ok in ["X-Team", "authorization", "x-api-key", "X-GuardDuty-Alert"] {
            assert_eq!(check_header_name(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            (
                "x-guardduty-alerts-signature",
                "set by guardduty-alerts itself",
            ),
            (
                "X-GuardDuty-Alerts-Timestamp",
                "set by guardduty-alerts itself",
            ),
            (
                "x-guardduty-alerts-delivery-id",
                "set by guardduty-alerts itself",
            ),
            (
                "x-guardduty-alerts-anything",
                "set by guardduty-alerts itself",
            ),
            ("Content-Type", "set by the sender"),
            ("Host", "set by the sender"),
            ("user-agent", "set by the sender"),
            ("Transfer-Encoding", "set by the sender"),
            ("bad name", "is not a header name"),
            ("", "is not a header name"),
            ("x:y", "is not a header name"),
        ] {
            let e = check_header_name(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        for h in [DELIVERY_ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER] {
            assert!(h.starts_with(OWN_PREFIX));
        }
    }
}
