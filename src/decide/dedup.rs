//! The dedup verdict, pure: whether a finding GuardDuty exported again alerts again.
//!
//! GuardDuty exports an updated finding again every export interval, with a higher
//! `service.count`. With a table configured (`DEDUP_TABLE`), a finding alerts the first time,
//! and again only when
//!
//! - its severity band rises above the band last alerted ([`Verdict::SeverityRose`]; a falling
//!   band does not alert),
//! - its count reaches the count last alerted × `DEDUP_COUNT_FACTOR` ([`Verdict::CountGrew`]),
//! - or `DEDUP_REALERT_HOURS` have passed since the last alert ([`Verdict::IntervalPassed`]).
//!
//! [`decide`] is that rule. The table that holds what was alerted, and the claims that keep two
//! invocations from both alerting, are `crate::state`; the stage that puts the two in front of
//! the destinations is `crate::pipeline::dedup`.
//!
//! # Settings
//!
//! | variable | meaning |
//! |---|---|
//! | `DEDUP_TABLE` | the table's name or ARN; unset or empty: no dedup |
//! | `DEDUP_COUNT_FACTOR` | alert again when the count reaches the count last alerted × this; above 1, default 2 |
//! | `DEDUP_REALERT_HOURS` | alert again after this many hours; default 24 |
//! | `DEDUP_TTL_DAYS` | items expire this many days after the last alert; default 30, at least the re-alert interval |

use std::time::Duration;

use crate::classify::{Classification, SeverityLabel, format_severity};
use crate::common::error::SetupError;
use crate::export::finding::Finding;

/// Every variable [`DedupSettings::from_lookup`] reads.
pub const DEDUP_ENV_VARS: [&str; 4] = [
    "DEDUP_TABLE",
    "DEDUP_COUNT_FACTOR",
    "DEDUP_REALERT_HOURS",
    "DEDUP_TTL_DAYS",
];

/// Default of [`DedupSettings::count_factor`].
pub const DEFAULT_COUNT_FACTOR: f64 = 2.0;
/// Default of [`DedupSettings::realert_after`]: 24 hours.
pub const DEFAULT_REALERT_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Default of [`DedupSettings::ttl`]: 30 days.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30 * 86400);

/// How the dedup behaves, from the environment ([`DedupSettings::from_lookup`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DedupSettings {
    /// The table's name or ARN (`DEDUP_TABLE`).
    pub table: String,
    /// Alert again when the count is at least the count last alerted × this
    /// (`DEDUP_COUNT_FACTOR`, above 1; default 2).
    pub count_factor: f64,
    /// Alert again once this long has passed since the last alert (`DEDUP_REALERT_HOURS`;
    /// default 24 hours).
    pub realert_after: Duration,
    /// Items expire this long after the last alert (`DEDUP_TTL_DAYS`; default 30 days); at least
    /// `realert_after`.
    pub ttl: Duration,
}

impl DedupSettings {
    /// The defaults, for `table`.
    pub fn new(table: impl Into<String>) -> Self {
        DedupSettings {
            table: table.into(),
            count_factor: DEFAULT_COUNT_FACTOR,
            realert_after: DEFAULT_REALERT_AFTER,
            ttl: DEFAULT_TTL,
        }
    }

    /// Reads and checks [`DEDUP_ENV_VARS`]. `Ok(None)`: `DEDUP_TABLE` is unset or empty, dedup
    /// is off. Every wrong value is an error naming its variable.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<DedupSettings>, SetupError> {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(table) = get("DEDUP_TABLE") else {
            if let Some(var) = DEDUP_ENV_VARS[1..].iter().find(|v| get(v).is_some()) {
                return Err(setup_err(
                    var,
                    "is set but DEDUP_TABLE is not: set DEDUP_TABLE to turn dedup on",
                ));
            }
            return Ok(None);
        };
        if !is_table_name_or_arn(&table) {
            return Err(setup_err(
                "DEDUP_TABLE",
                format!(
                    "{table:?} is not a DynamoDB table name or ARN: a name has 3 to 255 letters, digits, '_', '-' or '.'"
                ),
            ));
        }
        let mut s = DedupSettings::new(table);
        let number = |var: &str, ok: &dyn Fn(f64) -> bool, hint: &str| {
            get(var)
                .map(|v| match v.parse::<f64>() {
                    Ok(n) if n.is_finite() && ok(n) => Ok(n),
                    _ => Err(setup_err(var, format!("{v:?}: {hint}"))),
                })
                .transpose()
        };
        if let Some(f) = number(
            "DEDUP_COUNT_FACTOR",
            &|n| n > 1.0,
            "use a number greater than 1 (default 2: alert again when the count has doubled)",
        )? {
            s.count_factor = f;
        }
        if let Some(h) = number(
            "DEDUP_REALERT_HOURS",
            &|n| n > 0.0 && n <= 8760.0,
            "use a number of hours greater than 0, at most 8760 (default 24)",
        )? {
            s.realert_after = Duration::from_secs_f64(h * 3600.0);
        }
        let ttl_days = number(
            "DEDUP_TTL_DAYS",
            &|n| n > 0.0 && n <= 3650.0,
            "use a number of days greater than 0, at most 3650 (default 30)",
        )?;
        if let Some(d) = ttl_days {
            s.ttl = Duration::from_secs_f64(d * 86400.0);
        }
        if s.ttl < s.realert_after {
            let hours = format_severity(s.realert_after.as_secs_f64() / 3600.0);
            let days = format_severity(s.ttl.as_secs_f64() / 86400.0);
            let at_least =
                format_severity((s.realert_after.as_secs_f64() / 86400.0 * 100.0).ceil() / 100.0);
            return Err(if ttl_days.is_some() {
                setup_err(
                    "DEDUP_TTL_DAYS",
                    format!(
                        "{days} days is shorter than the re-alert interval ({hours} hours): items would expire first; use at least {at_least}"
                    ),
                )
            } else {
                setup_err(
                    "DEDUP_REALERT_HOURS",
                    format!(
                        "{hours} hours is longer than the items' lifetime (DEDUP_TTL_DAYS, default {days} days): set DEDUP_TTL_DAYS to at least {at_least}"
                    ),
                )
            });
        }
        Ok(Some(s))
    }
}

fn setup_err(setting: &str, problem: impl Into<String>) -> SetupError {
    SetupError::new(setting, problem)
}

/// A table name (3 to 255 of `[A-Za-z0-9_.-]`) or a table ARN.
fn is_table_name_or_arn(s: &str) -> bool {
    let name_ok = |n: &str| {
        (3..=255).contains(&n.len())
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    match s.strip_prefix("arn:") {
        None => name_ok(s),
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            parts.len() == 5
                && parts[0].starts_with("aws")
                && parts[1] == "dynamodb"
                && parts[4].strip_prefix("table/").is_some_and(name_ok)
        }
    }
}

/// A finding as the dedup sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// `ACCOUNT/REGION/FINDING_ID` (a missing account or region is `-`).
    pub key: String,
    /// The severity band.
    pub label: SeverityLabel,
    /// The numeric severity.
    pub severity: f64,
    /// `service.count` (1 when absent or below 1).
    pub count: u64,
}

impl Candidate {
    /// The candidate of a parsed, classified finding.
    pub fn new(f: &Finding<'_>, c: &Classification<'_>) -> Candidate {
        let count = f
            .service()
            .and_then(|s| s.count.0)
            .filter(|n| *n >= 1.0)
            .map_or(1, |n| n as u64);
        Candidate {
            key: format!(
                "{}/{}/{}",
                c.account_id.unwrap_or("-"),
                c.region.unwrap_or("-"),
                f.id()
            ),
            label: c.label,
            severity: f.severity(),
            count,
        }
    }

    pub(crate) fn alerted_at(&self, now_s: u64) -> Alerted {
        Alerted {
            label: self.label,
            severity: self.severity,
            count: self.count,
            alerted_at_s: now_s,
        }
    }
}

/// A finding's state as last alerted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alerted {
    /// The band.
    pub label: SeverityLabel,
    /// The numeric severity.
    pub severity: f64,
    /// The count.
    pub count: u64,
    /// When (epoch seconds).
    pub alerted_at_s: u64,
}

/// A claim on a finding whose delivery is (or was) in flight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lease {
    /// Until when the claim holds (epoch seconds).
    pub until_s: u64,
    /// The state before the claim (`None`: the finding had not been alerted).
    pub prev: Option<Alerted>,
}

/// A finding item as read from the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stored {
    /// The state written last (confirmed, or claimed while `lease` is set).
    pub current: Alerted,
    /// Set while a delivery is in flight, or after an invocation died before confirming.
    pub lease: Option<Lease>,
    /// When the item expires (epoch seconds).
    pub expires_at_s: u64,
}

/// Whether a finding alerts, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Never alerted (or its item expired): alert.
    New,
    /// The band rose above the band last alerted: alert.
    SeverityRose {
        /// The band last alerted.
        from: SeverityLabel,
    },
    /// The count reached the count last alerted × the factor: alert.
    CountGrew {
        /// The count last alerted.
        from: u64,
    },
    /// The re-alert interval has passed since the last alert: alert.
    IntervalPassed {
        /// When it was last alerted (epoch seconds).
        last_alert_s: u64,
    },
    /// Alerted already and nothing grew: no alert.
    Duplicate {
        /// When it was last alerted (epoch seconds).
        last_alert_s: u64,
    },
    /// Another invocation holds an unexpired claim: it delivers, or fails and is retried (or its
    /// lease expires and a later invocation alerts). No alert here.
    InFlight,
}

impl Verdict {
    /// Whether the finding alerts.
    pub fn alerts(&self) -> bool {
        matches!(
            self,
            Verdict::New
                | Verdict::SeverityRose { .. }
                | Verdict::CountGrew { .. }
                | Verdict::IntervalPassed { .. }
        )
    }

    /// `new`, `severity_rose`, `count_grew`, `interval_passed`, `duplicate` or `in_flight`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::New => "new",
            Verdict::SeverityRose { .. } => "severity_rose",
            Verdict::CountGrew { .. } => "count_grew",
            Verdict::IntervalPassed { .. } => "interval_passed",
            Verdict::Duplicate { .. } => "duplicate",
            Verdict::InFlight => "in_flight",
        }
    }
}

/// Whether `c` alerts given its stored item. Pure.
///
/// An unexpired lease is [`Verdict::InFlight`]. An expired lease (the invocation died before
/// confirming or releasing) counts as not alerted: the state before it decides. A state whose
/// lifetime (`expires_at`, or `ttl` after a previous alert) has passed counts as absent.
pub fn decide(stored: Option<&Stored>, c: &Candidate, s: &DedupSettings, now_s: u64) -> Verdict {
    judge(stored, c, s, now_s).0
}

/// The verdict, and the state it was decided against (the `prev` of a claim).
pub(crate) fn judge(
    stored: Option<&Stored>,
    c: &Candidate,
    s: &DedupSettings,
    now_s: u64,
) -> (Verdict, Option<Alerted>) {
    let last = match stored {
        None => None,
        Some(st) => {
            let (last, expires_at_s) = match st.lease {
                Some(l) if l.until_s > now_s => return (Verdict::InFlight, None),
                Some(l) => (
                    l.prev,
                    l.prev
                        .map_or(0, |p| p.alerted_at_s.saturating_add(s.ttl.as_secs())),
                ),
                None => (Some(st.current), st.expires_at_s),
            };
            last.filter(|_| expires_at_s > now_s)
        }
    };
    let Some(last) = last else {
        return (Verdict::New, None);
    };
    let verdict = if c.label > last.label {
        Verdict::SeverityRose { from: last.label }
    } else if c.count > last.count && c.count as f64 >= last.count as f64 * s.count_factor {
        Verdict::CountGrew { from: last.count }
    } else if now_s >= last.alerted_at_s.saturating_add(s.realert_after.as_secs()) {
        Verdict::IntervalPassed {
            last_alert_s: last.alerted_at_s,
        }
    } else {
        Verdict::Duplicate {
            last_alert_s: last.alerted_at_s,
        }
    };
    (verdict, Some(last))
}

/// For tests here and in `state`: a finding alerted at `alerted_at_s`, its severity half a point
/// above the label's lower bound.
#[cfg(test)]
pub(crate) fn test_alerted(label: SeverityLabel, count: u64, alerted_at_s: u64) -> Alerted {
    Alerted {
        label,
        severity: label.lower_bound() + 0.5,
        count,
        alerted_at_s,
    }
}

#[cfg(test)]
mod tests {
    use super::test_alerted as state;
    use super::*;
    use crate::classify::classify;
    use SeverityLabel::*;

    const NOW: u64 = 1_800_000_000;
    const HOUR: u64 = 3600;
    const DAY: u64 = 86400;

    fn settings() -> DedupSettings {
        DedupSettings::new("gd-dedup")
    }

    fn cand(label: SeverityLabel, count: u64) -> Candidate {
        Candidate {
            key: "111122223333/us-east-1/f1".into(),
            label,
            severity: label.lower_bound() + 0.5,
            count,
        }
    }

    /// A confirmed item, alerted `ago` seconds before NOW.
    fn confirmed(label: SeverityLabel, count: u64, ago: u64) -> Stored {
        Stored {
            current: state(label, count, NOW - ago),
            lease: None,
            expires_at_s: NOW - ago + 30 * DAY,
        }
    }

    /// An item claimed at NOW - 60 with a lease until NOW + `lease_from_now` (negative: expired).
    fn leased(lease_from_now: i64, prev: Option<Alerted>) -> Stored {
        Stored {
            current: state(Critical, 1000, NOW - 60),
            lease: Some(Lease {
                until_s: NOW.saturating_add_signed(lease_from_now),
                prev,
            }),
            expires_at_s: NOW - 60 + 30 * DAY,
        }
    }

    #[test]
    fn decide_table() {
        use Verdict::*;
        let dup = |ago: u64| Duplicate {
            last_alert_s: NOW - ago,
        };
        let cases: Vec<(&str, Option<Stored>, Candidate, Verdict)> = vec![
            ("never seen", None, cand(Medium, 1), New),
            (
                "same band and count",
                Some(confirmed(Medium, 3, HOUR)),
                cand(Medium, 3),
                dup(HOUR),
            ),
            (
                "band rises",
                Some(confirmed(Medium, 3, HOUR)),
                cand(High, 3),
                SeverityRose { from: Medium },
            ),
            (
                "band rises two steps",
                Some(confirmed(Low, 3, HOUR)),
                cand(Critical, 3),
                SeverityRose { from: Low },
            ),
            (
                "band falls",
                Some(confirmed(High, 3, HOUR)),
                cand(Medium, 3),
                dup(HOUR),
            ),
            (
                "count below the factor",
                Some(confirmed(Medium, 10, HOUR)),
                cand(Medium, 19),
                dup(HOUR),
            ),
            (
                "count at the factor",
                Some(confirmed(Medium, 10, HOUR)),
                cand(Medium, 20),
                CountGrew { from: 10 },
            ),
            (
                "count above the factor",
                Some(confirmed(Medium, 10, HOUR)),
                cand(Medium, 21),
                CountGrew { from: 10 },
            ),
            (
                "count 1 to 2 doubles",
                Some(confirmed(Medium, 1, HOUR)),
                cand(Medium, 2),
                CountGrew { from: 1 },
            ),
            (
                "count fell",
                Some(confirmed(Medium, 10, HOUR)),
                cand(Medium, 4),
                dup(HOUR),
            ),
            (
                "band falls, count grew",
                Some(confirmed(High, 10, HOUR)),
                cand(Medium, 40),
                CountGrew { from: 10 },
            ),
            (
                "interval just below",
                Some(confirmed(Medium, 3, 24 * HOUR - 1)),
                cand(Medium, 3),
                dup(24 * HOUR - 1),
            ),
            (
                "interval at",
                Some(confirmed(Medium, 3, 24 * HOUR)),
                cand(Medium, 3),
                IntervalPassed {
                    last_alert_s: NOW - 24 * HOUR,
                },
            ),
            (
                "interval above",
                Some(confirmed(Medium, 3, 24 * HOUR + 1)),
                cand(Medium, 3),
                IntervalPassed {
                    last_alert_s: NOW - 24 * HOUR - 1,
                },
            ),
            (
                "interval passed, band fell",
                Some(confirmed(High, 3, 2 * DAY)),
                cand(Low, 3),
                IntervalPassed {
                    last_alert_s: NOW - 2 * DAY,
                },
            ),
            (
                "rise wins over count and interval",
                Some(confirmed(Medium, 1, 2 * DAY)),
                cand(High, 100),
                SeverityRose { from: Medium },
            ),
            (
                "count wins over interval",
                Some(confirmed(Medium, 1, 2 * DAY)),
                cand(Medium, 100),
                CountGrew { from: 1 },
            ),
            (
                "alerted in the future (clock skew)",
                Some(confirmed(Medium, 3, 0)),
                cand(Medium, 3),
                dup(0),
            ),
            (
                "expired item",
                Some(Stored {
                    expires_at_s: NOW,
                    ..confirmed(Medium, 3, HOUR)
                }),
                cand(Medium, 3),
                New,
            ),
            (
                "item expires in 1 s",
                Some(Stored {
                    expires_at_s: NOW + 1,
                    ..confirmed(Medium, 3, HOUR)
                }),
                cand(Medium, 3),
                dup(HOUR),
            ),
            (
                "unexpired lease",
                Some(leased(1, None)),
                cand(Medium, 1),
                InFlight,
            ),
            (
                "unexpired lease, band rose",
                Some(leased(600, Some(state(Low, 1, NOW - HOUR)))),
                cand(Critical, 1000),
                InFlight,
            ),
            (
                "expired lease at its deadline, no previous alert",
                Some(leased(0, None)),
                cand(Medium, 1),
                New,
            ),
            (
                "expired lease, no previous alert",
                Some(leased(-1, None)),
                cand(Medium, 1),
                New,
            ),
            (
                "expired lease, previous alert decides",
                Some(leased(-1, Some(state(Medium, 3, NOW - HOUR)))),
                cand(Medium, 3),
                dup(HOUR),
            ),
            (
                "expired lease, rise over the previous alert",
                Some(leased(-1, Some(state(Medium, 3, NOW - HOUR)))),
                cand(High, 3),
                SeverityRose { from: Medium },
            ),
            (
                "expired lease, previous alert expired",
                Some(leased(-1, Some(state(Medium, 3, NOW - 30 * DAY)))),
                cand(Medium, 3),
                New,
            ),
        ];
        let s = settings();
        for (name, stored, c, want) in cases {
            let got = decide(stored.as_ref(), &c, &s, NOW);
            assert_eq!(got, want, "{name}");
        }
        // Another factor.
        let s = DedupSettings {
            count_factor: 1.5,
            ..settings()
        };
        let st = confirmed(Medium, 3, HOUR);
        assert_eq!(decide(Some(&st), &cand(Medium, 4), &s, NOW), dup(HOUR));
        assert_eq!(
            decide(Some(&st), &cand(Medium, 5), &s, NOW),
            CountGrew { from: 3 }
        );
    }

    #[test]
    fn the_previous_state_of_a_claim_is_what_was_decided_against() {
        let s = settings();
        let st = confirmed(Medium, 3, HOUR);
        assert_eq!(
            judge(Some(&st), &cand(High, 3), &s, NOW).1,
            Some(st.current)
        );
        let prev = state(Low, 1, NOW - HOUR);
        let st = leased(-1, Some(prev));
        assert_eq!(judge(Some(&st), &cand(High, 3), &s, NOW).1, Some(prev));
        assert_eq!(judge(None, &cand(High, 3), &s, NOW).1, None);
    }

    #[test]
    fn verdict_names() {
        let all = [
            (Verdict::New, "new", true),
            (Verdict::SeverityRose { from: Low }, "severity_rose", true),
            (Verdict::CountGrew { from: 1 }, "count_grew", true),
            (
                Verdict::IntervalPassed { last_alert_s: 1 },
                "interval_passed",
                true,
            ),
            (Verdict::Duplicate { last_alert_s: 1 }, "duplicate", false),
            (Verdict::InFlight, "in_flight", false),
        ];
        for (v, name, alerts) in all {
            assert_eq!((v.as_str(), v.alerts()), (name, alerts));
        }
    }

    fn from_vars(vars: &[(&str, &str)]) -> Result<Option<DedupSettings>, String> {
        let m: std::collections::HashMap<&str, &str> = vars.iter().copied().collect();
        DedupSettings::from_lookup(|k| m.get(k).map(|v| (*v).to_owned())).map_err(|e| e.to_string())
    }

    #[test]
    fn settings_from_the_environment() {
        assert_eq!(from_vars(&[]), Ok(None));
        assert_eq!(from_vars(&[("DEDUP_TABLE", " ")]), Ok(None));
        assert_eq!(
            from_vars(&[("DEDUP_TABLE", "gd-dedup")]),
            Ok(Some(settings()))
        );
        assert_eq!(
            from_vars(&[
                ("DEDUP_TABLE", " gd_dedup.v1 "),
                ("DEDUP_COUNT_FACTOR", "1.5"),
                ("DEDUP_REALERT_HOURS", "0.5"),
                ("DEDUP_TTL_DAYS", "7"),
            ]),
            Ok(Some(DedupSettings {
                table: "gd_dedup.v1".into(),
                count_factor: 1.5,
                realert_after: Duration::from_secs(1800),
                ttl: Duration::from_secs(7 * DAY),
            }))
        );
        let arn = "arn:aws:dynamodb:us-east-1:111122223333:table/gd-dedup";
        assert_eq!(
            from_vars(&[("DEDUP_TABLE", arn)]).map(|s| s.map(|s| s.table)),
            Ok(Some(arn.to_owned()))
        );
        // The TTL may equal the re-alert interval.
        assert!(
            from_vars(&[("DEDUP_TABLE", "t12"), ("DEDUP_TTL_DAYS", "1")])
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn every_bad_setting_is_an_error_naming_its_variable() {
        let t = ("DEDUP_TABLE", "gd-dedup");
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (
                vec![("DEDUP_COUNT_FACTOR", "3")],
                "configuration error: DEDUP_COUNT_FACTOR: is set but DEDUP_TABLE is not: set DEDUP_TABLE to turn dedup on",
            ),
            (
                vec![("DEDUP_TABLE", ""), ("DEDUP_TTL_DAYS", "3")],
                "configuration error: DEDUP_TTL_DAYS: is set but DEDUP_TABLE is not: set DEDUP_TABLE to turn dedup on",
            ),
            (
                vec![("DEDUP_TABLE", "my table")],
                "configuration error: DEDUP_TABLE: \"my table\" is not a DynamoDB table name or ARN: a name has 3 to 255 letters, digits, '_', '-' or '.'",
            ),
            (
                vec![("DEDUP_TABLE", "ab")],
                "configuration error: DEDUP_TABLE: \"ab\" is not a DynamoDB table name or ARN: a name has 3 to 255 letters, digits, '_', '-' or '.'",
            ),
            (
                vec![("DEDUP_TABLE", "arn:aws:sns:us-east-1:111122223333:gd-dedup")],
                "configuration error: DEDUP_TABLE: \"arn:aws:sns:us-east-1:111122223333:gd-dedup\" is not a DynamoDB table name or ARN",
            ),
            (
                vec![t, ("DEDUP_COUNT_FACTOR", "1")],
                "configuration error: DEDUP_COUNT_FACTOR: \"1\": use a number greater than 1 (default 2: alert again when the count has doubled)",
            ),
            (
                vec![t, ("DEDUP_COUNT_FACTOR", "double")],
                "configuration error: DEDUP_COUNT_FACTOR: \"double\": use a number greater than 1",
            ),
            (
                vec![t, ("DEDUP_COUNT_FACTOR", "inf")],
                "configuration error: DEDUP_COUNT_FACTOR: \"inf\": use a number greater than 1",
            ),
            (
                vec![t, ("DEDUP_REALERT_HOURS", "0")],
                "configuration error: DEDUP_REALERT_HOURS: \"0\": use a number of hours greater than 0, at most 8760 (default 24)",
            ),
            (
                vec![t, ("DEDUP_REALERT_HOURS", "NaN")],
                "configuration error: DEDUP_REALERT_HOURS: \"NaN\": use a number of hours",
            ),
            (
                vec![t, ("DEDUP_REALERT_HOURS", "8761")],
                "configuration error: DEDUP_REALERT_HOURS: \"8761\": use a number of hours",
            ),
            (
                vec![t, ("DEDUP_TTL_DAYS", "-1")],
                "configuration error: DEDUP_TTL_DAYS: \"-1\": use a number of days greater than 0, at most 3650 (default 30)",
            ),
            (
                vec![t, ("DEDUP_TTL_DAYS", "1e9")],
                "configuration error: DEDUP_TTL_DAYS: \"1e9\": use a number of days",
            ),
            (
                vec![t, ("DEDUP_TTL_DAYS", "0.5")],
                "configuration error: DEDUP_TTL_DAYS: 0.5 days is shorter than the re-alert interval (24 hours): items would expire first; use at least 1",
            ),
            (
                vec![t, ("DEDUP_REALERT_HOURS", "1000")],
                "configuration error: DEDUP_REALERT_HOURS: 1000 hours is longer than the items' lifetime (DEDUP_TTL_DAYS, default 30 days): set DEDUP_TTL_DAYS to at least 41.67",
            ),
        ];
        for (vars, want) in cases {
            let got = from_vars(&vars).expect_err(want);
            assert!(got.starts_with(want), "{vars:?}:\n got {got}\nwant {want}");
        }
    }

    #[test]
    fn candidates_from_findings() {
        let line = r#"{"id":"abc","type":"Recon:EC2/PortProbeUnprotectedPort","severity":8,
            "accountId":"111122223333","region":"eu-west-1","service":{"count":"7"}}"#;
        let f = Finding::parse(line).unwrap();
        let c = Candidate::new(&f, &classify(&f));
        assert_eq!(
            c,
            Candidate {
                key: "111122223333/eu-west-1/abc".into(),
                label: High,
                severity: 8.0,
                count: 7,
            }
        );
        for (line, key, count) in [
            (r#"{"id":"x","type":"T","severity":2}"#, "-/-/x", 1),
            (
                r#"{"id":"x","type":"T","severity":2,"service":{"count":0}}"#,
                "-/-/x",
                1,
            ),
            (
                r#"{"id":"x","type":"T","severity":2,"arn":"arn:aws:guardduty:us-east-2:444455556666:detector/d/finding/x","service":{"count":12.0}}"#,
                "444455556666/us-east-2/x",
                12,
            ),
        ] {
            let f = Finding::parse(line).unwrap();
            let c = Candidate::new(&f, &classify(&f));
            assert_eq!((c.key.as_str(), c.count), (key, count), "{line}");
        }
    }
}
