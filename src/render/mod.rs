//! Rendering one alert into the payload of each webhook destination: Slack (Block Kit),
//! Microsoft Teams (a Workflows webhook message carrying an Adaptive Card), PagerDuty (Events API
//! v2) and the generic JSON body (the SNS JSON body, byte for byte). Pure functions, no I/O.
//!
//! Finding text is attacker-influenced: user agents, DNS names, S3 object keys, command lines
//! and tag values reach titles and resource summaries. Every renderer therefore puts each value
//! through the same three steps before it lands in a payload:
//!
//! 1. **clean**: control characters (newlines, ESC, …) and Unicode line/paragraph separators
//!    become spaces, bidi controls become U+FFFD, leading and trailing whitespace goes. One
//!    value stays one line: a crafted title cannot fake extra lines, list items or headings.
//! 2. **escape** for the platform ([`escape_slack`], [`escape_teams`]; PagerDuty shows plain
//!    text and needs none beyond cleaning).
//! 3. **cap** at the platform's limit, counted in UTF-16 code units (never fewer than Unicode
//!    characters, so the cap holds however the platform counts characters). A cut happens only
//!    between whole escaped characters, so it never splits a UTF-8 sequence, a surrogate pair,
//!    an entity (`&amp;`) or a backslash escape (`\*`), and is marked with `…`.
//!
//! Links are built only from `https://` URLs without user info, with everything outside a
//! conservative set of characters percent-encoded; a URL that does not qualify or is too long
//! is left out rather than cut. Each renderer has a `check_*_invariants` function that states
//! what its output guarantees, for the tests here and for a fuzzer.

use std::borrow::Cow;

use crate::render::json::JsonRecord;

pub mod digest;
pub mod email;
pub mod generic;
pub mod json;
pub mod pagerduty;
pub mod slack;
pub mod sns;
pub mod teams;

pub use generic::{check_generic_invariants, generic};
pub use pagerduty::{check_pagerduty_invariants, pagerduty, pagerduty_digest, pagerduty_redacted};
pub use slack::{check_slack_invariants, escape_slack, slack, slack_digest};
pub use teams::{check_teams_invariants, escape_teams, teams, teams_digest};

/// Everything a renderer needs about one alert.
#[derive(Debug, Clone, Copy)]
pub struct AlertContext<'a> {
    /// The classification of the finding (see [`JsonRecord::new`]).
    pub record: &'a JsonRecord<'a>,
    /// A human name for the finding's account (from configuration), shown beside its id.
    pub account_name: Option<&'a str>,
}

impl<'a> AlertContext<'a> {
    /// The context of one classified finding, without an account name.
    pub fn new(record: &'a JsonRecord<'a>) -> Self {
        AlertContext {
            record,
            account_name: None,
        }
    }

    /// The same context with an account name (`None` leaves it unknown).
    pub fn with_account_name(self, account_name: Option<&'a str>) -> Self {
        AlertContext {
            account_name,
            ..self
        }
    }
}

pub use crate::common::secret::{REDACTED, Secret};

/// Marks a value that was cut to fit.
pub(crate) const ELLIPSIS: char = '\u{2026}';

/// Length in UTF-16 code units: at least the number of Unicode characters, and what JavaScript
/// and most chat APIs count.
pub(crate) fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Bidi controls: they reorder what follows them on screen (`exe.txt` shown as `txt.exe`).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// One character as it may appear in a rendered value: control characters and line separators
/// become spaces, bidi controls U+FFFD.
fn clean_char(c: char) -> char {
    if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
        ' '
    } else if is_bidi_control(c) {
        '\u{fffd}'
    } else {
        c
    }
}

/// Whether `c` may appear in a rendered value (what [`clean_char`] lets through).
pub(crate) fn is_clean_char(c: char) -> bool {
    clean_char(c) == c
}

/// Cleans, escapes and caps `s`: see the module documentation. `escape` writes the escaped
/// form of one (clean) character; it is called for every character after leading whitespace,
/// in order, until the cap is reached. Returns the text (at most `max` UTF-16 units, `…` at the
/// end when cut) and whether it was cut.
pub(crate) fn cap_escaped(
    s: &str,
    max: usize,
    mut escape: impl FnMut(char, &mut String),
) -> (String, bool) {
    let mut out = String::new();
    let mut units = 0usize;
    // The longest prefix, at a piece boundary, that leaves room for the ellipsis.
    let mut keep = 0usize;
    let mut piece = String::new();
    for c in s.chars().map(clean_char) {
        if out.is_empty() && c.is_whitespace() {
            continue;
        }
        piece.clear();
        escape(c, &mut piece);
        let n = utf16_len(&piece);
        if units + n > max {
            if max == 0 {
                return (String::new(), true);
            }
            out.truncate(keep);
            let end = out.trim_end().len();
            out.truncate(end);
            out.push(ELLIPSIS);
            return (out, true);
        }
        out.push_str(&piece);
        units += n;
        if units < max {
            keep = out.len();
        }
    }
    let end = out.trim_end().len();
    out.truncate(end);
    (out, false)
}

/// [`cap_escaped`], `-` for a value that is empty once cleaned.
pub(crate) fn capped(s: &str, max: usize, escape: impl FnMut(char, &mut String)) -> String {
    let (text, _) = cap_escaped(s, max, escape);
    if text.is_empty() {
        "-".to_owned()
    } else {
        text
    }
}

/// A link safe to hand to a chat platform: `https://`, a host (and port) without user info, the
/// rest with every byte outside `A-Za-z0-9-._~:/?#@!$&*+,;=` percent-encoded (a `%` that starts
/// a valid escape is kept). `None` when `s` is not such a URL or is longer than `max` bytes once
/// encoded: a cut link would be a wrong link.
pub fn safe_url(s: &str, max: usize) -> Option<String> {
    let rest = s.trim().strip_prefix("https://")?;
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(host_end);
    let host_ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':');
    if host.is_empty() || !host.bytes().all(host_ok) || host.starts_with(['.', '-', ':']) {
        return None;
    }
    let mut out = String::with_capacity(8 + rest.len());
    out.push_str("https://");
    out.push_str(host);
    let bytes = tail.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b':'
                    | b'/'
                    | b'?'
                    | b'#'
                    | b'@'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            )
            || (b == b'%'
                && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit));
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
        if out.len() > max {
            return None;
        }
    }
    (out.len() <= max).then_some(out)
}

/// Whether `s` is a URL as [`safe_url`] makes them, at most `max` bytes.
pub(crate) fn is_safe_url(s: &str, max: usize) -> bool {
    safe_url(s, max).as_deref() == Some(s)
}

/// The label of the link to the finding in the console, on every platform's button.
pub const CONSOLE_LINK_TEXT: &str = "Open in GuardDuty";
/// The label of the link to the finding type's documentation ([`JsonRecord::docs_url`]).
pub const DOCS_LINK_TEXT: &str = "About this finding type";
/// The label of the link to the deciding rule's runbook ([`JsonRecord::runbook_url`]).
pub const RUNBOOK_LINK_TEXT: &str = "Runbook";
/// Every label an alert's links have.
pub(crate) const LINK_TEXTS: [&str; 3] = [CONSOLE_LINK_TEXT, DOCS_LINK_TEXT, RUNBOOK_LINK_TEXT];

/// The links an alert offers, in order, each as [`safe_url`] makes it (at most `max` bytes;
/// a link that is not one is left out): the finding in the console, then its type's
/// documentation, then the deciding rule's runbook.
pub(crate) fn alert_links(j: &JsonRecord<'_>, max: usize) -> Vec<(&'static str, String)> {
    [
        (CONSOLE_LINK_TEXT, j.console_url),
        (DOCS_LINK_TEXT, j.docs_url.as_deref()),
        (RUNBOOK_LINK_TEXT, j.runbook_url.as_deref()),
    ]
    .into_iter()
    .filter_map(|(label, url)| Some((label, safe_url(url?, max)?)))
    .collect()
}

/// `111122223333 (prod)`, `111122223333`, or `-`, before escaping.
pub(crate) fn account_display<'a>(ctx: &AlertContext<'a>) -> Cow<'a, str> {
    let name = ctx.account_name.filter(|n| !n.trim().is_empty());
    match (ctx.record.account_id, name) {
        (Some(id), Some(name)) => Cow::Owned(format!("{id} ({name})")),
        (Some(id), None) => Cow::Borrowed(id),
        (None, Some(name)) => Cow::Borrowed(name),
        (None, None) => Cow::Borrowed("-"),
    }
}

/// `Instance: i-0a1b (web-1)`, `Instance`, `i-0a1b (web-1)` or `-`, before escaping.
pub(crate) fn resource_display<'a>(j: &JsonRecord<'a>) -> Cow<'a, str> {
    match (j.resource_type, j.resource) {
        (Some(t), Some(r)) => Cow::Owned(format!("{t}: {r}")),
        (Some(one), None) | (None, Some(one)) => Cow::Borrowed(one),
        (None, None) => Cow::Borrowed("-"),
    }
}

/// The count as text, `-` when unknown.
pub(crate) fn count_display(j: &JsonRecord<'_>) -> String {
    j.count.map_or_else(|| "-".to_owned(), |c| c.to_string())
}

/// Finds the first string in `v` (recursively) for which `bad` returns an error, naming it by
/// its JSON path.
pub(crate) fn check_strings(
    v: &serde_json::Value,
    path: &mut String,
    bad: &mut impl FnMut(&str, &str) -> Result<(), String>,
) -> Result<(), String> {
    use serde_json::Value;
    match v {
        Value::String(s) => bad(path, s).map_err(|e| format!("{path}: {e}")),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_strings(item, path, bad)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            for (k, item) in map {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                check_strings(item, path, bad)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Records for the renderers' tests: the bundled sample export and hostile inputs.

    use super::*;
    use crate::classify::{SeverityLabel, classify};
    use crate::decide::Decision;
    use crate::decide::Record;
    use crate::export::finding::Finding;

    /// The bundled sample export: 12 findings, one per line.
    pub const SAMPLE: &str = include_str!("../../events/sample-export.jsonl");

    /// The sample's lines.
    pub fn sample_lines() -> Vec<&'static str> {
        SAMPLE.lines().filter(|l| !l.trim().is_empty()).collect()
    }

    /// Runs `f` on the record of one finding line, decided as an alert.
    pub fn with_line<R>(line: &str, f: impl FnOnce(&Record<'_>, &JsonRecord<'_>) -> R) -> R {
        let finding = Finding::parse(line).expect("a finding");
        let class = classify(&finding);
        let record = Record {
            source: "events/sample-export.jsonl",
            line: 1,
            finding: &finding,
            class: &class,
            decision: Decision::Alert,
            raw: line,
            account_name: None,
            rules: None,
        };
        let j = JsonRecord::new(&record);
        f(&record, &j)
    }

    /// Runs `f` on the record of the sample's finding number `n` (1-based).
    pub fn with_sample<R>(n: usize, f: impl FnOnce(&Record<'_>, &JsonRecord<'_>) -> R) -> R {
        with_line(sample_lines()[n - 1], f)
    }

    /// Payloads aimed at chat formatting, mentions and links.
    pub const HOSTILE: &[&str] = &[
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U123>",
        "<#C123>",
        "<!subteam^S123>",
        "@channel @here @everyone",
        "<http://evil.example|click>",
        "[x](http://evil.example)",
        "![img](http://evil.example/i.png)",
        "<https://evil.example>",
        "*bold* **bold** _it_ __it__ ~s~ ~~s~~ `code` ```block```",
        "&amp; &lt;!channel&gt; &#60;",
        "<at>Bob</at> <AT>x</AT>",
        "line1\nline2\r\n- item\n1. one\n# head\n> quote",
        "- starts a list",
        "+ plus list",
        "* star list",
        "1. numbered",
        "12) numbered",
        "# heading",
        "> quote",
        "    indented code",
        "{{DATE(2017-02-14T06:08:39Z, SHORT)}}",
        "\\*escaped\\* \\",
        ":smile: :rotating_light:",
        "\u{1b}[31mred\u{1b}[0m \u{7}",
        "\u{202e}gnp.exe \u{2066}x\u{2069}",
        "a\u{2028}b\u{2029}c",
        "é😀日本\u{200d}",
        "",
        "   ",
    ];

    /// A record with `s` in every text field and `url` as its console link.
    pub fn hostile_record<'a>(s: &'a str, url: &'a str) -> JsonRecord<'a> {
        JsonRecord {
            id: s,
            finding_type: s,
            severity: 8.0,
            severity_label: SeverityLabel::High,
            threat_purpose: s,
            resource_type_affected: Some(s),
            threat_family: Some(s),
            detection_mechanism: Some(s),
            artifact: Some(s),
            account_id: Some(s),
            account_name: Some(s),
            region: Some(s),
            resource_type: Some(s),
            resource: Some(s),
            title: Some(s),
            count: Some(u64::MAX),
            first_seen: Some(s),
            last_seen: Some(s),
            updated_at: Some(s),
            sample: false,
            archived: false,
            decision: "alert",
            reason: None,
            rule: None,
            destinations: None,
            digest_only: None,
            console_url: Some(url),
            docs_url: Some(url.to_owned()),
            runbook_url: Some(url.to_owned()),
            source: s,
            line: 1,
        }
    }

    /// About 100 KB of every payload at once.
    pub fn long_hostile() -> String {
        let unit: String = HOSTILE.concat();
        unit.repeat(100_000 / unit.len() + 1)
    }

    /// Strings whose cap falls inside a multi-byte character, a surrogate pair, an entity or a
    /// backslash escape, for every cap in `caps`.
    pub fn cut_point_strings(caps: &[usize]) -> Vec<String> {
        let mut out = Vec::new();
        for &cap in caps {
            for shift in 0..8 {
                let pad = "a".repeat(cap.saturating_sub(shift));
                for tail in [
                    "&&&&&&&&",
                    "<<<<>>>>",
                    "😀😀😀😀",
                    "éééééééé",
                    "日本日本",
                    "****____",
                    "[[]]``~~",
                ] {
                    out.push(format!("{pad}{tail}{tail}"));
                }
            }
        }
        out
    }

    /// Console links with hostile queries.
    pub fn hostile_urls(s: &str) -> Vec<String> {
        vec![
            format!(
                "https://console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?macros=current&fId={s}"
            ),
            format!(
                "https://console.aws.amazon.com/guardduty/home?q={}",
                "%".repeat(5000)
            ),
            "javascript:alert(1)".to_owned(),
            "http://console.aws.amazon.com/guardduty".to_owned(),
            "https://console.aws.amazon.com@evil.example/".to_owned(),
            "https://evil.example|click>".to_owned(),
            format!("https://console.aws.amazon.com/{}", "x".repeat(200_000)),
            String::new(),
        ]
    }

    /// (text, console link) pairs: every payload, the 100 KB one and the cut-point strings for
    /// `caps`, each with a console link whose query holds it; then every hostile link.
    pub fn hostile_cases(caps: &[usize]) -> Vec<(String, String)> {
        let mut texts: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
        texts.push(long_hostile());
        texts.push("\\".repeat(100_000));
        texts.push("\"".repeat(100_000));
        texts.push("日".repeat(50_000)); // 3 bytes per UTF-16 unit: the largest payloads
        texts.push("😀".repeat(25_000));
        texts.extend(cut_point_strings(caps));
        let mut cases: Vec<(String, String)> = texts
            .into_iter()
            .map(|s| {
                let url = hostile_urls(&s).swap_remove(0);
                (s, url)
            })
            .collect();
        for url in hostile_urls("<!channel> [x](http://evil.example) <at>Bob</at>") {
            cases.push(("<@U123> *x*".to_owned(), url));
        }
        cases
    }

    /// Asserts two JSON values are equal, showing both pretty-printed when they are not.
    #[track_caller]
    pub fn assert_json_eq(actual: &serde_json::Value, expected: &serde_json::Value) {
        if actual != expected {
            panic!(
                "JSON differs\n--- actual ---\n{}\n--- expected ---\n{}",
                serde_json::to_string_pretty(actual).unwrap(),
                serde_json::to_string_pretty(expected).unwrap()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::SeverityLabel;

    fn ident(c: char, out: &mut String) {
        out.push(c);
    }

    fn amp(c: char, out: &mut String) {
        match c {
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }

    #[test]
    fn clean_makes_one_line_without_bidi_controls() {
        let (t, cut) = cap_escaped("  a\nb\r\tc\u{1b}[0m\u{202e}d\u{2028}e  ", 100, ident);
        assert_eq!(t, "a b  c [0m\u{fffd}d e");
        assert!(!cut);
        assert_eq!(capped(" \n\t ", 10, ident), "-");
        assert_eq!(capped("", 10, ident), "-");
    }

    #[test]
    fn caps_count_utf16_units_and_cut_between_whole_pieces() {
        assert_eq!(cap_escaped("abcdef", 6, ident), ("abcdef".into(), false));
        assert_eq!(cap_escaped("abcdefg", 6, ident), ("abcde…".into(), true));
        // 😀 is two UTF-16 units: it fits only whole.
        assert_eq!(cap_escaped("ab😀😀", 6, ident), ("ab😀😀".into(), false));
        assert_eq!(cap_escaped("ab😀😀c", 6, ident), ("ab😀…".into(), true));
        assert_eq!(cap_escaped("abc😀d", 5, ident), ("abc…".into(), true));
        // An entity is whole or absent.
        assert_eq!(cap_escaped("a&b", 6, amp), ("a…".into(), true));
        assert_eq!(cap_escaped("a&&", 7, amp), ("a&amp;…".into(), true));
        assert_eq!(cap_escaped("x", 0, ident), (String::new(), true));
        assert_eq!(cap_escaped("ab", 1, ident), ("…".into(), true));
        // Whitespace before the cut is dropped.
        assert_eq!(cap_escaped("ab   cdefgh", 6, ident), ("ab…".into(), true));
    }

    #[test]
    fn caps_hold_for_every_limit() {
        let s = "a&<é😀日\\*x\u{1b}";
        for max in 1..40 {
            let (t, cut) = cap_escaped(s, max, amp);
            assert!(utf16_len(&t) <= max, "{max}: {t}");
            let full = cap_escaped(s, usize::MAX, amp).0;
            if cut {
                let body = t.strip_suffix(ELLIPSIS).unwrap();
                assert!(full.starts_with(body), "{max}: {t}");
                assert!(!body.ends_with('&'), "{max}: {t}");
            } else {
                assert_eq!(t, full);
            }
        }
    }

    #[test]
    fn urls_are_https_encoded_or_absent() {
        let console = "https://console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?macros=current&fId=abc";
        assert_eq!(safe_url(console, 3000).as_deref(), Some(console));
        assert_eq!(
            safe_url("https://h.example/a b<c>\"d|e'(f)[g]%zz%2F\u{e9}", 3000).as_deref(),
            Some("https://h.example/a%20b%3Cc%3E%22d%7Ce%27%28f%29%5Bg%5D%25zz%2F%C3%A9")
        );
        for bad in [
            "http://h.example/",
            "javascript:alert(1)",
            "https://",
            "https://user@h.example/",
            "https://h.example@evil.example/",
            "https://h<x>/",
            "https://.evil/",
            "",
            " https:// ",
        ] {
            assert_eq!(safe_url(bad, 3000), None, "{bad}");
        }
        assert_eq!(
            safe_url(&format!("https://h/{}", "a".repeat(100)), 50),
            None
        );
        assert!(is_safe_url(console, 3000));
        assert!(!is_safe_url("https://h.example/a b", 3000));
    }

    #[test]
    fn secrets_never_show() {
        let s = Secret::new("R0UT1NGKEY");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "Secret(***)");
        assert_eq!(format!("{:#?}", Some(&s)), "Some(\n    Secret(***),\n)");
        assert_eq!(s.expose(), "R0UT1NGKEY");
        assert_eq!(Secret::redacted().expose(), REDACTED);
        assert_eq!(Secret::from("k".to_owned()).expose(), "k");
    }

    #[test]
    fn displays() {
        let j = fixtures::hostile_record("x", "https://h/");
        let ctx = AlertContext::new(&j);
        assert_eq!(account_display(&ctx), "x");
        assert_eq!(
            account_display(&ctx.with_account_name(Some("prod"))),
            "x (prod)"
        );
        assert_eq!(account_display(&ctx.with_account_name(Some("  "))), "x");
        assert_eq!(resource_display(&j), "x: x");
        assert_eq!(crate::classify::format_severity(8.0), "8");
        assert_eq!(crate::classify::format_severity(6.95), "6.95");
        assert_eq!(j.severity_label, SeverityLabel::High);
    }
}
