//! Applying an operation to the real archive and to the model, and checking that they agree.

use super::*;

// ---------------------------------------------------------------------------------------------
// Running the binary

pub(super) type Check = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

pub(super) fn same<T: PartialEq + fmt::Debug>(what: &str, got: T, want: T) -> Check {
    ensure!(got == want, "{what}: got {got:?}, the model says {want:?}");
    Ok(())
}

pub(super) fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "custodia {args:?} exited {:?} (signal {:?})\nstdout: {}\nstderr: {}",
        out.status.code(),
        out.status.signal(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Runs `custodia --json ARGS`; returns the output.
pub(super) fn run_json(env: &Env, args: &[&str]) -> Output {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    env.run(&all)
}

/// Runs `custodia --json ARGS`, which must exit 0 with one JSON object on stdout.
pub(super) fn json_ok(env: &Env, args: &[&str]) -> Result<Value, String> {
    let out = run_json(env, args);
    ensure!(out.status.code() == Some(0), "{}", describe(args, &out));
    ensure!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        describe(args, &out)
    );
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {}", describe(args, &out)))
}

/// Runs `custodia --json ARGS`, which must be refused: exit 1, nothing on stdout, and the
/// error object of the given kind on stderr.
pub(super) fn refused(env: &Env, args: &[&str], kind: &str) -> Check {
    let out = run_json(env, args);
    let report = describe(args, &out);
    ensure!(
        out.status.code() == Some(1),
        "expected exit 1 ({kind}): {report}"
    );
    ensure!(out.stdout.is_empty(), "refused but printed: {report}");
    let err: Value = serde_json::from_slice(&out.stderr)
        .map_err(|e| format!("stderr is not one JSON error ({e}): {report}"))?;
    same("error kind", err["error"]["kind"].as_str(), Some(kind))
}

/// Writes an op's files into a fresh folder; returns absolute path -> content (a name given
/// twice keeps its last content).
pub(super) fn write_files(folder: &Path, files: &[FileSpec]) -> BTreeMap<PathBuf, Content> {
    std::fs::create_dir_all(folder).expect("mkdir");
    let mut out = BTreeMap::new();
    for f in files {
        out.insert(folder.join(f.name), f.content);
    }
    for (path, content) in &out {
        write(path, &content.blob().bytes);
    }
    out
}

/// Compares the items of an ingest's JSON report with the model's prediction.
pub(super) fn check_ingest_report(report: &Value, plan: &[Outcome]) -> Check {
    let items = report["items"]
        .as_array()
        .ok_or_else(|| format!("no items in {report}"))?;
    let got: Vec<Value> = items
        .iter()
        .map(|i| {
            json!({"id": i["id"], "path": i["path"], "blake3": i["blake3"], "sha256": i["sha256"],
                   "size": i["size"], "status": i["status"]})
        })
        .collect();
    let want: Vec<Value> = plan
        .iter()
        .map(|o| {
            let blob = o.content.blob();
            json!({"id": ev(o.id), "path": arg(&o.path), "blake3": blob.blake3,
                   "sha256": blob.sha256, "size": o.content.size(), "status": o.status})
        })
        .collect();
    ensure!(
        got == want,
        "ingest report disagrees with the model:\n got: {}\nwant: {}",
        Value::from(got),
        Value::from(want)
    );
    same("skipped", &report["skipped"], &json!([]))
}

/// One acknowledged line of a human ingest: `EV-000123  new        <16 hex>  <path>`.
pub(super) fn check_ack(line: &str, o: &Outcome) -> Check {
    let want = format!(
        "{}  {:<9}  {}  {}",
        ev(o.id),
        o.status,
        &o.content.blob().blake3[..16],
        arg(&o.path)
    );
    same("acknowledged line", line, want.as_str())
}

// ---------------------------------------------------------------------------------------------
// The steps

pub(super) struct Run {
    pub(super) env: Env,
    pub(super) model: Model,
    /// Kills that landed while the ingest was still running, for the summary.
    pub(super) kills: u64,
}

impl Run {
    pub(super) fn new() -> Result<Self, String> {
        let env = Env::new();
        json_ok(&env, &["init"])?;
        let model = Model {
            events: 1,
            ..Model::default()
        };
        Ok(Run {
            env,
            model,
            kills: 0,
        })
    }

    pub(super) fn step(&mut self, n: usize, op: &Op) -> Check {
        match op {
            Op::Nop => Ok(()),
            Op::CreateCase(case) => self.create_case(case),
            Op::Ingest { case, files } => self.ingest(n, case, files),
            Op::Reacquire { item, case, name } => {
                let content = self
                    .model
                    .pick(*item)
                    .map_or(Content::Text, |i| self.model.items[i].content);
                self.ingest(n, case, &[FileSpec { name, content }])
            }
            Op::Link { item, case } => self.link(*item, case),
            Op::Extract { item, by_prefix } => self.extract(n, *item, *by_prefix),
            Op::Export(case) => self.export(n, case),
            Op::Verify => self.verify(),
            Op::Reopen => self.reopen(),
            Op::KillDuringIngest {
                case,
                files,
                delay_us,
            } => self.kill_during_ingest(n, case, files, *delay_us),
        }
    }

    pub(super) fn create_case(&mut self, case: &'static str) -> Check {
        let args = ["case", "create", case, "--title", "Model case"];
        if self.model.cases.contains(case) {
            return refused(&self.env, &args, "case_exists");
        }
        let out = json_ok(&self.env, &args)?;
        same("created case id", out["id"].as_str(), Some(case))?;
        self.model.cases.insert(case);
        self.model.events += 1;
        Ok(())
    }

    pub(super) fn ingest(&mut self, n: usize, case: &'static str, files: &[FileSpec]) -> Check {
        let folder = self.env.path(&format!("ingest-{n:02}"));
        let files = write_files(&folder, files);
        let args = ["ingest", "--case", case, arg(&folder)];
        if !self.model.cases.contains(case) {
            return refused(&self.env, &args, "unknown_case");
        }
        let plan = self.model.plan_ingest(case, &files);
        let report = json_ok(&self.env, &args)?;
        check_ingest_report(&report, &plan)?;
        self.model.apply_ingest(case, &plan);
        Ok(())
    }

    /// The argument naming an op's item, and the model item it names (if any).
    pub(super) fn item_ref(&self, item: usize, by_prefix: bool) -> (String, Option<usize>) {
        match self.model.pick(item) {
            Some(i) if by_prefix => (
                self.model.items[i].content.blob().blake3[..16].into(),
                Some(i),
            ),
            Some(i) => (ev(self.model.items[i].id), Some(i)),
            // Bytes the archive does not hold, or an id not yet given.
            None if by_prefix => {
                let stored = self.model.contents();
                match CONTENTS.iter().find(|c| !stored.contains(c)) {
                    Some(c) => (c.blob().blake3[..16].into(), None),
                    None => (ev(self.model.next_id()), None),
                }
            }
            None => (ev(self.model.next_id()), None),
        }
    }

    pub(super) fn link(&mut self, item: usize, case: &'static str) -> Check {
        let (id, picked) = self.item_ref(item, false);
        let args = ["link", &id, "--case", case];
        let Some(i) = picked else {
            return refused(&self.env, &args, "unknown_item");
        };
        if !self.model.cases.contains(case) {
            return refused(&self.env, &args, "unknown_case");
        }
        if self.model.items[i].cases.contains(case) {
            return refused(&self.env, &args, "already_linked");
        }
        let out = json_ok(&self.env, &args)?;
        same("linked id", out["id"].as_str(), Some(id.as_str()))?;
        let it = &mut self.model.items[i];
        it.cases.insert(case);
        let (content, id) = (it.content, it.id);
        self.model.case_content.entry((case, content)).or_insert(id);
        self.model.events += 1;
        Ok(())
    }

    pub(super) fn extract(&mut self, n: usize, item: usize, by_prefix: bool) -> Check {
        let (r, picked) = self.item_ref(item, by_prefix);
        let out_path = self.env.path(&format!("extract-{n:02}.bin"));
        let args = ["extract", &r, "--out", arg(&out_path)];
        let Some(i) = picked else {
            return refused(&self.env, &args, "unknown_item");
        };
        let it = &self.model.items[i];
        let holders = self.model.items.iter().filter(|x| x.content == it.content);
        if by_prefix && holders.count() > 1 {
            refused(&self.env, &args, "ambiguous_item")?;
            ensure!(!out_path.exists(), "a refused extract wrote {r}");
            return Ok(());
        }
        let blob = it.content.blob();
        let out = json_ok(&self.env, &args)?;
        same("extracted id", out["id"].as_str(), Some(ev(it.id).as_str()))?;
        same(
            "extract blake3",
            out["blake3"].as_str(),
            Some(blob.blake3.as_str()),
        )?;
        same(
            "extract sha256",
            out["sha256"].as_str(),
            Some(blob.sha256.as_str()),
        )?;
        same(
            "extract size",
            out["size"].as_u64(),
            Some(it.content.size()),
        )?;
        let got = std::fs::read(&out_path).map_err(|e| format!("extracted file: {e}"))?;
        ensure!(
            got == blob.bytes,
            "extract of {r} wrote {} bytes that differ from {:?} ({} bytes)",
            got.len(),
            it.content,
            blob.bytes.len()
        );
        self.model.events += 1;
        Ok(())
    }

    pub(super) fn export(&mut self, n: usize, case: &'static str) -> Check {
        let bag = self.env.path(&format!("bag-{n:02}"));
        let args = ["export", "--case", case, "--out", arg(&bag)];
        if !self.model.cases.contains(case) {
            refused(&self.env, &args, "unknown_case")?;
            ensure!(!bag.exists(), "a refused export left {}", bag.display());
            return Ok(());
        }
        let members: Vec<&Item> = self
            .model
            .items
            .iter()
            .filter(|i| i.cases.contains(case))
            .collect();
        let report = json_ok(&self.env, &args)?;
        self.model.events += 2; // the export, then its seal
        same(
            "exported items",
            report["items"].as_u64(),
            Some(members.len() as u64),
        )?;

        // The payload: one folder per item of the case, holding its original bytes.
        let evidence = bag.join("data/evidence");
        let mut got = BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir(&evidence) {
            for entry in dir {
                let entry = entry.map_err(|e| e.to_string())?;
                let id = entry.file_name().to_string_lossy().into_owned();
                let files: Vec<String> = std::fs::read_dir(entry.path())
                    .map_err(|e| e.to_string())?
                    .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                got.insert(id, files);
            }
        }
        let want: BTreeMap<String, Vec<String>> = members
            .iter()
            .map(|i| (ev(i.id), vec![i.name.clone()]))
            .collect();
        same("bundle's data/evidence", &got, &want)?;
        for i in &members {
            let bytes = std::fs::read(evidence.join(ev(i.id)).join(&i.name))
                .map_err(|e| format!("bundle file of {}: {e}", ev(i.id)))?;
            ensure!(
                bytes == i.content.blob().bytes,
                "the bundle's copy of {} differs from {:?}",
                ev(i.id),
                i.content
            );
        }

        // verify --bundle, with no archive at hand.
        let nowhere = self.env.path("no-archive-here");
        let args = ["--json", "verify", "--bundle", arg(&bag)];
        let out = Command::new(env!("CARGO_BIN_EXE_custodia"))
            .arg("--archive")
            .arg(&nowhere)
            .args(args)
            .output()
            .expect("run custodia");
        ensure!(out.status.code() == Some(0), "{}", describe(&args, &out));
        let checked: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        same("verify --bundle ok", &checked["ok"], &json!(true))?;

        if !self.model.bagit_checked {
            self.model.bagit_checked = true;
            let out = Command::new("python3")
                .args(["-m", "bagit", "--validate", arg(&bag)])
                .output()
                .map_err(|e| format!("cannot run bagit-python ({e}); run .ci/setup"))?;
            ensure!(
                out.status.success(),
                "bagit-python rejects the bundle of {case}:\n{}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        Ok(())
    }

    pub(super) fn verify(&mut self) -> Check {
        let out = run_json(&self.env, &["verify"]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        ensure!(
            out.status.code() == Some(0) && report["ok"] == json!(true),
            "verify is not clean: {}",
            describe(&["verify"], &out)
        );
        same("verify problems", &report["problems"], &json!([]))?;
        let c = &report["checked"];
        let contents = self.model.contents();
        let bytes: u64 = contents.iter().map(|c| c.size()).sum();
        same(
            "verify checked.items",
            c["items"].as_u64(),
            Some(self.model.items.len() as u64),
        )?;
        same(
            "verify checked.contents",
            c["contents"].as_u64(),
            Some(contents.len() as u64),
        )?;
        same("verify checked.bytes", c["bytes"].as_u64(), Some(bytes))?;
        same(
            "verify checked.events",
            c["events"].as_u64(),
            Some(self.model.events),
        )?;
        self.model.events += 1; // verify records itself
        Ok(())
    }

    /// Every command reopens the archive; this one looks at it through more commands.
    pub(super) fn reopen(&mut self) -> Check {
        let log = json_ok(&self.env, &["log"])?;
        let events = log["events"].as_array().ok_or("no events in log")?;
        same("events in the log", events.len() as u64, self.model.events)?;
        let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
        ensure!(
            seqs.len() == events.len() && seqs.windows(2).all(|w| w[0] < w[1]),
            "log seqs not increasing: {seqs:?}"
        );
        for case in &self.model.cases {
            let listed = json_ok(&self.env, &["list", "--case", case])?;
            let got: Vec<&str> = listed["items"]
                .as_array()
                .ok_or("no items")?
                .iter()
                .filter_map(|i| i["id"].as_str())
                .collect();
            let want: Vec<String> = self
                .model
                .items
                .iter()
                .filter(|i| i.cases.contains(case))
                .map(|i| ev(i.id))
                .collect();
            same(
                &format!("list --case {case}"),
                got,
                want.iter().map(String::as_str).collect(),
            )?;
        }
        Ok(())
    }

    pub(super) fn kill_during_ingest(
        &mut self,
        n: usize,
        case: &'static str,
        files: &[FileSpec],
        delay_us: u64,
    ) -> Check {
        let folder = self.env.path(&format!("killed-{n:02}"));
        let files = write_files(&folder, files);
        let known = self.model.cases.contains(case);
        let plan = if known {
            self.model.plan_ingest(case, &files)
        } else {
            Vec::new()
        };
        let mut child = spawn(&self.env, &["ingest", "--case", case, arg(&folder)]);
        std::thread::sleep(Duration::from_micros(delay_us));
        let _ = child.kill();
        let out = child.wait_with_output().expect("wait for custodia");
        let what = describe(&["ingest", "--case", case, arg(&folder)], &out);
        ensure!(!text(&out.stderr).contains("panicked"), "{what}");
        // Only whole lines count: the kill may cut the last one short.
        let stdout = text(&out.stdout);
        let lines: Vec<&str> = stdout
            .split_inclusive('\n')
            .filter_map(|l| l.strip_suffix('\n'))
            .collect();
        ensure!(lines.len() <= plan.len(), "more lines than files: {what}");
        for (line, o) in lines.iter().zip(&plan) {
            check_ack(line, o).map_err(|e| format!("{e}\n{what}"))?;
        }
        match (out.status.code(), out.status.signal()) {
            (Some(0), _) => {
                ensure!(known, "ingest into unknown case succeeded: {what}");
                ensure!(
                    lines.len() == plan.len(),
                    "a finished ingest lists every file: {what}"
                );
                self.model.apply_ingest(case, &plan);
                Ok(())
            }
            (Some(1), _) => {
                ensure!(!known, "{what}");
                Ok(())
            }
            (None, Some(9)) => {
                self.kills += 1;
                self.reconcile_killed(case, &plan, lines.len())
                    .map_err(|e| format!("{e}\nthe killed ingest: {what}"))
            }
            _ => Err(format!("unexpected end: {what}")),
        }
    }

    /// After a kill: the acknowledged outcomes (`acked`, a prefix of `plan`) must be in the
    /// archive; beyond them, a batch may have been committed without its lines being printed.
    /// Batches commit in walk order, so what is there must be a prefix of the plan: its new
    /// items in `list`, one custody event per file in the log.
    pub(super) fn reconcile_killed(
        &mut self,
        case: &'static str,
        plan: &[Outcome],
        acked: usize,
    ) -> Check {
        let next = self.model.next_id();
        let listed = json_ok(&self.env, &["list"])?;
        let extra: Vec<String> = listed["items"]
            .as_array()
            .ok_or("no items in list")?
            .iter()
            .filter_map(|i| i["id"].as_str())
            .filter(|id| id[3..].parse::<u64>().is_ok_and(|n| n >= next))
            .map(str::to_owned)
            .collect();
        let new_positions: Vec<usize> = plan
            .iter()
            .enumerate()
            .filter(|(_, o)| o.new_item)
            .map(|(p, _)| p)
            .collect();
        let j = extra.len();
        ensure!(
            j <= new_positions.len(),
            "{j} items appeared, the killed ingest had only {} new ones: {extra:?}",
            new_positions.len()
        );
        let want: Vec<String> = new_positions[..j].iter().map(|&p| ev(plan[p].id)).collect();
        same("items left by the killed ingest", &extra, &want)?;
        // Which prefix of the plan is committed: it holds exactly j new items and all acked.
        let lo = if j == 0 { 0 } else { new_positions[j - 1] + 1 }.max(acked);
        let hi = new_positions.get(j).copied().unwrap_or(plan.len());
        let log = json_ok(&self.env, &["log"])?;
        let events = log["events"].as_array().ok_or("no events in log")?.len() as u64;
        let m = events
            .checked_sub(self.model.events)
            .ok_or_else(|| format!("the log shrank to {events} events"))? as usize;
        ensure!(
            lo <= m && m <= hi,
            "{m} custody events appeared for the killed ingest; {acked} files acknowledged, \
             {j} new items: expected between {lo} and {hi}"
        );
        self.model.apply_ingest(case, &plan[..m]);
        Ok(())
    }

    /// After every step: the archive as the read-only commands show it equals the model,
    /// and verify is clean with the model's counts.
    pub(super) fn check(&mut self) -> Check {
        let listed = json_ok(&self.env, &["list"])?;
        let got: Vec<Value> = listed["items"]
            .as_array()
            .ok_or("no items in list")?
            .iter()
            .map(|i| {
                json!({"id": i["id"], "blake3": i["blake3"], "sha256": i["sha256"], "size": i["size"],
                       "name": i["name"], "path": i["path"], "cases": i["cases"], "parent": i["parent"]})
            })
            .collect();
        let want = self.model.listing();
        if got != want {
            let mut diff = String::new();
            for k in 0..got.len().max(want.len()) {
                let (g, w) = (got.get(k), want.get(k));
                if g != w {
                    diff.push_str(&format!(
                        "  got  {}\n  want {}\n",
                        g.map_or("-".into(), Value::to_string),
                        w.map_or("-".into(), Value::to_string)
                    ));
                }
            }
            return Err(format!("list disagrees with the model:\n{diff}"));
        }
        let cases = json_ok(&self.env, &["case", "list"])?;
        let got: BTreeSet<&str> = cases["cases"]
            .as_array()
            .ok_or("no cases in case list")?
            .iter()
            .filter_map(|c| c["id"].as_str())
            .collect();
        same("case list", got, self.model.cases.clone())?;
        self.verify()
    }
}
