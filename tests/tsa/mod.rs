//! A throwaway RFC 3161 time-stamping authority for the tests, made with `openssl` in a temp
//! dir from `tests/tsa/tsa.cnf`: a CA (`openssl req -x509`), a TSA key and certificate with
//! `extendedKeyUsage = critical,timeStamping` signed by it, `openssl ts -reply` to answer a
//! query, and a loopback HTTP server that answers POSTed queries (honestly or not).
//!
//! `openssl` is on the machine and installed by `.ci/setup`. When it is missing, the tests
//! fail under `CI=true` and skip (saying so) elsewhere.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tempfile::TempDir;

const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tsa/tsa.cnf");

/// The TSA's key type (Ed25519 is not one: OpenSSL 3.0's `ts -reply` fails with it).
#[derive(Clone, Copy, Debug)]
pub enum Key {
    Rsa,
    P256,
}

/// Whether `openssl` runs. Panics under `CI=true` when it does not; otherwise says the test
/// is skipped and returns false.
pub fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        // The one rule for a missing tool: fail under CI (any CI value, not only "true").
        crate::util::skip_outside_ci("the RFC 3161 tests", "openssl does not run");
    }
    ok
}

/// A CA and a TSA whose certificate it signed, in a temp dir. `None` when openssl is missing
/// outside CI (see [`have_openssl`]).
pub struct Tsa {
    dir: Arc<TempDir>,
    name: String,
}

impl Tsa {
    /// Makes the CA ("custodia test CA <name>") and the TSA ("custodia test TSA <name>").
    pub fn new(key: Key, name: &str) -> Option<Tsa> {
        Tsa::make(key, name, None)
    }

    /// As [`Tsa::new`], with an intermediate CA ("custodia test intermediate <name>", made
    /// with the extensions of tsa.cnf's section `extensions`) between the CA and the TSA.
    /// Tokens carry the intermediate, not the CA.
    pub fn with_intermediate(key: Key, name: &str, extensions: &str) -> Option<Tsa> {
        Tsa::make(key, name, Some(extensions))
    }

    fn make(key: Key, name: &str, intermediate: Option<&str>) -> Option<Tsa> {
        if !have_openssl() {
            return None;
        }
        let tsa = Tsa {
            dir: Arc::new(tempfile::tempdir().unwrap()),
            name: name.to_string(),
        };
        tsa.make_ca();
        let issuer = match intermediate {
            None => "ca",
            Some(extensions) => {
                tsa.make_intermediate(extensions);
                "intermediate"
            }
        };
        std::fs::copy(tsa.path(&format!("{issuer}.crt")), tsa.path("carried.crt")).unwrap();
        tsa.make_tsa(key, issuer);
        Some(tsa)
    }

    fn make_intermediate(&self, extensions: &str) {
        self.openssl(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "intermediate.key",
        ]);
        let subject = format!(
            "/O=custodia tests/CN=custodia test intermediate {}",
            self.name
        );
        self.openssl(&[
            "req",
            "-new",
            "-key",
            "intermediate.key",
            "-subj",
            &subject,
            "-config",
            CONFIG,
            "-out",
            "intermediate.csr",
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            "intermediate.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            CONFIG,
            "-extensions",
            extensions,
            "-out",
            "intermediate.crt",
        ]);
    }

    fn make_ca(&self) {
        self.openssl(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ]);
        let ca_subject = format!("/O=custodia tests/CN=custodia test CA {}", self.name);
        self.openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            &ca_subject,
            "-days",
            "30",
            "-config",
            CONFIG,
            "-extensions",
            "v3_ca",
            "-out",
            "ca.crt",
        ]);
    }

    /// The TSA's key and certificate, issued by `issuer` ("ca" or "intermediate").
    fn make_tsa(&self, key: Key, issuer: &str) {
        match key {
            Key::Rsa => self.openssl(&["genrsa", "-out", "tsa.key", "2048"]),
            Key::P256 => self.openssl(&[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "tsa.key",
            ]),
        }
        let tsa_subject = format!("/O=custodia tests/CN=custodia test TSA {}", self.name);
        self.openssl(&[
            "req",
            "-new",
            "-key",
            "tsa.key",
            "-subj",
            &tsa_subject,
            "-config",
            CONFIG,
            "-out",
            "tsa.csr",
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            &format!("{issuer}.crt"),
            "-CAkey",
            &format!("{issuer}.key"),
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            CONFIG,
            "-extensions",
            "v3_tsa",
            "-out",
            "tsa.crt",
        ]);
        std::fs::write(self.path("tsa.serial"), "01\n").unwrap();
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> Vec<u8> {
        self.der("ca.crt")
    }

    /// The TSA certificate, DER.
    pub fn tsa_der(&self) -> Vec<u8> {
        self.der("tsa.crt")
    }

    /// The intermediate CA certificate, DER (made by [`Tsa::with_intermediate`]).
    pub fn intermediate_der(&self) -> Vec<u8> {
        self.der("intermediate.crt")
    }

    fn der(&self, pem: &str) -> Vec<u8> {
        let out = format!("{pem}.der");
        self.openssl(&["x509", "-in", pem, "-outform", "DER", "-out", &out]);
        std::fs::read(self.path(&out)).unwrap()
    }

    /// Runs openssl in the TSA's directory; panics with its stderr when it fails.
    pub fn openssl(&self, args: &[&str]) {
        let (ok, out) = run_openssl(self.dir.path(), args);
        assert!(ok, "openssl {} failed: {}", args.join(" "), out);
    }

    /// `openssl ts -reply -config tsa.cnf -queryfile q.tsq -out r.tsr`: the TSA's answer.
    pub fn reply(&self, tsq: &[u8]) -> Vec<u8> {
        reply(self.dir.path(), tsq)
    }

    /// As [`Tsa::reply`], from the TSA of another section of tsa.cnf.
    pub fn reply_from(&self, tsq: &[u8], section: &str) -> Vec<u8> {
        reply_from(self.dir.path(), tsq, section)
    }

    /// `openssl ts -query -digest HEX -sha256 [extra]`: a query made by openssl.
    pub fn query(&self, digest: &[u8; 32], extra: &[&str]) -> Vec<u8> {
        query(self.dir.path(), digest, extra)
    }

    /// `openssl ts -verify -queryfile q.tsq -in r.tsr -CAfile ca.crt -untrusted tsa.crt`.
    pub fn openssl_verify_reply(&self, tsq: &[u8], tsr: &[u8]) -> (bool, String) {
        std::fs::write(self.path("verify.tsq"), tsq).unwrap();
        std::fs::write(self.path("verify.tsr"), tsr).unwrap();
        run_openssl(
            self.dir.path(),
            &[
                "ts",
                "-verify",
                "-queryfile",
                "verify.tsq",
                "-in",
                "verify.tsr",
                "-CAfile",
                "ca.crt",
                "-untrusted",
                "tsa.crt",
            ],
        )
    }

    /// `openssl ts -verify -digest HEX -in token -token_in -CAfile ca.crt -untrusted tsa.crt`:
    /// a stored token (the ContentInfo alone) against a digest.
    pub fn openssl_verify_token(&self, token: &[u8], digest: &[u8; 32]) -> (bool, String) {
        std::fs::write(self.path("verify.token"), token).unwrap();
        run_openssl(
            self.dir.path(),
            &[
                "ts",
                "-verify",
                "-digest",
                &hex::encode(digest),
                "-in",
                "verify.token",
                "-token_in",
                "-CAfile",
                "ca.crt",
                "-untrusted",
                "tsa.crt",
            ],
        )
    }

    /// Serves this TSA on a loopback port until the returned server is dropped.
    pub fn serve(&self, mode: Mode) -> Server {
        Server::start(self.dir.clone(), mode)
    }
}

/// Runs openssl with `TSA_DIR` set, in `dir`: (success, stdout and stderr).
fn run_openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .env("TSA_DIR", dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn reply(dir: &Path, tsq: &[u8]) -> Vec<u8> {
    reply_from(dir, tsq, "tsa_config")
}

/// `openssl ts -reply -section SECTION`, with a section of tsa.cnf.
fn reply_from(dir: &Path, tsq: &[u8], section: &str) -> Vec<u8> {
    // Unique names: the server thread and the test may both call this.
    let id = unique();
    let (q, r) = (format!("q{id}.tsq"), format!("r{id}.tsr"));
    std::fs::write(dir.join(&q), tsq).unwrap();
    let (ok, out) = run_openssl(
        dir,
        &[
            "ts",
            "-reply",
            "-config",
            CONFIG,
            "-section",
            section,
            "-queryfile",
            &q,
            "-out",
            &r,
        ],
    );
    assert!(ok, "openssl ts -reply failed: {out}");
    std::fs::read(dir.join(&r)).unwrap()
}

fn query(dir: &Path, digest: &[u8; 32], extra: &[&str]) -> Vec<u8> {
    let q = format!("q{}.tsq", unique());
    let digest = hex::encode(digest);
    let mut args = vec!["ts", "-query", "-digest", &digest, "-sha256"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-out", &q]);
    let (ok, out) = run_openssl(dir, &args);
    assert!(ok, "openssl ts -query failed: {out}");
    std::fs::read(dir.join(&q)).unwrap()
}

fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// How the loopback TSA answers a POSTed query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `openssl ts -reply` to the query: a genuine answer.
    Genuine,
    /// A refusal: openssl's reply to a query for a policy it does not accept
    /// (status rejection, failInfo unacceptedPolicy).
    Refuse,
    /// A genuine token, but for another digest.
    OtherImprint,
    /// A genuine token for the same digest, but for another query (another nonce).
    OtherNonce,
    /// Bytes that are not a time-stamp response, labelled as one.
    Garbage,
    /// HTTP 500.
    ServerError,
    /// A 2 MiB body labelled as a reply.
    Huge,
    /// Reads the query and never answers.
    Silent,
}

/// A loopback HTTP server answering time-stamp queries; stopped when dropped.
pub struct Server {
    pub url: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(dir: Arc<TempDir>, mode: Mode) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/tsa", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some(stream) = answer(dir.path(), stream, mode) {
                            held.push(stream);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => panic!("loopback TSA: accept failed: {e}"),
                }
            }
        });
        Server {
            url,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one POST and answers it as `mode` says. A silent answer returns the stream, kept
/// open (unanswered) until the server stops.
fn answer(dir: &Path, mut stream: TcpStream, mode: Mode) -> Option<TcpStream> {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = read_post(&mut stream)?;
    let reply = match mode {
        Mode::Silent => return Some(stream),
        Mode::ServerError => {
            let _ = stream.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return None;
        }
        Mode::Genuine => reply(dir, &body),
        Mode::Refuse => reply(
            dir,
            &query(dir, &[0u8; 32], &["-cert", "-tspolicy", "1.2.3.4.5"]),
        ),
        Mode::OtherImprint => reply(dir, &query(dir, &[0xee; 32], &["-cert"])),
        Mode::OtherNonce => {
            let digest = custodia::timestamp::parse_request(&body).unwrap().digest;
            reply(dir, &query(dir, &digest, &["-cert"]))
        }
        Mode::Garbage => b"this is not a time-stamp response".to_vec(),
        Mode::Huge => vec![0x30; 2 << 20],
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply);
    None
}

/// The body of an HTTP POST with a Content-Length (all ureq sends for a byte body).
fn read_post(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let header_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 || data.len() > 64 * 1024 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..header_end]).to_ascii_lowercase();
    assert!(
        head.starts_with("post "),
        "loopback TSA: not a POST: {head}"
    );
    assert!(
        head.contains("content-type: application/timestamp-query"),
        "loopback TSA: wrong content type: {head}"
    );
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .expect("loopback TSA: no Content-Length");
    while data.len() < header_end + length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
    Some(data[header_end..header_end + length].to_vec())
}
