//! RFC 3161 trusted time (issue 11, item 5): custodia's `timestamp` module against a real
//! TSA, OpenSSL's `ts -reply` with a throwaway CA (tests/tsa), directly and over loopback
//! HTTP; `openssl ts -verify` checks the same tokens. Calls the library API, not the CLI.

use crate::timestamp_tsa as tsa;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use custodia::Error;
use custodia::timestamp::{
    self, Chain, Request, TimestampError, accept_response, fetch, parse_request, pem_certs,
    request, verify_token,
};
use der::Decode;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use tsa::{Key, Mode, Tsa};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn digest_of(text: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).into()
}

/// The module's error inside custodia's.
fn ts_error(e: Error) -> TimestampError {
    match e {
        Error::Timestamp(t) => t,
        other => panic!("not a time-stamp error: {other:?}"),
    }
}

/// A request, openssl's reply to it, and the accepted token.
struct Stamped {
    req: Request,
    tsr: Vec<u8>,
    token: Vec<u8>,
}

fn stamp(tsa: &Tsa, digest: &[u8; 32]) -> Stamped {
    let req = request(digest).unwrap();
    let tsr = tsa.reply(&req.der);
    let (token, _) = accept_response(&tsr, &req, &[]).unwrap();
    Stamped { req, tsr, token }
}

/// The whole flow with one key type: request, openssl's reply, accept, verify with the CA as
/// trust, and openssl agreeing on the reply and on the stored token alone.
fn round_trip(key: Key) {
    let Some(tsa) = Tsa::new(key, "one") else {
        return;
    };
    let digest = digest_of("checkpoint 1");
    let before = now();
    let req = request(&digest).unwrap();
    // The air-gapped flow: the .tsq is written, carried, and read back.
    std::fs::write(tsa.path("q.tsq"), &req.der).unwrap();
    let reread = parse_request(&std::fs::read(tsa.path("q.tsq")).unwrap()).unwrap();
    assert_eq!(reread, req);
    let tsr = tsa.reply(&reread.der);
    let after = now();

    let (token, info) = accept_response(&tsr, &reread, &[]).unwrap();
    assert_eq!(info.digest, digest);
    assert!(
        (before.saturating_sub(1)..=after + 1).contains(&info.unix_time),
        "token time {} outside {before}..={after}",
        info.unix_time
    );
    assert!(
        info.time.ends_with('Z') && info.time.len() == 20,
        "{}",
        info.time
    );
    assert_eq!(info.tsa, "CN=custodia test TSA one,O=custodia tests");
    assert_eq!(
        info.tsa_name.as_deref(),
        Some(info.tsa.as_str()),
        "tsa_name = yes"
    );
    assert_eq!(info.policy, "1.3.6.1.4.1.32473.1.1");
    assert!(
        !info.serial.is_empty() && info.serial.bytes().all(|b| b.is_ascii_hexdigit()),
        "{}",
        info.serial
    );
    assert_eq!(info.signer_certificate, tsa.tsa_der());
    assert_eq!(
        info.chain,
        Chain::Unchecked,
        "no trust given, so not trusted"
    );

    let checked = verify_token(&token, &digest, &[], &[tsa.ca_der()]).unwrap();
    assert_eq!(
        checked.chain,
        Chain::Trusted {
            anchor: "CN=custodia test CA one,O=custodia tests".to_string()
        }
    );
    assert_eq!(checked.time, info.time);
    assert_eq!(checked.serial, info.serial);
    assert_eq!(
        verify_token(&token, &digest, &[], &[]).unwrap().chain,
        Chain::Unchecked
    );

    let (ok, out) = tsa.openssl_verify_reply(&req.der, &tsr);
    assert!(ok, "openssl ts -verify rejects the reply: {out}");
    let (ok, out) = tsa.openssl_verify_token(&token, &digest);
    assert!(ok, "openssl ts -verify rejects the stored token: {out}");
    let (ok, _) = tsa.openssl_verify_token(&token, &digest_of("another checkpoint"));
    assert!(
        !ok,
        "openssl ts -verify accepts the token for another digest"
    );
}

#[test]
fn round_trip_with_an_rsa_tsa() {
    round_trip(Key::Rsa);
}

#[test]
fn round_trip_with_a_p256_tsa() {
    round_trip(Key::P256);
}

#[test]
fn a_changed_byte_never_changes_what_a_token_says() {
    let Some(tsa) = Tsa::new(Key::P256, "tamper") else {
        return;
    };
    let digest = digest_of("checkpoint 2");
    let Stamped { token, .. } = stamp(&tsa, &digest);
    let trust = [tsa.ca_der()];
    let genuine = verify_token(&token, &digest, &[], &trust).unwrap();

    // The imprint's bytes and the signature's last byte: the signed content and the signature.
    let at = token.windows(32).position(|w| w == digest).unwrap();
    for i in [at, at + 31, token.len() - 1] {
        let mut bad = token.clone();
        bad[i] ^= 0x01;
        let e = ts_error(verify_token(&bad, &digest, &[], &trust).unwrap_err());
        assert!(
            matches!(
                e,
                TimestampError::BadSignature(_) | TimestampError::Garbled { .. }
            ),
            "byte {i}: {e}"
        );
    }

    // Every byte: either an error, or (a byte of a certificate the check does not rest on)
    // exactly what the genuine token says.
    for i in 0..token.len() {
        let mut bad = token.clone();
        bad[i] ^= 0x20;
        if let Ok(info) = verify_token(&bad, &digest, &[], &trust) {
            assert_eq!(info, genuine, "byte {i} changed what the token says");
        }
    }
}

#[test]
fn a_reply_for_another_digest_or_request_is_refused() {
    let Some(tsa) = Tsa::new(Key::P256, "mixup") else {
        return;
    };
    let digest = digest_of("checkpoint 3");
    let req = request(&digest).unwrap();

    // Another digest: a genuine token, but not for this checkpoint.
    let other = tsa.reply(&request(&digest_of("checkpoint 4")).unwrap().der);
    let e = ts_error(accept_response(&other, &req, &[]).unwrap_err());
    assert!(matches!(e, TimestampError::WrongImprint { .. }), "{e}");
    assert!(e.to_string().contains(&hex::encode(digest)), "{e}");
    let Stamped { token, .. } = stamp(&tsa, &digest);
    let e = ts_error(verify_token(&token, &digest_of("checkpoint 4"), &[], &[]).unwrap_err());
    assert!(matches!(e, TimestampError::WrongImprint { .. }), "{e}");

    // The same digest, another request: the nonce gives it away.
    let again = tsa.reply(&request(&digest).unwrap().der);
    let e = ts_error(accept_response(&again, &req, &[]).unwrap_err());
    assert!(matches!(e, TimestampError::WrongNonce { .. }), "{e}");
    assert!(e.to_string().contains("answers another request"), "{e}");

    // A query without a nonce (openssl's -no_nonce) gets a token without one.
    let no_nonce = tsa.reply(&tsa.query(&digest, &["-cert", "-no_nonce"]));
    let e = ts_error(accept_response(&no_nonce, &req, &[]).unwrap_err());
    assert!(e.to_string().contains("its nonce is none"), "{e}");
}

#[test]
fn a_refusal_names_its_status_and_reason() {
    let Some(tsa) = Tsa::new(Key::P256, "refuse") else {
        return;
    };
    let tsq = tsa.query(&digest_of("x"), &["-cert", "-tspolicy", "1.2.3.4.5"]);
    let tsr = tsa.reply(&tsq);
    let req = parse_request(&tsq).unwrap();
    // Why src/timestamp/token.rs decodes the status itself: x509-tsp 0.1 (cmpv2 0.2) loses
    // this refusal's failInfo bit (and rejects bits 16 and up). When it keeps it, that
    // fallback can go.
    let theirs = x509_tsp::TimeStampResp::from_der(&tsr).unwrap();
    assert!(theirs.status.fail_info.is_none_or(|f| f.is_empty()));
    let e = accept_response(&tsr, &req, &[]).unwrap_err();
    assert_eq!(e.kind(), "tsa_refused");
    assert_eq!(
        e.to_string(),
        "the time-stamping authority refused the request: rejection (unacceptedPolicy: \"Requested policy is not supported.\")"
    );
}

/// A known limit (src/timestamp/mod.rs): `der` 0.7 reads GeneralizedTime without fractions,
/// so a TSA that writes milliseconds gets a clear refusal, not a wrong time or a panic.
#[test]
fn a_token_with_fractional_seconds_is_reported_unreadable() {
    let Some(tsa) = Tsa::new(Key::P256, "millis") else {
        return;
    };
    let digest = digest_of("checkpoint 12");
    let req = request(&digest).unwrap();
    let tsr = tsa.reply_from(&req.der, "tsa_fractional");
    let (ok, out) = tsa.openssl_verify_reply(&req.der, &tsr);
    assert!(ok, "openssl accepts it: {out}");
    let e = accept_response(&tsr, &req, &[]).unwrap_err();
    assert_eq!(e.kind(), "bad_timestamp", "{e}");
    eprintln!("{e}");
}

#[test]
fn a_ca_that_did_not_issue_the_tsa_certificate_is_not_trusted() {
    let (Some(tsa), Some(stranger)) = (Tsa::new(Key::P256, "a"), Tsa::new(Key::P256, "b")) else {
        return;
    };
    let digest = digest_of("checkpoint 5");
    let Stamped { token, .. } = stamp(&tsa, &digest);
    let e = ts_error(verify_token(&token, &digest, &[], &[stranger.ca_der()]).unwrap_err());
    assert!(matches!(e, TimestampError::Untrusted { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "the TSA certificate CN=custodia test TSA a,O=custodia tests is not trusted: it does not chain to any of the trusted CA certificates"
    );
    assert_eq!(Error::Timestamp(e).kind(), "untrusted_tsa");
    // Either CA may be given; the one that issued it is reported.
    let info = verify_token(&token, &digest, &[], &[stranger.ca_der(), tsa.ca_der()]).unwrap();
    assert_eq!(
        info.chain,
        Chain::Trusted {
            anchor: "CN=custodia test CA a,O=custodia tests".to_string()
        }
    );
    // The TSA's own certificate is not a CA: trusting it is not enough.
    let e = ts_error(verify_token(&token, &digest, &[], &[tsa.tsa_der()]).unwrap_err());
    assert!(matches!(e, TimestampError::Untrusted { .. }), "{e}");
}

#[test]
fn a_tsa_under_an_intermediate_ca_chains_to_the_root() {
    let Some(tsa) = Tsa::with_intermediate(Key::Rsa, "deep", "v3_intermediate") else {
        return;
    };
    let digest = digest_of("checkpoint 10");
    let Stamped { token, .. } = stamp(&tsa, &digest);
    // The token carries the intermediate; the recipient trusts only the root.
    let info = verify_token(&token, &digest, &[], &[tsa.ca_der()]).unwrap();
    assert_eq!(
        info.chain,
        Chain::Trusted {
            anchor: "CN=custodia test CA deep,O=custodia tests".to_string()
        }
    );
    // The intermediate alone is not a trust anchor of this path's root, but it may be one.
    let info = verify_token(&token, &digest, &[], &[tsa.intermediate_der()]).unwrap();
    assert!(matches!(info.chain, Chain::Trusted { anchor } if anchor.contains("intermediate")));
}

#[test]
fn a_tsa_under_a_ca_for_other_purposes_is_not_for_time_stamping() {
    let Some(tsa) = Tsa::with_intermediate(Key::P256, "tls", "v3_intermediate_tls") else {
        return;
    };
    let digest = digest_of("checkpoint 11");
    let Stamped { token, .. } = stamp(&tsa, &digest);
    let e = ts_error(verify_token(&token, &digest, &[], &[tsa.ca_der()]).unwrap_err());
    assert!(
        matches!(e, TimestampError::NotForTimeStamping { .. }),
        "{e}"
    );
    assert!(e.to_string().contains("is not for time-stamping"), "{e}");
    assert_eq!(Error::Timestamp(e).kind(), "untrusted_tsa");
    // Here custodia is stricter than `openssl ts -verify`, which does not apply a CA's extended
    // key usage to the certificates under it; custodia does, with webpki, as browsers do.
    let (ok, out) = tsa.openssl_verify_token(&token, &digest);
    assert!(ok, "openssl ts -verify: {out}");
}

#[test]
fn a_token_without_its_certificate_needs_the_chain() {
    let Some(tsa) = Tsa::new(Key::Rsa, "nocert") else {
        return;
    };
    let digest = digest_of("checkpoint 6");
    // openssl's query without -cert: certReq false, so the token carries no certificate.
    let tsq = tsa.query(&digest, &[]);
    let req = parse_request(&tsq).unwrap();
    assert!(!req.cert_req);
    let tsr = tsa.reply(&tsq);
    let e = ts_error(accept_response(&tsr, &req, &[]).unwrap_err());
    assert_eq!(e, TimestampError::NoSignerCertificate);

    // The chain as a PEM bundle (TSA then CA), as `--tsa-chain` would give it.
    let mut pem = std::fs::read(tsa.path("tsa.crt")).unwrap();
    pem.extend(std::fs::read(tsa.path("ca.crt")).unwrap());
    let chain = pem_certs(&pem).unwrap();
    assert_eq!(chain, vec![tsa.tsa_der(), tsa.ca_der()]);
    let (token, info) = accept_response(&tsr, &req, &chain).unwrap();
    assert_eq!(info.tsa, "CN=custodia test TSA nocert,O=custodia tests");
    let info = verify_token(&token, &digest, &chain, &[tsa.ca_der()]).unwrap();
    assert!(matches!(info.chain, Chain::Trusted { .. }));
    let e = ts_error(verify_token(&token, &digest, &[], &[tsa.ca_der()]).unwrap_err());
    assert_eq!(e, TimestampError::NoSignerCertificate);
}

#[test]
fn fetch_over_loopback_http() {
    let Some(tsa) = Tsa::new(Key::P256, "http") else {
        return;
    };
    let digest = digest_of("checkpoint 7");
    let req = request(&digest).unwrap();
    let timeout = Duration::from_secs(20);

    let server = tsa.serve(Mode::Genuine);
    let tsr = fetch(&server.url, &req, timeout).unwrap();
    let (token, info) = accept_response(&tsr, &req, &[]).unwrap();
    assert_eq!(info.digest, digest);
    verify_token(&token, &digest, &[], &[tsa.ca_der()]).unwrap();
    drop(server);

    let expect = |mode: Mode, kind: &str, words: &str| {
        let server = tsa.serve(mode);
        let e = fetch(&server.url, &req, timeout)
            .and_then(|tsr| accept_response(&tsr, &req, &[]))
            .unwrap_err();
        assert_eq!(e.kind(), kind, "{mode:?}: {e}");
        assert!(e.to_string().contains(words), "{mode:?}: {e}");
    };
    expect(Mode::Refuse, "tsa_refused", "rejection (unacceptedPolicy");
    expect(Mode::OtherImprint, "wrong_imprint", "not the expected");
    expect(Mode::OtherNonce, "wrong_nonce", "answers another request");
    expect(Mode::Garbage, "bad_timestamp", "time-stamp response");
    expect(Mode::ServerError, "tsa_unreachable", "HTTP 500");
}

#[test]
fn fetch_fails_within_its_timeout() {
    let Some(tsa) = Tsa::new(Key::P256, "slow") else {
        return;
    };
    let req = request(&digest_of("checkpoint 8")).unwrap();

    // A port nobody listens on: refused at once.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/tsa", listener.local_addr().unwrap())
    };
    let started = Instant::now();
    let e = fetch(&dead, &req, Duration::from_secs(5)).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(e.kind(), "tsa_unreachable");
    assert!(e.to_string().contains(&dead), "names the URL: {e}");

    // An answer larger than any token: cut off, not read into memory whole.
    let server = tsa.serve(Mode::Huge);
    let e = fetch(&server.url, &req, Duration::from_secs(20)).unwrap_err();
    assert!(
        e.to_string().ends_with(&format!(
            "its answer is larger than {} bytes",
            timestamp::MAX_RESPONSE_BYTES
        )),
        "{e}"
    );
    drop(server);

    // A TSA that takes the query and never answers: the timeout ends it.
    let server = tsa.serve(Mode::Silent);
    let started = Instant::now();
    let e = fetch(&server.url, &req, Duration::from_millis(700)).unwrap_err();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "the time-stamping authority at {} could not be used: it did not answer within 0.7 s",
            server.url
        )
    );
    drop(server);

    // https needs TLS, which this build leaves out.
    let e = fetch("https://127.0.0.1:1/tsa", &req, Duration::from_secs(2)).unwrap_err();
    assert_eq!(e.kind(), "tsa_unreachable", "{e}");
}

#[test]
fn no_input_makes_the_checks_panic() {
    let Some(tsa) = Tsa::new(Key::P256, "fuzz") else {
        return;
    };
    let digest = digest_of("checkpoint 9");
    let Stamped { req, tsr, token } = stamp(&tsa, &digest);
    let chain = vec![tsa.tsa_der()];
    let trust = vec![tsa.ca_der()];

    // Every truncation of a genuine request, response and token is an error.
    for n in 0..req.der.len() {
        assert!(parse_request(&req.der[..n]).is_err(), "request cut at {n}");
    }
    for n in 0..tsr.len() {
        assert!(
            accept_response(&tsr[..n], &req, &chain).is_err(),
            "response cut at {n}"
        );
    }
    for n in 0..token.len() {
        assert!(
            verify_token(&token[..n], &digest, &chain, &trust).is_err(),
            "token cut at {n}"
        );
    }

    // Random bytes, and genuine ones with random bytes spliced in, return rather than panic.
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let inputs = (
        proptest::collection::vec(any::<u8>(), 0..400),
        0usize..4,
        any::<prop::sample::Index>(),
    );
    runner
        .run(&inputs, |(bytes, which, at)| {
            let base: &[u8] = match which {
                0 => &[],
                1 => &req.der,
                2 => &tsr,
                _ => &token,
            };
            let mut input = base.to_vec();
            let at = if input.is_empty() {
                0
            } else {
                at.index(input.len())
            };
            let end = (at + bytes.len()).min(input.len());
            input.splice(at..end, bytes.iter().copied());
            let _ = parse_request(&input);
            let _ = accept_response(&input, &req, &chain);
            let _ = verify_token(&input, &digest, &chain, &trust);
            let _ = verify_token(&input, &digest, &[input.clone()], &[input.clone()]);
            let _ = pem_certs(&input);
            Ok::<(), TestCaseError>(())
        })
        .unwrap();
}

#[test]
fn pem_bundles_read_as_openssl_writes_them() {
    let Some(tsa) = Tsa::new(Key::P256, "pem") else {
        return;
    };
    let ca = std::fs::read(tsa.path("ca.crt")).unwrap();
    assert_eq!(pem_certs(&ca).unwrap(), vec![tsa.ca_der()]);
    let e = pem_certs(std::fs::read(tsa.path("ca.key")).unwrap().as_slice()).unwrap_err();
    assert_eq!(e.kind(), "bad_pem", "a key is not a certificate: {e}");
}
