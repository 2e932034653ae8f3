//! Dates as people write them (issue 12, point 4): a day alone stays a day, a time keeps
//! the precision and zone given (or takes `--tz`), and an ambiguous form is refused with one
//! sentence naming the accepted ones.

use super::*;
use crate::util::assert_one_sentence;

/// Ingests a new file with these `--captured-at`/`--tz` arguments; returns what `show`
/// records and what the ingest event records.
fn recorded(env: &Env, n: usize, args: &[&str]) -> (Value, Value) {
    let id = ingest_one(
        env,
        CASE,
        &format!("in/{n}.txt"),
        n.to_string().as_bytes(),
        args,
    );
    let shown = env.json(&["show", &id]);
    let event = shown["custody"][0]["details"]["captured_at"].clone();
    (shown["captured_at"].clone(), event)
}

#[test]
fn a_day_alone_stays_a_day_and_times_keep_their_precision() {
    let env = Env::with_case();
    for (n, (args, expected)) in [
        (vec!["--captured-at", "2024-03-02"], "2024-03-02"),
        (
            vec!["--captured-at", "2024-03-02T14:05Z"],
            "2024-03-02T14:05Z",
        ),
        (
            vec!["--captured-at", "2024-03-02T14:05:09.250+03:00"],
            "2024-03-02T14:05:09.250+03:00",
        ),
        (
            vec!["--captured-at", "2024-03-02T14:05", "--tz", "+03:00"],
            "2024-03-02T14:05+03:00",
        ),
        (
            vec!["--captured-at", "2024-03-02 14:05:09", "--tz", "-05:30"],
            "2024-03-02T14:05:09-05:30",
        ),
        (
            vec!["--captured-at", "2024-03-02T14:05", "--tz", "UTC"],
            "2024-03-02T14:05+00:00",
        ),
        // A zone written with the time wins over --tz.
        (
            vec!["--captured-at", "2024-03-02T14:05Z", "--tz", "+03:00"],
            "2024-03-02T14:05Z",
        ),
        // --tz has no bearing on a day.
        (
            vec!["--captured-at", "2024-03-02", "--tz", "+03:00"],
            "2024-03-02",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let (shown, event) = recorded(&env, n, &args);
        assert_eq!(shown, expected, "{args:?}");
        assert_eq!(event, expected, "the ingest event records the same text");
    }
}

#[test]
fn ambiguous_or_zoneless_dates_are_refused_naming_the_accepted_forms() {
    let env = Env::with_case();
    write(&env.path("new.txt"), b"new\n");
    let new = arg(&env.path("new.txt")).to_owned();
    for date in [
        "02/03/2024",
        "2/3/24",
        "2024/03/02",
        "March 2, 2024",
        "2024-3-2",
        "2024-02-30",
        "2024-03-02T14",
        "2024-03-02T14:05+3",
    ] {
        let stderr = env.refused(&["ingest", "--case", CASE, "--captured-at", date, &new], 2);
        assert_one_sentence(&stderr);
        assert!(
            stderr.contains("2024-03-02T14:05+03:00") && stderr.contains("ambiguous"),
            "{date}: names the accepted forms:\n{stderr}"
        );
    }
    let stderr = env.refused(
        &[
            "ingest",
            "--case",
            CASE,
            "--captured-at",
            "2024-03-02T14:05",
            &new,
        ],
        2,
    );
    assert_one_sentence(&stderr);
    assert!(
        stderr.contains("--tz"),
        "says how to give the zone:\n{stderr}"
    );
    for tz in ["Europe/Kyiv", "+25:00", "+3", "03:00", ""] {
        let args = [
            "ingest",
            "--case",
            CASE,
            "--captured-at",
            "2024-03-02T14:05",
            "--tz",
            tz,
            &new,
        ];
        let stderr = env.refused(&args, 2);
        assert_one_sentence(&stderr);
        assert!(stderr.contains("+03:00"), "--tz {tz:?}:\n{stderr}");
        assert_eq!(error_kind(&env, &args, 2), "usage");
    }
}
