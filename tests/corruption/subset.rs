//! `verify --read-data-subset N/M` (issue 14, scheduled audits): runs 1 to M re-read every
//! content exactly once between them, each run checks every record and custody event, the
//! run whose slice holds damaged bytes finds it, and each partial verify is recorded as one.

use super::*;

/// One partial verify: its exit code and JSON report.
fn verify_slice(env: &Env, slice: &str) -> (i32, Value) {
    let out = env.run(&["--json", "verify", "--read-data-subset", slice]);
    let report = serde_json::from_slice(&out.stdout).expect("one JSON document");
    (out.status.code().expect("exited"), report)
}

#[test]
fn the_slices_of_a_partial_verify_read_everything_once_and_find_the_damage() {
    let f = Fixture::new();
    let chunks = f.chunks_of(&f.noise);
    f.flip_chunk_byte(chunks[1], 0);
    let (mut read, mut found_in) = (0, Vec::new());
    for n in 1..=3 {
        let slice = format!("{n}/3");
        let (code, v) = verify_slice(&f.env, &slice);
        assert_eq!(v["subset"]["subset"], slice.as_str(), "{v}");
        assert_eq!(v["checked"]["items"], 5, "every record, every run: {v}");
        assert_eq!(v["checked"]["contents"], 4, "{v}");
        read += v["subset"]["contents_read"].as_u64().unwrap();
        if code == 3 {
            found_in.push(slice.clone());
            assert_eq!(v["problems"][0]["kind"], "content_damaged", "{v}");
            assert_eq!(v["problems"][0]["id"], f.noise.id.as_str(), "{v}");
        } else {
            assert_eq!((code, &v["ok"]), (0, &Value::Bool(true)), "{v}");
        }
    }
    assert_eq!(read, 4, "three slices re-read the four contents once");
    assert_eq!(
        found_in.len(),
        1,
        "one slice holds the damage: {found_in:?}"
    );
    let (again, _) = verify_slice(&f.env, &found_in[0]);
    assert_eq!(again, 3, "the same slice reads the same contents");

    let (code, whole) = f.env.verify();
    assert_eq!(code, 3);
    assert!(
        whole.get("subset").is_none(),
        "a whole verify says no subset"
    );
    let subsets: Vec<Value> = f.env.json(&["log"])["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "verify")
        .map(|e| e["details"].get("subset").cloned().unwrap_or(Value::Null))
        .collect();
    let want: Vec<Value> = ["1/3", "2/3", "3/3"]
        .iter()
        .map(|s| Value::from(*s))
        .chain([Value::from(found_in[0].as_str()), Value::Null])
        .collect();
    // The fixture verified once itself before these five.
    let ours = &subsets[subsets.len() - want.len()..];
    assert_eq!(
        ours,
        want.as_slice(),
        "each verify event says how much it read"
    );
}

#[test]
fn a_bad_subset_is_a_usage_error_and_records_nothing() {
    let f = Fixture::new();
    let before = f.env.json(&["log"])["events"].as_array().unwrap().len();
    for bad in ["0/3", "4/3", "3/", "half", "0%", "150%"] {
        let out = f.env.run(&["verify", "--read-data-subset", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out.stderr));
    }
    let bundle = f.env.path("nothing");
    let out = f.env.run(&[
        "verify",
        "--bundle",
        bundle.to_str().unwrap(),
        "--read-data-subset",
        "1/2",
    ]);
    assert_eq!(out.status.code(), Some(2), "a bundle is read whole");
    let after = f.env.json(&["log"])["events"].as_array().unwrap().len();
    assert_eq!(before, after, "nothing recorded");
}
