//! The shapes of AWS names the settings take: Regions, account ids, SNS topic ARNs.

/// `arn:PARTITION:sns:REGION:ACCOUNT:TOPIC` with a 12-digit account: the one check of an SNS
/// topic ARN, for `SNS_TOPIC_ARN` and the rules file alike.
pub fn is_sns_topic_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && is_region(parts[3])
        && is_account_id(parts[4])
        && !parts[5].is_empty()
        && parts[5].len() <= 256
        && parts[5]
            .strip_suffix(".fifo")
            .unwrap_or(parts[5])
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A region name such as `us-east-1` or `us-gov-west-1`.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Twelve digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for (s, want) in [
            ("arn:aws:sns:us-east-1:111122223333:alerts", true),
            (
                "arn:aws-us-gov:sns:us-gov-west-1:111122223333:alerts.fifo",
                true,
            ),
            ("arn:aws-cn:sns:cn-north-1:111122223333:a_b-c", true),
            ("arn:aws:sns:us-east-1:1:alerts", false),
            ("arn:aws:sqs:us-east-1:111122223333:q", false),
            ("arn:aws:sns:useast1:111122223333:alerts", false),
            ("arn:aws:sns:us-east-1:111122223333:", false),
            ("arn:aws:sns:us-east-1:111122223333:a/b", false),
            ("alerts", false),
        ] {
            assert_eq!(is_sns_topic_arn(s), want, "{s}");
        }
        assert!(is_region("ap-southeast-7") && is_region("us-gov-east-1"));
        assert!(!is_region("us-east") && !is_region("Us-east-1") && !is_region("us--1"));
        assert!(is_account_id("111122223333") && !is_account_id("11112222333x"));
    }
}
