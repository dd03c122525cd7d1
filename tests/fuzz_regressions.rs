//! Bugs the fuzz targets' checks found (fuzz/README.md, "Findings"), each as a plain test of
//! the public API with the minimised input written out. They fail until the bug is fixed.

use guardduty_alerts::classify::classify;
use guardduty_alerts::common::format::MessageFormat;
use guardduty_alerts::decide::Decision;
use guardduty_alerts::decide::Record;
use guardduty_alerts::export::finding::Finding;
use guardduty_alerts::render::json::JsonRecord;
use guardduty_alerts::render::sns::{self, AlertMessage};
use guardduty_alerts::render::{AlertContext, check_teams_invariants, teams};

/// Runs `f` on the record of one finding line, decided as an alert.
fn with_record<R>(line: &str, f: impl FnOnce(&Record<'_>) -> R) -> R {
    let finding = Finding::parse(line).expect("a finding");
    let class = classify(&finding);
    let record = Record {
        source: "test",
        line: 1,
        finding: &finding,
        class: &class,
        decision: Decision::Alert,
        raw: line,
        account_name: None,
        rules: None,
    };
    f(&record)
}

fn message(line: &str) -> AlertMessage {
    with_record(line, |r| sns::render(r, MessageFormat::Json))
}

/// Found by the `render` target after 3 min 21 s (25,381 runs) of its first run; minimised by
/// `cargo fuzz tmin` to 9 bytes: a finding whose `id` is `<at`, NUL, `1`. The Teams renderer
/// escapes it to `\<at 1` (the NUL became a space), and `check_teams_invariants` rejects any
/// text holding `<at ` (after lower-casing) even when its `<` is escaped, while it accepts the
/// escaped `\<at\>`. So any finding field with `<at ` followed by anything (a command line
/// such as `cat <at x>`, a user agent) gives a Teams payload that fails its own invariant check.
/// Either the check or the escaping is wrong; the `<` is escaped and the card has no
/// `msteams.entities`, so no mention can take effect either way.
#[test]
fn teams_payload_passes_its_own_check_for_fields_with_at_tags() {
    for text in ["<at\u{0}1", "<at x>", "<AT\u{7}>x</AT>", "cat <at file"] {
        for field in ["id", "title", "type"] {
            let mut v = serde_json::json!({
                "id": "f1", "type": "Recon:EC2/Probe", "severity": 5, "title": "t",
            });
            v[field] = serde_json::Value::String(text.to_owned());
            let line = v.to_string();
            with_record(&line, |r| {
                let j = JsonRecord::new(r);
                let payload = teams(&AlertContext::new(&j));
                if let Err(e) = check_teams_invariants(&payload) {
                    panic!("{field} {text:?}: {e}");
                }
            });
        }
    }
}

/// SNS's rule for `MessageGroupId` (PublishBatchRequestEntry): up to 128 characters, ASCII
/// letters, digits and punctuation; a FIFO topic refuses the entry otherwise.
fn sns_fifo_id_ok(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c.is_ascii_punctuation())
}

/// Found by the `render` target (corpus file `render/seed-hostile-15`, minimised): the FIFO
/// message group is the finding's `accountId` as given, so a finding whose `accountId` has a
/// space, a non-ASCII character or more than 128 characters cannot be published to a FIFO
/// topic (the entry fails with InvalidParameter, every retry alike).
#[test]
fn fifo_message_group_meets_sns_rules_whatever_the_account_id() {
    for account in [
        "- starts a list",
        "1111 2222 3333",
        "é😀日本",
        "   ",
        &"1".repeat(129),
    ] {
        let line = serde_json::json!({
            "id": "f1", "type": "Recon:EC2/Probe", "severity": 5, "accountId": account,
        })
        .to_string();
        let m = message(&line);
        assert!(
            sns_fifo_id_ok(&m.group_id),
            "accountId {account:?} gave MessageGroupId {:?}",
            m.group_id
        );
    }
}

/// Found by the `render` target (corpus file `render/seed-hostile-18`): the `severity` message
/// attribute has data type `Number`, which SNS takes only from 10^-128 to 10^+126 with at most
/// 38 significant digits; `format_severity` writes 1e-300 as 0.000…0001 (302 characters) and
/// 1e300 as 1 followed by 300 zeros, so such a finding's entry is refused.
#[test]
fn severity_attribute_is_a_number_sns_takes() {
    for severity in ["1e300", "-1e300", "1e-300"] {
        let line = format!(r#"{{"id":"f1","type":"Recon:EC2/Probe","severity":{severity}}}"#);
        let m = message(&line);
        let attr = m
            .attributes
            .iter()
            .find(|a| a.name == "severity")
            .expect("a severity attribute");
        assert_eq!(attr.data_type, "Number");
        let v: f64 = attr.value.parse().expect("a number");
        let digits: String = attr.value.chars().filter(char::is_ascii_digit).collect();
        let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
        assert!(
            (v == 0.0 || (1e-128..=1e126).contains(&v.abs())) && significant <= 38,
            "severity {severity} gave the Number attribute {:?} ({} characters)",
            attr.value,
            attr.value.len()
        );
    }
}
