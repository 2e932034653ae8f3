//! Replica credentials from an AWS profile (issue 13: "the usual way … or a profile"): a
//! push with no key in the environment reads `AWS_PROFILE` from the shared credentials
//! file; a profile that is not there is one sentence naming it, exit 1, nothing sent.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::util::*;

/// custodia on `env`'s archive with credentials only from `file`'s profile `profile`.
fn with_profile(env: &Env, file: &std::path::Path, profile: &str, args: &[&str]) -> Command {
    let mut c = env.std_cmd();
    c.args(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        // No real ~/.aws of whoever runs the tests is ever read.
        .env("HOME", env.path("home"))
        .env("AWS_SHARED_CREDENTIALS_FILE", file)
        .env("AWS_PROFILE", profile)
        .env("AWS_REGION", "us-east-1");
    c
}

#[test]
fn a_push_takes_its_credentials_from_an_aws_profile() {
    if !have_weed("a_push_takes_its_credentials_from_an_aws_profile") {
        return;
    }
    let env = Env::with_case();
    let server = Seaweed::start(&env.path("s3"));
    let file = env.path("credentials");
    std::fs::write(
        &file,
        format!(
            "[default]\naws_access_key_id = AKWRONG\naws_secret_access_key = wrong\n\n[partner]\naws_access_key_id = {S3_ACCESS_KEY}\naws_secret_access_key = {S3_SECRET_KEY}\n"
        ),
    )
    .unwrap();
    let endpoint = server.endpoint();
    let add = [
        "replica",
        "add",
        "offsite",
        "s3://evidence/profile",
        "--endpoint",
        &endpoint,
        "--plaintext",
    ];
    env.ok(&add);
    env.ok(&["ingest", "--case", "BY-2024-017", arg(&fixtures())]);

    let out = run_with_timeout(
        &mut with_profile(&env, &file, "partner", &["--json", "push"]),
        Duration::from_secs(120),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let pushed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(pushed["sent"].as_u64().unwrap() >= 3, "{pushed}");
    assert!(!server.keys("profile/").is_empty(), "objects arrived");

    let before = server.keys("profile/").len();
    let out = run_with_timeout(
        &mut with_profile(&env, &file, "nobody", &["--json", "push"]),
        Duration::from_secs(60),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
    let e: Value = serde_json::from_str(stderr.trim()).expect("a JSON error");
    assert_eq!(e["error"]["kind"], "remote_no_credentials", "{stderr}");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("[nobody]"), "names the profile: {message}");
    assert!(!stderr.contains(S3_SECRET_KEY) && !stderr.contains("wrong"));
    assert_eq!(server.keys("profile/").len(), before, "nothing sent");
}
