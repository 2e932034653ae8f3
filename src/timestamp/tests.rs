//! Unit tests that need no TSA; tests/timestamp.rs runs the rest against OpenSSL's.

use super::*;

#[test]
fn a_request_reads_back_as_itself() {
    let digest = [7u8; 32];
    let req = request(&digest).unwrap();
    assert_eq!(req.digest, digest);
    assert!(req.cert_req);
    assert_eq!(req.nonce.len(), 16);
    assert!(
        req.nonce[0] != 0 && req.nonce[0] & 0x80 == 0,
        "positive, minimal"
    );
    assert_eq!(parse_request(&req.der).unwrap(), req);
    assert_ne!(
        request(&digest).unwrap().nonce,
        req.nonce,
        "a fresh nonce each time"
    );
}

#[test]
fn a_request_with_trailing_or_missing_bytes_is_garbled() {
    let req = request(&[1u8; 32]).unwrap();
    let mut long = req.der.clone();
    long.push(0);
    for bad in [&long[..], &req.der[..req.der.len() - 1], &[][..]] {
        let e = parse_request(bad).unwrap_err();
        assert_eq!(e.kind(), "bad_timestamp", "{e}");
        assert!(e.to_string().contains("time-stamp request"), "{e}");
    }
}

#[test]
fn garbage_is_an_error_everywhere() {
    let req = request(&[2u8; 32]).unwrap();
    let junk = b"<html>not a time-stamp</html>";
    let e = accept_response(junk, &req, &[]).unwrap_err();
    assert_eq!(e.kind(), "bad_timestamp", "{e}");
    let e = verify_token(junk, &[2u8; 32], &[], &[]).unwrap_err();
    assert_eq!(e.kind(), "bad_timestamp", "{e}");
    // A request is not a token either.
    let e = verify_token(&req.der, &[2u8; 32], &[], &[]).unwrap_err();
    assert_eq!(e.kind(), "bad_timestamp", "{e}");
}

#[test]
fn a_pem_bundle_without_certificates_is_refused() {
    for pem in [
        &b""[..],
        b"hello",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        let e = pem_certs(pem).unwrap_err();
        assert_eq!(e.kind(), "bad_pem", "{e}");
    }
}
