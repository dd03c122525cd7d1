//! The records Lambda's on-failure destination writes for an asynchronous invocation that
//! failed (here, to the stack's SQS failure queue): the original event in `requestPayload`, not
//! an S3 event. EventBridge's dead-letter messages in the same queue are the event itself.
//! `guardduty-alerts replay-failures` reads both and runs the events again.

use serde_json::Value;

use super::str_at;

/// One failed invocation, as the failure queue holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedInvocation {
    /// The event to run again.
    pub event: Value,
    /// The failed request's id (`requestContext.requestId`), when Lambda wrote the record.
    pub request_id: Option<String>,
    /// Why Lambda gave up: `RetriesExhausted`, `EventAgeExceeded`, … (`requestContext.condition`).
    pub condition: Option<String>,
    /// The error the last attempt returned (`responsePayload.errorType: errorMessage`).
    pub error: Option<String>,
}

/// Reads a failure-queue message body: a Lambda on-failure destination record (`version`
/// `1.0`, `requestPayload`), or an event EventBridge could not deliver (the event itself).
/// `None` when the body is neither JSON nor a JSON object.
pub fn failed_invocation(body: &str) -> Option<FailedInvocation> {
    let v: Value = serde_json::from_str(body).ok()?;
    if !v.is_object() {
        return None;
    }
    let Some(event) = v
        .get("requestPayload")
        .filter(|_| v.get("requestContext").is_some())
    else {
        return Some(FailedInvocation {
            event: v,
            request_id: None,
            condition: None,
            error: None,
        });
    };
    let error = v.get("responsePayload").and_then(|r| {
        let kind = str_at(r, "/errorType");
        let message = str_at(r, "/errorMessage");
        match (kind, message) {
            (Some(k), Some(m)) => Some(format!("{k}: {m}")),
            (k, m) => k.or(m).map(str::to_owned),
        }
    });
    Some(FailedInvocation {
        event: event.clone(),
        request_id: str_at(&v, "/requestContext/requestId").map(str::to_owned),
        condition: str_at(&v, "/requestContext/condition").map(str::to_owned),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn destination_records_and_dead_letters() {
        let event =
            json!({ "Records": [{ "eventSource": "aws:s3", "eventName": "ObjectCreated:Put" }] });
        let record = json!({
            "version": "1.0",
            "timestamp": "2026-11-26T10:05:17.000Z",
            "requestContext": {
                "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
                "functionArn": "arn:aws:lambda:us-east-1:111122223333:function:guardduty-alerts:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3
            },
            "requestPayload": event,
            "responseContext": { "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled" },
            "responsePayload": { "errorType": "DeliveryFailed", "errorMessage": "0 object(s) failed, 10 alert(s) not delivered" }
        });
        let f = failed_invocation(&record.to_string()).unwrap();
        assert_eq!(f.event, event);
        assert_eq!(
            f.request_id.as_deref(),
            Some("e4b46cbf-b738-xmpl-8880-a18cdf61200e")
        );
        assert_eq!(f.condition.as_deref(), Some("RetriesExhausted"));
        assert_eq!(
            f.error.as_deref(),
            Some("DeliveryFailed: 0 object(s) failed, 10 alert(s) not delivered")
        );
        // An event EventBridge could not deliver is the event itself.
        let dead =
            json!({ "source": "aws.guardduty", "detail-type": "GuardDuty Finding", "detail": {} });
        let f = failed_invocation(&dead.to_string()).unwrap();
        assert_eq!((f.event, f.request_id, f.error), (dead, None, None));
        assert_eq!(failed_invocation("not json"), None);
        assert_eq!(failed_invocation("[1]"), None);
    }
}
