//! Running custodia as a child process: with a deadline that drains both pipes, in the
//! background, and the rule for tests that need an outside tool or capability.

use super::*;

/// Runs a command, killing it and failing the test if it has not ended within `limit`.
///
/// Both pipes are drained on their own threads while it runs: a child that writes more
/// than a pipe holds (64 KiB) must not block on a reader that is only waiting for it.
pub fn run_with_timeout(cmd: &mut std::process::Command, limit: std::time::Duration) -> Output {
    run_within(cmd, limit).unwrap_or_else(|hung| panic!("custodia {hung}"))
}

/// Like `run_with_timeout`, but a run past `limit` is returned as an error (saying so, with its
/// stderr) instead of failing the test, for a test that collects findings and goes on.
pub fn run_within(
    cmd: &mut std::process::Command,
    limit: std::time::Duration,
) -> Result<Output, String> {
    run_watched(cmd, limit, |_| {})
}

/// The one deadline runner of the tests: starts `cmd` with stdout and stderr piped and drained
/// on threads, calls `watch` with its pid every few milliseconds while it runs (to sample its
/// memory, say), and past `limit` kills it, and its own children (a program run under
/// `/usr/bin/time`), and returns an error with its stderr so far.
pub fn run_watched(
    cmd: &mut std::process::Command,
    limit: std::time::Duration,
    mut watch: impl FnMut(u32),
) -> Result<Output, String> {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > limit {
            kill_children(child.id());
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            return Err(format!(
                "still running after {limit:?}, killed; its stderr:\n{}",
                text(&err)
            ));
        }
        watch(child.id());
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Kills the children of `pid` by their own pids, so none outlives a killed parent.
fn kill_children(pid: u32) {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"));
    for child in children.unwrap_or_default().split_whitespace() {
        if let Ok(child) = child.parse::<libc::pid_t>() {
            // SAFETY: kill has no memory preconditions; a pid that has gone is an error we ignore.
            unsafe { libc::kill(child, libc::SIGKILL) };
        }
    }
}

/// Whether the tests run under CI: `CI` set (CI services set `CI=true`), and not to `false` or `0`.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// For a test that cannot run here because `missing` (a tool or capability) is not available.
/// Under CI it fails the test, saying what is missing: CI must run every test, and `.ci/setup`
/// provides what they need, so a green CI never hides a test that did not run. Elsewhere it
/// says on stderr that the test is skipped, and the caller returns.
pub fn skip_outside_ci(test: &str, missing: &str) {
    assert!(
        !under_ci(),
        "{test} cannot run under CI: {missing} (.ci/setup must provide it)"
    );
    eprintln!("SKIPPED {test}: {missing}");
}

/// Starts custodia on this archive (as actor "tester") without waiting, stdout and stderr piped.
pub fn spawn(env: &Env, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_custodia"))
        .arg("--archive")
        .arg(&env.archive)
        .args(args)
        .env("CUSTODIA_ACTOR", "tester")
        .env("XDG_CONFIG_HOME", env.config_home())
        .env_remove("CUSTODIA_ARCHIVE")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn custodia")
}

/// Whether the tests run as root (CI does), which may act as another user.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
