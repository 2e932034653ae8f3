//! Running custodia as a child process: with a deadline that drains both pipes, in the
//! background, and the rule for tests that need an outside tool or capability.

use super::*;

/// Runs a command, killing it and failing the test if it has not ended within `limit`.
///
/// Both pipes are drained on their own threads while it runs: a child that writes more
/// than a pipe holds (64 KiB) must not block on a reader that is only waiting for it.
pub fn run_with_timeout(cmd: &mut std::process::Command, limit: std::time::Duration) -> Output {
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
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!("custodia hung for {limit:?}; stderr:\n{}", text(&err));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Starts custodia on this archive (as actor "tester") without waiting, stdout and stderr piped.
pub fn spawn(env: &Env, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_custodia"))
        .arg("--archive")
        .arg(&env.archive)
        .args(args)
        .env("CUSTODIA_ACTOR", "tester")
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
