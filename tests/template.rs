//! template.yaml against the code: the function's environment variables are exactly ones the
//! code reads (`lambda::ENV_VARS`), the required one is set, and the binary SAM builds exists.
//! (cfn-lint and `sam validate` run from tests/run.)

use guardduty_alerts::lambda::ENV_VARS;

fn template() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml"))
        .expect("template.yaml")
}

/// The keys under `Environment: Variables:` of the function, read by indentation.
fn template_env_vars(t: &str) -> Vec<String> {
    let lines: Vec<&str> = t.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == "Variables:")
        .expect("an Environment.Variables block");
    let indent = |l: &str| l.len() - l.trim_start().len();
    let base = indent(lines[start]);
    let mut vars = Vec::new();
    for l in &lines[start + 1..] {
        if l.trim().is_empty() {
            continue;
        }
        if indent(l) <= base {
            break;
        }
        if indent(l) == base + 2
            && let Some((k, _)) = l.trim().split_once(':')
        {
            vars.push(k.to_owned());
        }
    }
    vars
}

#[test]
fn environment_variables_do_not_drift() {
    let vars = template_env_vars(&template());
    assert!(!vars.is_empty());
    for v in &vars {
        assert!(
            ENV_VARS.contains(&v.as_str()),
            "template sets {v}, which the code does not read"
        );
    }
    // Settings the template leaves at the code's defaults, on purpose.
    let defaults_only = [
        "MAX_LINE_BYTES",
        "MAX_DECOMPRESSED_BYTES",
        "WEBHOOK_RATE_PER_SECOND",
    ];
    // Secrets given one by one are for local use: deployed, they come from WEBHOOK_SECRET, so
    // that no credential sits in the function's configuration. ALLOW_HTTP_WEBHOOKS is for tests.
    let local_only = [
        "SLACK_WEBHOOK_URL",
        "TEAMS_WEBHOOK_URL",
        "PAGERDUTY_ROUTING_KEY",
        "WEBHOOK_URL",
        "WEBHOOK_SIGNING_SECRET",
        "WEBHOOK_HEADERS",
        "ALLOW_HTTP_WEBHOOKS",
    ];
    for v in local_only {
        assert!(
            !vars.iter().any(|t| t == v),
            "template.yaml sets {v}, which must come from WEBHOOK_SECRET when deployed"
        );
    }
    for v in ENV_VARS {
        assert!(
            vars.iter().any(|t| t == v) || defaults_only.contains(&v) || local_only.contains(&v),
            "the code reads {v} but template.yaml neither sets it nor lists it as default-only"
        );
    }
    assert!(vars.iter().any(|v| v == "SNS_TOPIC_ARN"));
}

#[test]
fn template_builds_the_lambda_binary_for_provided_al2023() {
    let t = template();
    for needle in [
        "Runtime: provided.al2023",
        "Handler: bootstrap",
        "BuildMethod: rust-cargolambda",
        "Binary: guardduty-alerts-lambda",
    ] {
        assert!(t.contains(needle), "template.yaml lacks {needle:?}");
    }
    let cargo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("Cargo.toml");
    assert!(cargo.contains("name = \"guardduty-alerts-lambda\""));
    // The metric the dead man's switch watches is one the function emits.
    assert!(t.contains("MetricName: ObjectsProcessed") && t.contains("Namespace: GuardDutyAlerts"));
}

/// The Rust files under `src/{dir}`, joined.
fn code_in(dir: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(dir);
    let mut out = String::new();
    for entry in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
        let p = entry.expect("entry").path();
        if p.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&p).expect("read"));
        }
    }
    out
}

/// The dedup table the template makes is the one the code documents (`pk` hash key, TTL on
/// `expires_at`), and the role may call exactly the operations the code calls on it.
#[test]
fn the_dedup_table_and_its_permissions_match_the_code() {
    let t = template();
    let code = code_in("state");
    for (call, action) in [
        (".batch_get_item()", "dynamodb:BatchGetItem"),
        (".put_item()", "dynamodb:PutItem"),
        (".update_item()", "dynamodb:UpdateItem"),
        (".delete_item()", "dynamodb:DeleteItem"),
        (".get_item()", "dynamodb:GetItem"),
    ] {
        assert!(code.contains(call), "src/state/ no longer calls {call}");
        assert!(t.contains(action), "template.yaml does not allow {action}");
    }
    assert_eq!(
        t.matches("dynamodb:").count(),
        5,
        "template.yaml allows DynamoDB actions the code does not call"
    );
    assert!(
        t.contains("AttributeName: expires_at")
            && t.contains("{ AttributeName: pk, KeyType: HASH }")
    );
    assert!(t.contains("DEDUP_TABLE: !If [CreateDedupTable, !Ref DedupStateTable"));
    assert!(t.contains("Resource: !GetAtt DedupStateTable.Arn"));
}

/// The health check's calls are the ones the template allows, and its metric is the one the
/// template's alarm watches.
#[test]
fn the_health_check_permissions_and_metric_match_the_code() {
    let t = template();
    let code = code_in("health");
    for (call, action) in [
        (".list_detectors()", "guardduty:ListDetectors"),
        (
            ".list_publishing_destinations()",
            "guardduty:ListPublishingDestinations",
        ),
        (
            ".describe_publishing_destination()",
            "guardduty:DescribePublishingDestination",
        ),
        (".list_objects_v2()", "s3:ListBucket"),
    ] {
        assert!(code.contains(call), "src/health/ no longer calls {call}");
        assert!(t.contains(action), "template.yaml does not allow {action}");
    }
    assert!(code.contains("\"PublishingDestinationsUnhealthy\""));
    assert!(t.contains("MetricName: PublishingDestinationsUnhealthy"));
}
