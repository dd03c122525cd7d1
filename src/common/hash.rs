//! Stable short ids: FNV-1a (not a security hash) and the ids SNS FIFO topics, webhook
//! delivery ids and PagerDuty dedup keys are made of.

/// A FIFO deduplication id (at most 128 characters from SNS's allowed set) for a finding
/// version: the same finding re-exported without change deduplicates; an update does not.
pub fn dedup_id(id: &str, updated_at: Option<&str>) -> String {
    fifo_id(&format!("{id}-{}", updated_at.unwrap_or("")), "-")
}

/// `raw` as a FIFO message group or deduplication id, which SNS takes only as 1 to 128 ASCII
/// letters, digits and punctuation: other characters are dropped; a longer id becomes a hash of
/// the whole (so distinct inputs stay distinct); an id with nothing left is `fallback`.
pub fn fifo_id(raw: &str, fallback: &str) -> String {
    let clean: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || c.is_ascii_punctuation())
        .collect();
    if clean.is_empty() {
        fallback.to_owned()
    } else if clean.len() <= 128 {
        clean
    } else {
        format!(
            "{:016x}{:016x}",
            fnv1a(raw.as_bytes(), 0),
            fnv1a(raw.as_bytes(), 1)
        )
    }
}

/// FNV-1a over `data` from a seeded basis: stable short hashes for ids (not a security hash).
pub fn fnv1a(data: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
