//! `replay-failures QUEUE_URL`: the function's failed invocations, run again from its failure
//! queue through the same handler, each message deleted only once its event succeeded.

use std::collections::HashSet;
use std::process::ExitCode;

use serde_json::Value;

use crate::cli::args::ReplayArgs;
use crate::cli::output::terminal_safe;
use crate::cli::report::{error, warning};
use crate::lambda::{App, Config};
use crate::trigger::{FailedInvocation, failed_invocation, parse_event};

/// How long a received message stays hidden from other readers while it is replayed (the
/// function's longest timeout); messages that are kept are made visible again at the end.
const VISIBILITY_SECS: i32 = 900;

/// Runs `replay-failures`.
pub async fn replay_failures(args: ReplayArgs) -> ExitCode {
    let sdk = match super::aws_config(&args.profile, &args.region).await {
        Ok(sdk) => sdk,
        Err(e) => {
            error(e);
            return ExitCode::from(2);
        }
    };
    let app = if args.dry_run {
        None
    } else {
        let config = match Config::from_env() {
            Ok(c) => c,
            Err(e) => {
                error(format_args!(
                    "{e} (replay-failures reads the function's settings from the environment)"
                ));
                return ExitCode::from(2);
            }
        };
        match App::new(config, &sdk).await {
            Ok(app) => Some(app),
            Err(e) => {
                error(format_args!("{}: {}", e.setting, e.problem));
                return ExitCode::from(2);
            }
        }
    };
    if app.as_ref().is_some_and(|a| a.dedup.is_none()) {
        warning(
            "DEDUP_TABLE is not set: alerts the failed invocations delivered before they failed \
             are sent again (set it to the function's table, the stack's output DedupTableName)",
        );
    }
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = &args.queue_url;
    let mut seen: HashSet<String> = HashSet::new();
    let mut kept: Vec<String> = Vec::new();
    let (mut replayed, mut failed, mut unreadable, mut listed) = (0u64, 0u64, 0u64, 0u64);
    loop {
        let received = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(VISIBILITY_SECS)
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                error(format_args!(
                    "{queue}: ReceiveMessage failed: {} (the caller needs sqs:ReceiveMessage, \
                     sqs:DeleteMessage and sqs:ChangeMessageVisibility on the queue)",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                ));
                release(&sqs, queue, &kept).await;
                return ExitCode::from(2);
            }
        };
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let id = m.message_id().unwrap_or("(no id)").to_owned();
            let Some(receipt) = m.receipt_handle().map(str::to_owned) else {
                continue;
            };
            if !seen.insert(id.clone()) {
                kept.push(receipt);
                continue;
            }
            let Some(failure) = m.body().and_then(failed_invocation) else {
                unreadable += 1;
                error(format_args!(
                    "message {id}: not a failed invocation (no JSON event, no requestPayload); left in the queue"
                ));
                kept.push(receipt);
                continue;
            };
            let what = describe(&failure);
            let Some(app) = &app else {
                listed += 1;
                println!("would replay message {id}: {what}");
                kept.push(receipt);
                continue;
            };
            match replay_one(app, &failure).await {
                Ok(done) => {
                    match sqs
                        .delete_message()
                        .queue_url(queue)
                        .receipt_handle(&receipt)
                        .send()
                        .await
                    {
                        Ok(_) => {
                            replayed += 1;
                            println!("replayed message {id}: {what}: {done}; deleted");
                        }
                        Err(e) => {
                            failed += 1;
                            error(format_args!(
                                "message {id}: replayed ({done}) but not deleted: {}; a second replay sends only what the dedup table has not seen",
                                aws_sdk_sqs::error::DisplayErrorContext(&e)
                            ));
                        }
                    }
                }
                Err(why) => {
                    failed += 1;
                    error(format_args!(
                        "message {id}: {what}: failed again: {}; left in the queue",
                        terminal_safe(&why)
                    ));
                    kept.push(receipt);
                }
            }
        }
    }
    release(&sqs, queue, &kept).await;
    if args.dry_run {
        eprintln!(
            "{listed} message(s) would be replayed, {unreadable} not understood; nothing was sent or deleted"
        );
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "{replayed} message(s) replayed and deleted, {failed} failed, {unreadable} not understood (left in the queue)"
    );
    if failed == 0 && unreadable == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs one failed invocation's event again: `Ok` with what it did, or why it failed.
async fn replay_one(app: &App, failure: &FailedInvocation) -> Result<String, String> {
    let response = crate::lambda::handle(app, failure.event.clone())
        .await
        .map_err(|e| format!("{}: {}", e.kind, e.message))?;
    if let Some(items) = response["batchItemFailures"].as_array()
        && !items.is_empty()
    {
        return Err(format!(
            "{} SQS message(s) of the batch failed",
            items.len()
        ));
    }
    let n = |k: &str| response[k].as_u64().unwrap_or_default();
    let dedup: u64 = response["deduplicated"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or_default();
    Ok(format!(
        "findings {}, alerts sent {}, already sent before {}",
        n("findings"),
        n("alerts_sent"),
        dedup
    ))
}

/// What a failed invocation was about: its request, why it failed, what its event names.
fn describe(f: &FailedInvocation) -> String {
    let mut parts = Vec::new();
    if let Some(r) = &f.request_id {
        parts.push(format!("request {r}"));
    }
    if let Some(c) = &f.condition {
        parts.push(c.clone());
    }
    if let Some(e) = &f.error {
        let mut e = e.clone();
        if e.len() > 200 {
            e.truncate(e.floor_char_boundary(200));
            e.push('…');
        }
        parts.push(format!("last error {e}"));
    }
    let names = match parse_event(&f.event) {
        Ok(inv) => {
            let mut names: Vec<String> = Vec::new();
            for u in &inv.units {
                names.extend(u.objects.iter().map(ToString::to_string));
                names.extend(u.findings.iter().map(|x| x.name.clone()));
            }
            if names.is_empty() {
                format!("a {} event naming no export", inv.shape)
            } else {
                names.join(", ")
            }
        }
        Err(e) => format!("an event the function does not take ({e})"),
    };
    parts.push(names);
    terminal_safe(&parts.join("; ")).into_owned()
}

/// Makes the kept messages visible again at once (they were hidden while being read).
async fn release(sqs: &aws_sdk_sqs::Client, queue: &str, receipts: &[String]) {
    for receipt in receipts {
        if let Err(e) = sqs
            .change_message_visibility()
            .queue_url(queue)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
        {
            warning(format_args!(
                "{queue}: a kept message stays hidden for up to {VISIBILITY_SECS} s: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            ));
        }
    }
}
