//! The actor fallback said aloud (issue 12, point 6): a command that records events as the
//! OS user, because no actor was chosen, says so once on stderr; reading commands do not.

use super::*;

/// Runs as if no actor had been chosen: no `--actor`, no `$CUSTODIA_ACTOR`, `$USER` set.
fn as_login(env: &Env, args: &[&str]) -> (i32, String) {
    let out = env
        .cmd()
        .env_remove("CUSTODIA_ACTOR")
        .env("USER", "login-user")
        .env_remove("LOGNAME")
        .args(args)
        .output()
        .expect("run custodia");
    (
        out.status.code().unwrap_or(-1),
        crate::util::text(&out.stderr),
    )
}

/// The lines of stderr that announce the fallback.
fn notices(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("acting as")).collect()
}

#[test]
fn a_command_recording_as_the_os_user_says_so_once() {
    let env = Env::with_case();
    write(&env.path("in/a.txt"), b"a");
    let a = arg(&env.path("in/a.txt")).to_owned();
    let out = arg(&env.path("a.out")).to_owned();
    let bundle = arg(&env.path("bundle")).to_owned();
    for args in [
        vec!["case", "create", SECOND, "--title", "t"],
        vec!["ingest", "--case", CASE, &a],
        vec!["link", "EV-1", "--case", SECOND],
        vec!["extract", "EV-1", "--out", &out],
        vec!["export", "--case", CASE, "--out", &bundle],
        vec!["--quiet", "verify"],
    ] {
        let (code, stderr) = as_login(&env, &args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        let said = notices(&stderr);
        assert_eq!(said.len(), 1, "{args:?}: said once:\n{stderr}");
        assert!(
            said[0].starts_with("custodia: acting as login-user")
                && said[0].contains("$USER")
                && said[0].contains("--actor")
                && said[0].contains("CUSTODIA_ACTOR"),
            "{}",
            said[0]
        );
    }
    let log = env.json(&["log", "--evidence", "EV-1"]);
    let actors: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json_str(&e["actor"]))
        .collect();
    assert_eq!(actors, ["login-user"; 4], "ingest, link, extract, export");
}

#[test]
fn reading_commands_and_a_chosen_actor_say_nothing() {
    let env = Env::with_case();
    ingest_one(&env, CASE, "in/a.txt", b"a", &[]);
    let bundle = arg(&env.path("bundle")).to_owned();
    env.ok(&["export", "--case", CASE, "--out", &bundle]);
    for args in [
        vec!["list"],
        vec!["show", "EV-1"],
        vec!["log"],
        vec!["stats"],
        vec!["case", "list"],
        vec!["verify", "--bundle", &bundle],
        vec!["verify", "--read-only"],
    ] {
        let (code, stderr) = as_login(&env, &args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        assert!(notices(&stderr).is_empty(), "{args:?}:\n{stderr}");
    }
    // Chosen by flag or by environment: nothing to say.
    let (_, stderr) = as_login(
        &env,
        &[
            "--actor",
            "Investigator A",
            "case",
            "create",
            "X1",
            "--title",
            "t",
        ],
    );
    assert!(notices(&stderr).is_empty(), "{stderr}");
    let (stdout, stderr) = env.fails(&["case", "create", "X2", "--title", "t"], 0);
    assert_eq!(stdout, "created case X2\n");
    assert!(
        notices(&stderr).is_empty(),
        "CUSTODIA_ACTOR set by Env: {stderr}"
    );
}

#[test]
fn the_notice_names_logname_when_user_is_unset() {
    let env = Env::with_case();
    let out = env
        .cmd()
        .env_remove("CUSTODIA_ACTOR")
        .env_remove("USER")
        .env("LOGNAME", "cron-user")
        .args(["case", "create", SECOND, "--title", "t"])
        .output()
        .unwrap();
    let stderr = crate::util::text(&out.stderr);
    let said = notices(&stderr);
    assert!(
        said.len() == 1 && said[0].contains("cron-user") && said[0].contains("$LOGNAME"),
        "{stderr}"
    );
    // A blank actor is still a usage error, never a fallback.
    let blank = env
        .cmd()
        .env("CUSTODIA_ACTOR", " ")
        .args(["case", "list"])
        .output()
        .unwrap();
    assert_eq!(blank.status.code(), Some(2));
}
