//! A CLI that teaches itself (issue 12, point 10): bare commands print their help, typos get
//! suggestions, and completions and a man page come from the same definitions, written to
//! stdout without a panic when the reader has gone.

use super::*;
use crate::util::text;

#[test]
fn a_command_without_its_subcommand_prints_its_help() {
    let env = Env::new();
    // Truly bare: no --archive either (Env's commands always pass one).
    let bare = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_custodia"))
            .args(args)
            .env_remove("CUSTODIA_ARCHIVE")
            .current_dir(env.dir.path())
            .output()
            .expect("run custodia");
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    for (args, names) in [
        (
            vec![],
            vec!["Usage: custodia", "ingest", "completions", "man", "stats"],
        ),
        (
            vec!["case"],
            vec!["Usage: custodia case", "create", "list", "show"],
        ),
        (
            vec!["key"],
            vec!["Usage: custodia key", "generate", "revoke"],
        ),
    ] {
        let (code, stdout, stderr) = bare(&args);
        assert_eq!(code, Some(2), "{args:?}: a usage error");
        assert!(stdout.is_empty(), "{args:?}: stdout stays for results");
        for name in names {
            assert!(
                stderr.contains(name),
                "{args:?} help names {name}:\n{stderr}"
            );
        }
    }
    // Also with an archive named: clap counts --archive and $CUSTODIA_ARCHIVE as arguments.
    for (args, usage) in [
        (vec![], "Usage: custodia [OPTIONS]"),
        (vec!["case"], "Usage: custodia case"),
    ] {
        let (stdout, stderr) = env.fails(&args, 2);
        assert!(
            stdout.is_empty() && stderr.contains(usage),
            "{args:?}:\n{stderr}"
        );
    }
    let (code, _, stderr) = bare(&["--json"]);
    assert_eq!(code, Some(2));
    let err: Value = serde_json::from_str(stderr.trim()).expect("one JSON error object");
    assert_eq!(err["error"]["kind"], "usage");
    assert!(
        !env.path("custodia-archive").exists(),
        "nothing opened or created"
    );
}

#[test]
fn typos_get_suggestions_in_one_sentence() {
    let env = Env::new();
    for (args, hint) in [
        (vec!["lst"], "'list'"),
        (vec!["case", "lis"], "'list'"),
        (vec!["list", "--tagg", "x"], "'--tag'"),
        (vec!["log", "--actoin", "ingest"], "'--action'"),
    ] {
        let stderr = env.refused(&args, 2);
        crate::util::assert_one_sentence(&stderr);
        assert!(stderr.contains(hint), "{args:?} suggests {hint}:\n{stderr}");
    }
}

#[test]
fn help_describes_the_new_options() {
    let env = Env::new();
    for (cmd, option) in [
        ("list", "--captured-from <WHEN>"),
        ("list", "Only items captured on or after WHEN"),
        ("log", "--json-lines"),
        ("log", "--by <ACTOR>"),
        ("extract", "or - for standard output"),
        ("show", "SHA-256"),
    ] {
        let help = env.ok(&["help", cmd]);
        assert!(help.contains(option), "help {cmd} shows {option}:\n{help}");
    }
}

#[test]
fn completions_and_man_page_are_generated() {
    let env = Env::new();
    for (shell, marker) in [
        ("bash", "complete -F _custodia"),
        ("zsh", "#compdef custodia"),
        ("fish", "complete -c custodia"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let script = env.ok(&["completions", shell]);
        assert!(script.contains(marker), "{shell}: {marker}");
        assert!(
            script.contains("captured-from"),
            "{shell} completes list's options"
        );
    }
    let stderr = env.refused(&["completions", "tcsh"], 2);
    assert!(stderr.contains("bash"), "names the shells:\n{stderr}");
    let page = env.ok(&["man"]);
    assert!(
        page.contains(".TH custodia 1") && page.contains("ingest"),
        "{page}"
    );
    assert!(
        !env.archive.exists(),
        "neither opens nor creates an archive"
    );
}

#[test]
fn generated_output_to_a_closed_pipe_ends_quietly() {
    let env = Env::new();
    for args in [vec!["man"], vec!["completions", "zsh"], vec!["--help"]] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = env
            .std_cmd()
            .args(&args)
            .stdout(writer)
            .output()
            .expect("run");
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        if args != ["--help"] {
            assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
            assert!(stderr.is_empty(), "{args:?}: {stderr}");
        }
    }
}
