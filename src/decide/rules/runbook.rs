//! A rule's `runbook`: a link template such as
//! `https://wiki.example/guardduty/{type}?account={account}`, filled in for each alert the rule
//! routes. Placeholders: `{type}`, `{account}`, `{region}`, `{resource}`, `{id}`. Each value is
//! percent-encoded (everything but ASCII letters, digits, `-`, `_`, `.` and `~`), so a finding
//! cannot add URL syntax (`#`, `?`, `&`, `/`) or markup; a missing value is left empty.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// The placeholders a runbook template may use.
pub const PLACEHOLDERS: [&str; 5] = ["type", "account", "region", "resource", "id"];

/// The longest template accepted (links longer than that are not links people click).
pub const MAX_TEMPLATE: usize = 1000;

/// What a placeholder is filled with.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunbookFields<'a> {
    /// `{type}`: the finding type.
    pub finding_type: &'a str,
    /// `{account}`: the account id.
    pub account: Option<&'a str>,
    /// `{region}`.
    pub region: Option<&'a str>,
    /// `{resource}`: the short resource summary.
    pub resource: Option<&'a str>,
    /// `{id}`: the finding id.
    pub id: &'a str,
}

const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Checks a template: `https://` and a host, at most [`MAX_TEMPLATE`] bytes, every `{…}` one
/// of [`PLACEHOLDERS`], no stray `{` or `}`, and no byte that a link cannot hold as it is
/// (spaces, quotes, `<`, `>`, control characters, non-ASCII): write those percent-encoded.
pub fn check_template(t: &str) -> Result<(), String> {
    if t.len() > MAX_TEMPLATE {
        return Err(format!("is {} bytes long; at most {MAX_TEMPLATE}", t.len()));
    }
    let Some(rest) = t.strip_prefix("https://") else {
        return Err(
            r#"must be an https:// link, e.g. runbook = "https://wiki.example/guardduty/{type}""#
                .into(),
        );
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..host_end];
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
    {
        return Err(format!(
            "has no valid host after https:// ({host:?}; placeholders cannot be in the host)"
        ));
    }
    let mut rest = t;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err("has a '}' with no '{' before it".into());
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err("has a '{' with no '}' after it".into());
        };
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "has an unknown placeholder {{{name}}}; use {}",
                PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
            ));
        }
        rest = &after[close + 1..];
    }
    if let Some(c) = t
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '|'))
    {
        return Err(format!(
            "holds {c:?}, which a link cannot hold as it is: percent-encode it"
        ));
    }
    Ok(())
}

/// Fills in a template that passed [`check_template`].
pub fn expand(template: &str, f: &RunbookFields<'_>) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            break;
        };
        let value = match &after[..close] {
            "type" => Some(f.finding_type),
            "account" => f.account,
            "region" => f.region,
            "resource" => f.resource,
            "id" => Some(f.id),
            _ => None,
        };
        out.extend(utf8_percent_encode(value.unwrap_or(""), VALUE));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_checked() {
        for good in [
            "https://wiki.example/guardduty/{type}?account={account}",
            "https://wiki.example:8443/r?t={type}&a={account}&r={region}&x={resource}&i={id}",
            "https://wiki.example/static-page",
            "https://wiki.example/a%20b",
        ] {
            assert_eq!(check_template(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("http://wiki.example/{type}", "https://"),
            ("wiki.example/{type}", "https://"),
            ("https://{account}.wiki.example/", "host"),
            ("https:///path", "host"),
            (
                "https://wiki.example/{types}",
                "unknown placeholder {types}",
            ),
            ("https://wiki.example/{type", "no '}'"),
            ("https://wiki.example/type}", "no '{'"),
            ("https://wiki.example/a b", "percent-encode"),
            ("https://wiki.example/\"><script>", "percent-encode"),
            ("https://wiki.example/é", "percent-encode"),
        ] {
            let err = check_template(bad).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
        assert!(check_template(&format!("https://x/{}", "a".repeat(MAX_TEMPLATE))).is_err());
    }

    #[test]
    fn values_are_encoded_so_a_finding_cannot_add_url_syntax() {
        let f = RunbookFields {
            finding_type: "Backdoor:EC2/C&CActivity.B!DNS",
            account: Some("111122223333"),
            region: None,
            resource: Some("Instance: i-1 (web <b>\"x\"</b>#frag?q=1 ü)"),
            id: "abc",
        };
        assert_eq!(
            expand(
                "https://wiki.example/gd/{type}?account={account}&region={region}&r={resource}#{id}",
                &f
            ),
            "https://wiki.example/gd/Backdoor%3AEC2%2FC%26CActivity.B%21DNS?account=111122223333&region=&r=Instance%3A%20i-1%20%28web%20%3Cb%3E%22x%22%3C%2Fb%3E%23frag%3Fq%3D1%20%C3%BC%29#abc"
        );
        assert_eq!(
            expand("https://wiki.example/static", &f),
            "https://wiki.example/static"
        );
    }
}
