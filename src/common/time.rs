//! Time: the clock, and the timestamps the product reads (finding times, HTTP dates), parsed by
//! `aws_smithy_types::DateTime` rather than by hand.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

/// Now, in milliseconds since the epoch (0 if the clock is before 1970).
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Now, in seconds since the epoch.
pub fn now_secs() -> u64 {
    now_millis() / 1000
}

/// Parses the timestamps found in findings into seconds since the epoch: RFC 3339 / ISO 8601
/// (`2026-11-26T10:00:00.123Z`, with an offset such as `+02:00`, or with a space instead of `T`
/// and no zone, taken as UTC), epoch seconds (`1700000000.5`) and epoch milliseconds
/// (`1700000000000`).
pub fn parse_timestamp(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<f64>() {
        return n
            .is_finite()
            .then_some(if n > 1e11 { n / 1000.0 } else { n });
    }
    if s.len() < 19 {
        return None;
    }
    let mut iso = s.replacen(' ', "T", 1);
    let has_zone = iso.ends_with(['Z', 'z']) || iso[19..].contains(['+', '-']);
    if !has_zone {
        iso.push('Z');
    }
    let t = DateTime::from_str(&iso, Format::DateTimeWithOffset).ok()?;
    Some(t.as_secs_f64())
}

/// `Retry-After`: delay-seconds (whole or not, at most a day) or an HTTP date (RFC 9110's
/// IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`), as the time to wait from now.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let when = DateTime::from_str(v, Format::HttpDate).ok()?;
    let when = SystemTime::try_from(when).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ` of an epoch second.
pub fn iso_seconds(secs: i64) -> String {
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let cases = [
            ("1970-01-01T00:00:00Z", Some(0.0)),
            ("2026-11-26T10:00:00.500Z", Some(1_795_687_200.5)),
            ("2025-02-25 20:40:06.721", Some(1_740_516_006.721)),
            ("2000-02-29T23:59:59Z", Some(951_868_799.0)),
            ("2026-11-26T10:00:00+02:00", Some(1_795_680_000.0)),
            ("2026-11-26T10:00:00-00:30", Some(1_795_689_000.0)),
            ("1700000000.5", Some(1_700_000_000.5)),
            ("1700000000000", Some(1_700_000_000.0)),
            ("2026-13-01T00:00:00Z", None),
            ("2026-02-30T00:00:00Z", None),
            ("yesterday", None),
            ("NaN", None),
            ("", None),
        ];
        for (s, want) in cases {
            let got = parse_timestamp(s);
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-3, "{s}: {g} != {w}"),
                (g, w) => assert_eq!(g, w, "{s}"),
            }
        }
        assert_eq!(iso_seconds(1_795_687_200), "2026-11-26T10:00:00Z");
    }

    #[test]
    fn retry_after() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(" 1.5 "),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let later = SystemTime::now() + Duration::from_secs(120);
        let text = DateTime::from(later).fmt(Format::HttpDate).unwrap();
        let d = parse_retry_after(&text).unwrap();
        assert!((110..=120).contains(&d.as_secs()), "{text}: {d:?}");
        let future = parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT").unwrap();
        assert!(future > Duration::from_secs(365 * 86_400));
        for bad in ["soon", "-1", "Sun, 06 Nov 1994 08:49:37", ""] {
            assert_eq!(parse_retry_after(bad), None, "{bad}");
        }
    }
}
