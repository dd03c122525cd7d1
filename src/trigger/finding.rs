//! EventBridge `GuardDuty Finding` events: one finding in `detail`, delivered as GuardDuty
//! publishes it (new findings at once, updates of an existing one every 6 hours by default), with
//! no export set up. The finding is the same JSON object an export line holds, so it goes
//! through the same pipeline (and the same dedup table: a finding seen both in an export and in
//! an event alerts once).

use serde_json::Value;

use super::{SkipReason, Unit, str_at};

/// `source` of GuardDuty's events.
pub const SOURCE: &str = "aws.guardduty";
/// `detail-type` of a finding event.
pub const DETAIL_TYPE: &str = "GuardDuty Finding";

/// A finding that arrived inside an event rather than in an export object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFinding {
    /// How logs, errors and records name it: `GuardDuty Finding event EVENT-ID (finding ID)`.
    pub name: String,
    /// The finding (the event's `detail`) as one JSON line.
    pub json: String,
}

/// Whether `v` is a `GuardDuty Finding` event.
pub(super) fn is_finding_event(v: &Value) -> bool {
    str_at(v, "/source") == Some(SOURCE) && str_at(v, "/detail-type") == Some(DETAIL_TYPE)
}

/// Reads a `GuardDuty Finding` event into `unit`: its finding, or an error when `detail` is not
/// a finding (no object, or no `id`/`type`).
pub(super) fn finding_event(v: &Value, unit: &mut Unit) {
    let event_id = str_at(v, "/id").unwrap_or("(no id)");
    let Some(detail) = v.get("detail").filter(|d| d.is_object()) else {
        unit.fail(format!(
            "GuardDuty Finding event {event_id} has no detail object (the finding)"
        ));
        return;
    };
    let (Some(id), Some(_)) = (str_at(detail, "/id"), str_at(detail, "/type")) else {
        unit.fail(format!(
            "GuardDuty Finding event {event_id}: its detail has no id or no type, so it is not a finding"
        ));
        return;
    };
    unit.findings.push(EventFinding {
        name: format!("GuardDuty Finding event {event_id} (finding {id})"),
        json: detail.to_string(),
    });
}

/// Another GuardDuty event (a malware scan result, …): skipped, named by its `detail-type`.
pub(super) fn other_guardduty_event(v: &Value, unit: &mut Unit) {
    unit.skip(
        format!("EventBridge event from {SOURCE}"),
        SkipReason::NotAFinding,
        str_at(v, "/detail-type"),
    );
}
