//! `process --profile` and `--region` end to end: the built binary, a temporary `~/.aws` with an
//! IAM Identity Center (SSO) profile and its cached token, and loopback stand-ins for the SSO
//! portal (`GetRoleCredentials`, which moto does not implement) and for S3 (which records the
//! signature, so the test sees which credentials and Region signed the request).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::http::{Reply, Request, Server};

const BIN: &str = env!("CARGO_BIN_EXE_guardduty-alerts");
const SSO_TOKEN: &str = "sso-access-token-from-the-cache";
const ROLE_KEY_ID: &str = "ASIASSOSTANDIN000001";
const ROLE_SESSION_TOKEN: &str = "role-session-token-from-sso";
const ENV_KEY_ID: &str = "AKIAENVIRONMENTKEY01";
const PROCESS_KEY_ID: &str = "ASIAPROCESSSTANDIN01";

/// A home directory with `~/.aws/config` (profile `audit` through sso-session `corp`) and, when
/// `token_expires` is given, the session's cached token in `~/.aws/sso/cache/`.
fn home(name: &str, token_expires: Option<&str>) -> PathBuf {
    let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-aws-{name}"));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(home.join(".aws/sso/cache")).expect("~/.aws");
    std::fs::write(
        home.join(".aws/config"),
        format!(
            "[profile audit]\n\
         sso_session = corp\n\
         sso_account_id = 111122223333\n\
         sso_role_name = SecurityAudit\n\
         region = eu-west-1\n\
         \n\
         [sso-session corp]\n\
         sso_start_url = https://corp.awsapps.com/start\n\
         sso_region = eu-central-1\n\
         sso_registration_scopes = sso:account:access\n\
         \n\
         [profile vault]\n\
         credential_process = {process}\n\
         region = ap-southeast-2\n",
            process = home.join("credentials.sh").display()
        ),
    )
    .expect("~/.aws/config");
    // What aws-vault or granted would print.
    let script = home.join("credentials.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho '{{\"Version\": 1, \"AccessKeyId\": \"{PROCESS_KEY_ID}\", \
             \"SecretAccessKey\": \"process-secret\", \"SessionToken\": \"process-token\", \
             \"Expiration\": \"2099-01-01T00:00:00Z\"}}'\n"
        ),
    )
    .expect("credentials.sh");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    if let Some(expires) = token_expires {
        // The SDK (like the AWS CLI) names the cache file by the SHA-1 of the session name.
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, b"corp");
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(
            home.join(format!(".aws/sso/cache/{hex}.json")),
            serde_json::json!({
                "startUrl": "https://corp.awsapps.com/start",
                "region": "eu-central-1",
                "accessToken": SSO_TOKEN,
                "expiresAt": expires,
            })
            .to_string(),
        )
        .expect("cached token");
    }
    home
}

/// The SSO portal: `GetRoleCredentials` answered with role credentials valid for an hour.
async fn sso_portal() -> Server {
    Server::start(|_, _| {
        let expiration = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + 3_600_000;
        Reply::Status {
            code: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::json!({"roleCredentials": {
                "accessKeyId": ROLE_KEY_ID,
                "secretAccessKey": "role-secret-from-sso",
                "sessionToken": ROLE_SESSION_TOKEN,
                "expiration": expiration,
            }})
            .to_string(),
            delay: Duration::ZERO,
        }
    })
    .await
}

/// S3: every GetObject answered with the sample export (plain JSON Lines).
async fn s3() -> Server {
    let export = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/sample-export.jsonl"
    ))
    .expect("sample export");
    Server::start(move |_, _| Reply::Status {
        code: 200,
        headers: Vec::new(),
        body: export.clone(),
        delay: Duration::ZERO,
    })
    .await
}

/// Runs `process` with HOME at `home`, the stand-ins as the SSO and S3 endpoints, environment
/// credentials that must lose to the profile, and nothing else of the caller's AWS settings.
async fn process(
    home: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    portal: &Server,
    s3: &Server,
) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("process").args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", home)
        .env("AWS_ENDPOINT_URL_SSO", portal.url(""))
        .env("AWS_ENDPOINT_URL_S3", s3.url(""))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", ENV_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", "environment-secret")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied());
    tokio::task::spawn_blocking(move || cmd.output().expect("run the CLI"))
        .await
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The Region in a SigV4 `Authorization` header's credential scope.
fn signed_region(r: &Request) -> String {
    let auth = &r.headers["authorization"];
    let scope = auth
        .split("Credential=")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_else(|| panic!("no credential scope: {auth}"));
    // KEY/DATE/REGION/SERVICE/aws4_request
    scope.split('/').nth(2).unwrap_or_default().to_owned()
}

const SOURCE: &str = "s3://exports/AWSLogs/111122223333/GuardDuty/eu-west-1/2026/11/26/x.jsonl";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sso_profile_signs_with_its_role_credentials_and_region_overrides_come_first() {
    let home = home("sso", Some("2099-01-01T00:00:00Z"));
    let (portal, s3) = (sso_portal().await, s3().await);
    // --profile over AWS_PROFILE, --region over AWS_REGION (and the profile's eu-west-1); then
    // without --region, AWS_REGION over the profile's Region, as the AWS CLI has it; then the
    // profile's Region.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 3] = [
        (
            &["--profile", "audit", "--region", "eu-west-2"],
            &[
                ("AWS_PROFILE", "no-such-profile"),
                ("AWS_REGION", "us-east-1"),
            ],
            "eu-west-2",
        ),
        (
            &["--profile", "audit"],
            &[("AWS_REGION", "us-east-1")],
            "us-east-1",
        ),
        (&["--profile", "audit"], &[], "eu-west-1"),
    ];
    for (i, (options, env, region)) in cases.into_iter().enumerate() {
        let mut args = options.to_vec();
        args.extend(["--format", "json", SOURCE]);
        let out = process(&home, &args, env, &portal, &s3).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert_eq!(text(&out.stdout).lines().count(), 12, "{stderr}");

        // One GetRoleCredentials per run (the up-front check's credentials are reused), with
        // the cached token, for the profile's account and role.
        let asked = portal.requests();
        assert_eq!(asked.len(), i + 1, "{asked:#?}");
        let ask = asked.last().unwrap();
        assert_eq!(ask.method, "GET");
        assert!(
            ask.path.starts_with("/federation/credentials?")
                && ask.path.contains("account_id=111122223333")
                && ask.path.contains("role_name=SecurityAudit"),
            "{}",
            ask.path
        );
        assert_eq!(ask.headers["x-amz-sso_bearer_token"], SSO_TOKEN);

        // S3 was signed with the role's credentials, not the environment's, in the Region.
        let got = s3.requests();
        assert_eq!(got.len(), i + 1, "{got:#?}");
        let get = got.last().unwrap();
        assert!(
            get.path
                .starts_with("/exports/AWSLogs/111122223333/GuardDuty/"),
            "path-style: {}",
            get.path
        );
        let auth = &get.headers["authorization"];
        assert!(
            auth.contains(&format!("Credential={ROLE_KEY_ID}/")),
            "{auth}"
        );
        assert!(!auth.contains(ENV_KEY_ID));
        assert_eq!(get.headers["x-amz-security-token"], ROLE_SESSION_TOKEN);
        assert_eq!(signed_region(get), region, "{args:?} {env:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_process_profile_signs_with_what_the_process_printed() {
    let home = home("process", None);
    let (portal, s3) = (sso_portal().await, s3().await);
    let out = process(&home, &["--profile", "vault", SOURCE], &[], &portal, &s3).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let got = s3.requests();
    assert_eq!(got.len(), 1);
    let auth = &got[0].headers["authorization"];
    assert!(
        auth.contains(&format!("Credential={PROCESS_KEY_ID}/")),
        "{auth}"
    );
    assert_eq!(got[0].headers["x-amz-security-token"], "process-token");
    assert_eq!(
        signed_region(&got[0]),
        "ap-southeast-2",
        "the profile's Region"
    );
    assert_eq!(portal.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_without_credentials_is_one_error_naming_it() {
    let (portal, s3) = (sso_portal().await, s3().await);
    // The SDK's errors, exactly, after the profile's name; then what to do.
    let cases = [
        // An expired token that cannot be refreshed (the cache holds no refresh token).
        (
            home("expired", Some("2020-01-01T00:00:00Z")),
            "audit",
            "an error occurred while loading credentials: an error occurred while loading an \
             access token: the SSO token has expired and cannot be refreshed",
        ),
        // Never logged in: no cached token.
        (
            home("no-token", None),
            "audit",
            "an error occurred while loading credentials: an error occurred while loading an \
             access token: failed to load the cached SSO token",
        ),
        (
            home("no-profile", None),
            "typo",
            "the credential provider was not enabled: profile `typo` was not defined: could \
             not find source profile typo referenced from the root profile",
        ),
    ];
    for (home, profile, sdk_error) in cases {
        let out = process(
            &home,
            &["--profile", profile, SOURCE],
            &[("AWS_REGION", "us-east-1")],
            &portal,
            &s3,
        )
        .await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(
            stderr,
            format!(
                "error: profile {profile}: cannot get AWS credentials: {sdk_error}; check the \
                 profile in ~/.aws/config (or AWS_CONFIG_FILE), and for an IAM Identity Center \
                 profile log in again: aws sso login --profile {profile}\n"
            )
        );
        assert_eq!(text(&out.stdout), "");
    }
    assert_eq!(portal.count(), 0, "no token, no GetRoleCredentials");
    assert_eq!(s3.count(), 0, "nothing was read");
}

#[test]
fn a_region_that_is_not_one_is_a_usage_error() {
    let out = Command::new(BIN)
        .args(["process", "--region", "eu-west", SOURCE])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("\"eu-west\" is not a Region name such as us-east-1"),
        "{}",
        text(&out.stderr)
    );
}
