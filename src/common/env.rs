//! Reading settings from the environment: the forms every variable shares.

/// `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off`/empty.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}
