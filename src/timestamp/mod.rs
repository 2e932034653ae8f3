//! Trusted time: RFC 3161 time-stamp requests, responses and tokens over a checkpoint's
//! SHA-256 digest.
//!
//! The flow: [`request`] makes a `TimeStampReq` (SHA-256 imprint, `certReq`, a random
//! 126-bit nonce) whose DER is the `.tsq`; a time-stamping authority (TSA) answers it with a
//! `TimeStampResp` (the `.tsr`), over HTTP by [`fetch`] or carried by hand to and from an
//! air-gapped machine, where [`parse_request`] reads the `.tsq` back. [`accept_response`]
//! checks that the response answers that request and returns the `TimeStampToken` (a CMS
//! `ContentInfo`) to keep; [`verify_token`] re-checks a kept token against a digest at any
//! later time and, given CA certificates to trust, checks the TSA's certificate path too.
//!
//! # Which crates, and why
//! - ASN.1 types: RustCrypto's `x509-tsp` (`TimeStampReq`, `TimeStampResp`, `TSTInfo`),
//!   `cms` (`ContentInfo`, `SignedData`, `SignerInfo`) and `x509-cert` (certificates, their
//!   extensions and PEM bundles), all on the `der` crate, which decodes strict DER and rejects
//!   trailing bytes. No structure is encoded or decoded here by hand.
//! - Signatures and certificate paths: `rustls-webpki` on `ring`. It verifies the token's
//!   signature with the signer certificate's key (`EndEntityCert::verify_signature`) and
//!   validates the path from that certificate to a given CA, at the token's time, with the
//!   `timeStamping` key purpose (`verify_for_usage`). This module only chooses webpki's
//!   algorithm from the CMS algorithm identifiers ([`token::signature_algorithms`]).
//! - `cryptographic-message-syntax` 0.28 was the other candidate. It verifies a SignerInfo's
//!   signature in one call, but it does not validate certificate paths (webpki would be
//!   needed anyway), brings a second ASN.1 stack (`bcder`, `x509-certificate`) beside the
//!   `der` one, and its `PKIStatusInfo` decodes `failInfo` as an INTEGER where RFC 3161 has a
//!   BIT STRING, so it cannot read the error responses a TSA actually sends (OpenSSL's always
//!   carry `failInfo`: the response fails to decode). The RustCrypto types plus webpki do the
//!   whole job with less code.
//! - HTTP: `ureq` without TLS or compression (plain HTTP is how TSAs are usually reached;
//!   the token is signed, so the channel needs no protection).
//!
//! # Limits, on purpose or inherited
//! - `cmpv2` 0.2 (under `x509-tsp`) decodes `PKIFailureInfo` into flags numbered as masks,
//!   not bit positions: it drops or misnames the bits up to 15 (OpenSSL's `unacceptedPolicy`
//!   vanishes) and rejects the whole response for bits 16 and up (`systemFailure`...). So the
//!   status is decoded by a shape that keeps `failInfo` as raw bits ([`token::Status`]): the
//!   one place this module declares ASN.1 itself, RFC 3161 section 2.4.2 through `der`'s
//!   derive. A granted response's token is then decoded with `x509-tsp`'s own type.
//! - `der` 0.7 reads `GeneralizedTime` only as `YYYYMMDDHHMMSSZ`: a token whose `genTime`
//!   has fractional seconds (allowed by RFC 3161, written by some TSAs) is reported as not
//!   valid DER. OpenSSL's TSA writes none unless `clock_precision_digits` is set.
//! - The signing-certificate attribute (ESS `signingCertificate[V2]`) is not checked: the
//!   signature is checked with the certificate the `SignerInfo` names, and with `trust`
//!   that certificate's path is validated. `openssl ts -verify` checks it as well.
//! - Revocation (CRL, OCSP) is not checked. RSA-PSS signatures are not supported.
//! - A trusted certificate must be a CA that issued the TSA's certificate (or an
//!   intermediate's); the TSA's own certificate given as a trust anchor is not enough.

mod http;
mod token;

use std::time::Duration;

use x509_cert::der::asn1::{Int, OctetString};
use x509_cert::der::oid::db::rfc5912::ID_SHA_256;
use x509_cert::der::{Any, Decode, Encode};
use x509_cert::spki::AlgorithmIdentifier;
use x509_tsp::{MessageImprint, TimeStampReq, TspVersion};

pub use crate::error::TimestampError;
pub use http::{CONTENT_TYPE_QUERY, CONTENT_TYPE_REPLY, MAX_RESPONSE_BYTES, fetch};

use crate::error::Result;

/// A time-stamp request (`.tsq`) over a 32-byte SHA-256 digest (a checkpoint's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The `TimeStampReq` DER, as sent to the TSA and written to a `.tsq`.
    pub der: Vec<u8>,
    /// The digest the TSA is asked to time-stamp.
    pub digest: [u8; 32],
    /// The nonce, as the content bytes of its DER INTEGER (positive, minimal).
    pub nonce: Vec<u8>,
    /// Whether the TSA is asked to put its certificate in the token.
    pub cert_req: bool,
}

/// What the path from the TSA's certificate to a trusted CA came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chain {
    /// No CA was given to trust: the token is internally sound and signed by the certificate
    /// it names, but who that is has not been established.
    Unchecked,
    /// The TSA's certificate chains to this trusted CA (its subject), was valid at the token's
    /// time and is for time-stamping.
    Trusted { anchor: String },
}

/// What a checked time-stamp token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    /// The TSA's time (`genTime`), RFC 3339 in UTC, e.g. `2026-11-28T10:00:00Z`.
    pub time: String,
    /// The same time in seconds since the Unix epoch.
    pub unix_time: u64,
    /// The signer certificate's subject (RFC 4514), e.g. `CN=Example TSA,O=Example`.
    pub tsa: String,
    /// The name the TSA gives itself in the token (`TSTInfo.tsa`), when it gives one.
    pub tsa_name: Option<String>,
    /// The token's serial number, lowercase hex of its DER INTEGER content.
    pub serial: String,
    /// The time-stamped SHA-256 digest.
    pub digest: [u8; 32],
    /// The TSA's policy OID, dotted.
    pub policy: String,
    /// The signer certificate (DER).
    pub signer_certificate: Vec<u8>,
    /// Whether the signer's path to a trusted CA was checked.
    pub chain: Chain,
}

/// Makes a request over `digest`: SHA-256 imprint, `certReq = true`, a random nonce.
pub fn request(digest: &[u8; 32]) -> Result<Request> {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(|e| TimestampError::Random(e.to_string()))?;
    // Positive and minimal as a DER INTEGER: top bit clear, first byte not zero.
    nonce[0] = (nonce[0] & 0x7f) | 0x01;
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: sha256_algorithm(),
            hashed_message: OctetString::new(digest.to_vec()).expect("32 bytes fit a DER length"),
        },
        req_policy: None,
        nonce: Some(Int::new(&nonce).expect("16 bytes fit a DER length")),
        cert_req: true,
        extensions: None,
    };
    let der = req
        .to_der()
        .expect("a TimeStampReq of fixed-size fields encodes");
    Ok(Request {
        der,
        digest: *digest,
        nonce: nonce.to_vec(),
        cert_req: true,
    })
}

/// Reads back a request written earlier (the air-gapped two-step flow). It must be DER, use
/// SHA-256 and carry a nonce, as the requests [`request`] makes do.
pub fn parse_request(der: &[u8]) -> Result<Request> {
    let req = TimeStampReq::from_der(der).map_err(|e| TimestampError::Garbled {
        what: "time-stamp request",
        detail: e.to_string(),
    })?;
    let bad = |reason: &str| TimestampError::BadRequest(reason.to_string());
    let digest = sha256_imprint(&req.message_imprint)
        .map_err(|_| bad("its imprint is not a SHA-256 digest (custodia asks only for SHA-256)"))?;
    let nonce = req.nonce.ok_or_else(|| bad("it carries no nonce"))?;
    if nonce.as_bytes().first().is_none_or(|b| b & 0x80 != 0) {
        return Err(bad("its nonce is not a positive integer").into());
    }
    Ok(Request {
        der: der.to_vec(),
        digest,
        nonce: nonce.as_bytes().to_vec(),
        cert_req: req.cert_req,
    })
}

/// Accepts a `TimeStampResp` (`.tsr`) as the answer to `req`: the TSA granted it, the token's
/// imprint is the request's digest, its nonce the request's nonce, and its signature verifies
/// with the certificate it carries (or one of `chain`, DER certificates, e.g. from
/// [`pem_certs`]). Returns the `TimeStampToken` DER (the `ContentInfo` to store) and what it
/// says. The TSA's certificate path is not checked here ([`TokenInfo::chain`] is
/// [`Chain::Unchecked`]); [`verify_token`] does that given CAs to trust.
pub fn accept_response(
    tsr: &[u8],
    req: &Request,
    chain: &[Vec<u8>],
) -> Result<(Vec<u8>, TokenInfo)> {
    let token = token::granted_token(tsr)?;
    let checked = token::check_token(&token, chain)?;
    check_imprint(&checked.tst.message_imprint, &req.digest)?;
    let found = checked.tst.nonce.as_ref().map(|n| n.as_bytes());
    if found != Some(req.nonce.as_slice()) {
        return Err(TimestampError::WrongNonce {
            expected: hex::encode(&req.nonce),
            found: found.map_or_else(|| "none".to_string(), hex::encode),
        }
        .into());
    }
    let info = checked.info(Chain::Unchecked)?;
    Ok((token, info))
}

/// Re-checks a stored token against `digest`: well formed, signature valid with the
/// certificate it carries (or one of `chain`), imprint equal to `digest`. With `trust` (DER CA
/// certificates) not empty, also that the signer certificate chains to one of them through
/// the token's and `chain`'s certificates, was valid at the token's time and has the critical
/// extended key usage `timeStamping`; with `trust` empty, [`TokenInfo::chain`] says
/// [`Chain::Unchecked`], never trusted.
pub fn verify_token(
    token: &[u8],
    digest: &[u8; 32],
    chain: &[Vec<u8>],
    trust: &[Vec<u8>],
) -> Result<TokenInfo> {
    let checked = token::check_token(token, chain)?;
    check_imprint(&checked.tst.message_imprint, digest)?;
    let status = if trust.is_empty() {
        Chain::Unchecked
    } else {
        Chain::Trusted {
            anchor: checked.check_path(trust)?,
        }
    };
    Ok(checked.info(status)?)
}

/// The certificates of a PEM bundle, as DER, in file order. A bundle with none is an error.
pub fn pem_certs(pem: &[u8]) -> Result<Vec<Vec<u8>>> {
    let bad = |detail: String| TimestampError::BadPem(detail);
    // x509-cert 0.2.5's `load_pem_chain` underflows on an input of only line ends.
    if pem.iter().all(|b| matches!(b, b'\r' | b'\n')) {
        return Err(bad("it is empty".to_string()).into());
    }
    let certs = x509_cert::Certificate::load_pem_chain(pem).map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("it holds no certificate".to_string()).into());
    }
    Ok(certs
        .iter()
        .map(|c| c.to_der().map_err(|e| bad(e.to_string())))
        .collect::<Result<_, _>>()?)
}

fn sha256_algorithm() -> AlgorithmIdentifier<Any> {
    // RFC 5754: SHA-2 identifiers are sent with absent parameters; NULL is also accepted.
    AlgorithmIdentifier {
        oid: ID_SHA_256,
        parameters: None,
    }
}

/// The digest of a SHA-256 imprint; `Err` names the algorithm of any other.
fn sha256_imprint(imprint: &MessageImprint) -> Result<[u8; 32], String> {
    let alg = &imprint.hash_algorithm;
    let null_or_absent = alg.parameters.as_ref().is_none_or(|p| p.is_null());
    if alg.oid != ID_SHA_256 || !null_or_absent {
        return Err(alg.oid.to_string());
    }
    imprint
        .hashed_message
        .as_bytes()
        .try_into()
        .map_err(|_| format!("SHA-256 with {} bytes", imprint.hashed_message.len()))
}

fn check_imprint(imprint: &MessageImprint, digest: &[u8; 32]) -> Result<(), TimestampError> {
    match sha256_imprint(imprint) {
        Ok(found) if &found == digest => Ok(()),
        Ok(found) => Err(TimestampError::WrongImprint {
            expected: hex::encode(digest),
            found: hex::encode(found),
        }),
        Err(algorithm) => Err(TimestampError::WrongImprintAlgorithm(algorithm)),
    }
}

/// A timeout as messages show it: "3 s", "0.5 s".
fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests;
