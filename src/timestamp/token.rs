//! The checks on a `TimeStampResp` and its token (RFC 3161 sections 2.4.2 and 2.4.1, RFC 5652
//! section 5): decoding with the RustCrypto types, the signature and the certificate path
//! with webpki.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetString, Utf8StringRef};
use der::oid::db::{rfc5280, rfc5911, rfc5912, rfc8410};
use der::{Decode, Encode, Sequence, Tag, Tagged};
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use sha2::Digest;
use webpki::ring as algs;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectKeyIdentifier};
use x509_tsp::{TimeStampResp, TstInfo};

use super::{Chain, TimestampError, TokenInfo};

/// `id-ct-TSTInfo` (RFC 3161 section 2.4.2); the `const-oid` database lacks it.
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// `id-kp-timeStamping`, for webpki's key-usage check (which wants a `'static` slice).
static TIME_STAMPING: ObjectIdentifier = rfc5280::ID_KP_TIME_STAMPING;

/// `TimeStampResp` with `PKIStatusInfo` as RFC 3161 section 2.4.2 has it. `x509-tsp` types
/// `failInfo` with `cmpv2` 0.2's `PKIFailureInfo`, whose flags are masks numbered as bit
/// positions: bits up to 15 are dropped or misnamed, 16 and up fail the whole decode (OpenSSL
/// sends failInfo with every refusal). This shape reads the status, its text and the raw bits;
/// the token, when the status grants one, is decoded again with `x509-tsp`'s type.
#[derive(Sequence)]
pub(super) struct Status<'a> {
    status: StatusInfo<'a>,
    #[asn1(optional = "true")]
    token: Option<AnyRef<'a>>,
}

/// `PKIStatusInfo ::= SEQUENCE { status PKIStatus, statusString PKIFreeText OPTIONAL,
/// failInfo PKIFailureInfo OPTIONAL }`, `PKIFreeText ::= SEQUENCE OF UTF8String`.
#[derive(Sequence)]
struct StatusInfo<'a> {
    status: u8,
    #[asn1(optional = "true")]
    status_string: Option<Vec<Utf8StringRef<'a>>>,
    #[asn1(optional = "true")]
    fail_info: Option<BitStringRef<'a>>,
}

/// PKIStatus names, RFC 3161 section 2.4.2.
const STATUS_NAMES: [&str; 6] = [
    "granted",
    "grantedWithMods",
    "rejection",
    "waiting",
    "revocationWarning",
    "revocationNotification",
];

/// PKIFailureInfo bit names, RFC 3161 section 2.4.2.
const FAILURE_NAMES: [(usize, &str); 8] = [
    (0, "badAlg"),
    (2, "badRequest"),
    (5, "badDataFormat"),
    (14, "timeNotAvailable"),
    (15, "unacceptedPolicy"),
    (16, "unacceptedExtension"),
    (17, "addInfoNotAvailable"),
    (25, "systemFailure"),
];

/// The token of a response whose status grants one, as DER.
pub(super) fn granted_token(tsr: &[u8]) -> Result<Vec<u8>, TimestampError> {
    let garbled = |e: der::Error| TimestampError::Garbled {
        what: "time-stamp response",
        detail: e.to_string(),
    };
    let status = Status::from_der(tsr).map_err(garbled)?;
    let info = &status.status;
    if info.status > 1 {
        return Err(refusal(info));
    }
    let resp = TimeStampResp::from_der(tsr).map_err(garbled)?;
    let token = resp.time_stamp_token.ok_or(TimestampError::NoToken)?;
    token.to_der().map_err(garbled)
}

fn refusal(info: &StatusInfo<'_>) -> TimestampError {
    let status = STATUS_NAMES.get(usize::from(info.status)).map_or_else(
        || format!("unknown status {}", info.status),
        |s| s.to_string(),
    );
    let mut parts = Vec::new();
    if let Some(bits) = &info.fail_info {
        let failures: Vec<String> = bits
            .bits()
            .enumerate()
            .filter(|(_, set)| *set)
            .map(|(i, _)| {
                FAILURE_NAMES
                    .iter()
                    .find(|(bit, _)| *bit == i)
                    .map_or_else(|| format!("failure bit {i}"), |(_, n)| n.to_string())
            })
            .collect();
        if !failures.is_empty() {
            parts.push(failures.join(", "));
        }
    }
    let text: Vec<&str> = info
        .status_string
        .iter()
        .flatten()
        .map(|s| s.as_str())
        .collect();
    if !text.is_empty() {
        // The TSA's words, quoted and escaped, and cut short if long.
        let text: String = text.join(" ").chars().take(200).collect();
        parts.push(format!("{text:?}"));
    }
    let detail = if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(": "))
    };
    TimestampError::Refused { status, detail }
}

/// A token whose structure and signature have been checked.
pub(super) struct Checked {
    pub(super) tst: TstInfo,
    signer: Certificate,
    signer_der: Vec<u8>,
    /// The other certificates, the token's and the given chain's: candidate intermediates.
    others: Vec<Vec<u8>>,
}

/// Decodes a `TimeStampToken` and checks it as RFC 3161 section 2.4.2 and RFC 5652 section
/// 5.4 to 5.6 require: SignedData over a TSTInfo, one signer, found among the token's
/// certificates and `chain`, signed attributes whose content type is TSTInfo and whose
/// message digest is the TSTInfo's, a signature over them that verifies with the signer's
/// key, and a signer certificate whose one extended key usage is a critical `timeStamping`.
pub(super) fn check_token(token: &[u8], chain: &[Vec<u8>]) -> Result<Checked, TimestampError> {
    let garbled = |e: der::Error| TimestampError::Garbled {
        what: "time-stamp token",
        detail: e.to_string(),
    };
    let malformed = |s: &str| TimestampError::Malformed(s.to_string());
    let info = ContentInfo::from_der(token).map_err(garbled)?;
    if info.content_type != rfc5911::ID_SIGNED_DATA {
        return Err(malformed("it is not CMS SignedData"));
    }
    let signed: SignedData = info.content.decode_as().map_err(garbled)?;
    let encap = &signed.encap_content_info;
    if encap.econtent_type != ID_CT_TST_INFO {
        return Err(malformed("its content is not a TSTInfo"));
    }
    let econtent = encap
        .econtent
        .as_ref()
        .ok_or_else(|| malformed("it has no TSTInfo"))?;
    if econtent.tag() != Tag::OctetString {
        return Err(malformed("its TSTInfo is not in an OCTET STRING"));
    }
    let tst_der = econtent.value();
    let tst = TstInfo::from_der(tst_der).map_err(garbled)?;

    let signer_info = match signed.signer_infos.0.as_slice() {
        [one] => one,
        [] => return Err(malformed("it has no signer")),
        _ => return Err(malformed("it has more than one signer")),
    };

    let mut certs = Vec::new();
    for choice in signed.certificates.iter().flat_map(|set| set.0.iter()) {
        if let CertificateChoices::Certificate(cert) = choice {
            certs.push((cert.to_der().map_err(garbled)?, cert.clone()));
        }
    }
    for der in chain {
        let cert = Certificate::from_der(der).map_err(|e| TimestampError::Garbled {
            what: "certificate of the TSA chain",
            detail: e.to_string(),
        })?;
        certs.push((der.clone(), cert));
    }
    let index = certs
        .iter()
        .position(|(_, cert)| names_signer(&signer_info.sid, cert))
        .ok_or(TimestampError::NoSignerCertificate)?;
    let (signer_der, signer) = certs.swap_remove(index);
    let mut others: Vec<Vec<u8>> = Vec::new();
    for (der, _) in certs {
        if der != signer_der && !others.contains(&der) {
            others.push(der);
        }
    }

    check_signed_attributes(signer_info, tst_der)?;
    check_signature(signer_info, &signer_der)?;
    check_time_stamping_usage(&signer)?;
    Ok(Checked {
        tst,
        signer,
        signer_der,
        others,
    })
}

/// Whether `cert` is the one a SignerInfo's `sid` names.
fn names_signer(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    let tbs = &cert.tbs_certificate;
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            id.issuer == tbs.issuer && id.serial_number == tbs.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => tbs
            .extensions
            .iter()
            .flatten()
            .filter(|ext| ext.extn_id == rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER)
            .any(|ext| {
                SubjectKeyIdentifier::from_der(ext.extn_value.as_bytes()).is_ok_and(|k| k == *ski)
            }),
    }
}

/// RFC 5652 section 5.3 and 11: the content-type attribute is TSTInfo and the message-digest
/// attribute is the digest of the TSTInfo's DER.
fn check_signed_attributes(signer: &SignerInfo, tst_der: &[u8]) -> Result<(), TimestampError> {
    let malformed = |s: &str| TimestampError::Malformed(s.to_string());
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| malformed("its signer has no signed attributes"))?;
    let single = |oid: ObjectIdentifier, name: &str| {
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        match (found.next(), found.next()) {
            (Some(attr), None) if attr.values.len() == 1 => Ok(attr.values.get(0)),
            _ => Err(malformed(&format!(
                "its signed attributes do not have exactly one {name}"
            ))),
        }
    };
    let content_type = single(rfc5911::ID_CONTENT_TYPE, "content type")?
        .and_then(|v| v.decode_as::<ObjectIdentifier>().ok());
    if content_type != Some(ID_CT_TST_INFO) {
        return Err(malformed("its signed content type is not TSTInfo"));
    }
    let digest = single(rfc5911::ID_MESSAGE_DIGEST, "message digest")?
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or_else(|| malformed("its message digest is not an OCTET STRING"))?;
    let alg = &signer.digest_alg.oid;
    let computed = if *alg == rfc5912::ID_SHA_256 {
        sha2::Sha256::digest(tst_der).to_vec()
    } else if *alg == rfc5912::ID_SHA_384 {
        sha2::Sha384::digest(tst_der).to_vec()
    } else if *alg == rfc5912::ID_SHA_512 {
        sha2::Sha512::digest(tst_der).to_vec()
    } else {
        return Err(TimestampError::Unsupported(format!(
            "digest algorithm {alg}"
        )));
    };
    if digest.as_bytes() != computed.as_slice() {
        return Err(TimestampError::BadSignature(
            "the signed message digest is not the digest of the token's TSTInfo".to_string(),
        ));
    }
    Ok(())
}

/// webpki's algorithms that may have made this SignerInfo's signature: the one for the key's
/// type is tried (webpki matches it against the certificate's key). RSA PKCS #1 v1.5, ECDSA
/// on P-256 and P-384, and Ed25519, with SHA-256, SHA-384 or SHA-512 as webpki offers them.
pub(super) fn signature_algorithms(
    signer: &SignerInfo,
) -> Result<Vec<&'static dyn SignatureVerificationAlgorithm>, TimestampError> {
    let sig = &signer.signature_algorithm.oid;
    let digest = &signer.digest_alg.oid;
    let unsupported = || {
        TimestampError::Unsupported(format!(
            "signature algorithm {sig} with digest algorithm {digest}"
        ))
    };
    // The hash a signature algorithm names, or the SignerInfo's when it names none.
    let hash = if *sig == rfc5912::SHA_256_WITH_RSA_ENCRYPTION
        || *sig == rfc5912::ECDSA_WITH_SHA_256
    {
        rfc5912::ID_SHA_256
    } else if *sig == rfc5912::SHA_384_WITH_RSA_ENCRYPTION || *sig == rfc5912::ECDSA_WITH_SHA_384 {
        rfc5912::ID_SHA_384
    } else if *sig == rfc5912::SHA_512_WITH_RSA_ENCRYPTION || *sig == rfc5912::ECDSA_WITH_SHA_512 {
        rfc5912::ID_SHA_512
    } else {
        *digest
    };
    let rsa = [
        rfc5912::RSA_ENCRYPTION,
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
        rfc5912::SHA_384_WITH_RSA_ENCRYPTION,
        rfc5912::SHA_512_WITH_RSA_ENCRYPTION,
    ];
    let ecdsa = [
        rfc5912::ID_EC_PUBLIC_KEY,
        rfc5912::ECDSA_WITH_SHA_256,
        rfc5912::ECDSA_WITH_SHA_384,
        rfc5912::ECDSA_WITH_SHA_512,
    ];
    let found: Vec<&'static dyn SignatureVerificationAlgorithm> = if rsa.contains(sig) {
        if hash == rfc5912::ID_SHA_256 {
            vec![algs::RSA_PKCS1_2048_8192_SHA256]
        } else if hash == rfc5912::ID_SHA_384 {
            vec![algs::RSA_PKCS1_2048_8192_SHA384]
        } else if hash == rfc5912::ID_SHA_512 {
            vec![algs::RSA_PKCS1_2048_8192_SHA512]
        } else {
            vec![]
        }
    } else if ecdsa.contains(sig) {
        if hash == rfc5912::ID_SHA_256 {
            vec![algs::ECDSA_P256_SHA256, algs::ECDSA_P384_SHA256]
        } else if hash == rfc5912::ID_SHA_384 {
            vec![algs::ECDSA_P256_SHA384, algs::ECDSA_P384_SHA384]
        } else {
            vec![]
        }
    } else if *sig == rfc8410::ID_ED_25519 {
        vec![algs::ED25519]
    } else {
        vec![]
    };
    if found.is_empty() {
        return Err(unsupported());
    }
    Ok(found)
}

/// RFC 5652 section 5.4: the signature is over the DER of the signed attributes (as a SET OF).
fn check_signature(signer: &SignerInfo, signer_der: &[u8]) -> Result<(), TimestampError> {
    let message = signer
        .signed_attrs
        .as_ref()
        .map(|attrs| attrs.to_der())
        .transpose()
        .map_err(|e| TimestampError::Malformed(format!("its signed attributes: {e}")))?
        .unwrap_or_default();
    let cert_der = CertificateDer::from(signer_der);
    let cert = webpki::EndEntityCert::try_from(&cert_der).map_err(|e| TimestampError::Garbled {
        what: "TSA certificate",
        detail: format!("{e:?}"),
    })?;
    let mut last = None;
    for alg in signature_algorithms(signer)? {
        match cert.verify_signature(alg, &message, signer.signature.as_bytes()) {
            Ok(()) => return Ok(()),
            Err(webpki::Error::InvalidSignatureForPublicKey) => {
                return Err(TimestampError::BadSignature(
                    "it was not made by the key of the certificate it names".to_string(),
                ));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(TimestampError::Unsupported(format!(
        "signature algorithm {} for the TSA certificate's key ({:?})",
        signer.signature_algorithm.oid,
        last.map(|e| format!("{e:?}")).unwrap_or_default()
    )))
}

/// RFC 3161 section 2.3: the certificate has exactly one extended key usage, timeStamping, in
/// an extension marked critical.
fn check_time_stamping_usage(cert: &Certificate) -> Result<(), TimestampError> {
    let refuse = |reason: &str| TimestampError::NotForTimeStamping {
        subject: cert.tbs_certificate.subject.to_string(),
        reason: reason.to_string(),
    };
    let mut ekus = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|ext| ext.extn_id == rfc5280::ID_CE_EXT_KEY_USAGE);
    let ext = match (ekus.next(), ekus.next()) {
        (Some(ext), None) => ext,
        (None, _) => return Err(refuse("it has no extended key usage")),
        _ => return Err(refuse("it has more than one extended key usage extension")),
    };
    if !ext.critical {
        return Err(refuse("its extended key usage is not marked critical"));
    }
    let usage = ExtendedKeyUsage::from_der(ext.extn_value.as_bytes())
        .map_err(|_| refuse("its extended key usage cannot be read"))?;
    if usage.0 != [TIME_STAMPING] {
        return Err(refuse("its extended key usage is not timeStamping alone"));
    }
    Ok(())
}

impl Checked {
    /// The token's time as seconds since the Unix epoch.
    fn unix_time(&self) -> u64 {
        self.tst.gen_time.to_unix_duration().as_secs()
    }

    /// Validates the path from the signer's certificate to one of `trust` (DER CA
    /// certificates), through the token's and the chain's certificates, at the token's time,
    /// for time-stamping. Returns the subject of the CA it reached.
    pub(super) fn check_path(&self, trust: &[Vec<u8>]) -> Result<String, TimestampError> {
        let subject = self.signer.tbs_certificate.subject.to_string();
        let mut anchors = Vec::new();
        let mut anchor_subjects = Vec::new();
        for der in trust {
            let garbled = |detail: String| TimestampError::Garbled {
                what: "trusted CA certificate",
                detail,
            };
            let cert = Certificate::from_der(der).map_err(|e| garbled(e.to_string()))?;
            let anchor = webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
                .map_err(|e| garbled(format!("{e:?}")))?
                .to_owned();
            anchor_subjects.push((
                anchor.subject.to_vec(),
                cert.tbs_certificate.subject.to_string(),
            ));
            anchors.push(anchor);
        }
        let intermediates: Vec<CertificateDer<'_>> = self
            .others
            .iter()
            .map(|d| CertificateDer::from(d.as_slice()))
            .collect();
        let signer_der = CertificateDer::from(self.signer_der.as_slice());
        let cert =
            webpki::EndEntityCert::try_from(&signer_der).map_err(|e| TimestampError::Garbled {
                what: "TSA certificate",
                detail: format!("{e:?}"),
            })?;
        let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(self.unix_time()));
        // The TSA certificate's own usage is checked exactly by `check_time_stamping_usage`;
        // webpki applies this to every certificate of the path, and CA certificates commonly
        // carry no extended key usage at all, so it requires timeStamping only where one is.
        let usage = webpki::KeyUsage::required_if_present(TIME_STAMPING.as_bytes());
        let path = cert
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &intermediates,
                time,
                usage,
                None,
                None,
            )
            .map_err(|e| untrusted(subject.clone(), &self.time_text(), e))?;
        let reached = path.anchor().subject.as_ref();
        Ok(anchor_subjects
            .into_iter()
            .find(|(der, _)| der.as_slice() == reached)
            .map(|(_, name)| name)
            .unwrap_or_default())
    }

    fn time_text(&self) -> String {
        chrono::DateTime::from_timestamp(self.unix_time() as i64, 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| self.unix_time().to_string())
    }

    /// What the token says, with `chain` as the path's status.
    pub(super) fn info(&self, chain: Chain) -> Result<TokenInfo, TimestampError> {
        let digest = super::sha256_imprint(&self.tst.message_imprint)
            .map_err(TimestampError::WrongImprintAlgorithm)?;
        let tsa_name = self.tst.tsa.as_ref().map(|name| match name {
            x509_cert::ext::pkix::name::GeneralName::DirectoryName(dn) => dn.to_string(),
            other => format!("{other:?}"),
        });
        Ok(TokenInfo {
            time: self.time_text(),
            unix_time: self.unix_time(),
            tsa: self.signer.tbs_certificate.subject.to_string(),
            tsa_name,
            serial: hex::encode(self.tst.serial_number.as_bytes()),
            digest,
            policy: self.tst.policy.to_string(),
            signer_certificate: self.signer_der.clone(),
            chain,
        })
    }
}

/// webpki's verdict on a path, as one sentence.
fn untrusted(subject: String, time: &str, e: webpki::Error) -> TimestampError {
    use webpki::Error as E;
    let reason = match e {
        E::UnknownIssuer => "it does not chain to any of the trusted CA certificates".to_string(),
        E::CertExpired { .. } | E::CertNotValidYet { .. } | E::InvalidCertValidity => {
            format!("it or a certificate of its chain was not valid at the token's time {time}")
        }
        E::RequiredEkuNotFoundContext(_) => {
            return TimestampError::NotForTimeStamping {
                subject,
                reason: "its chain does not allow time-stamping".to_string(),
            };
        }
        E::CaUsedAsEndEntity => "it is a CA certificate, not a TSA's".to_string(),
        E::InvalidSignatureForPublicKey => {
            "a certificate of its chain has a signature that does not verify".to_string()
        }
        other => format!("its certificate path is not valid ({other:?})"),
    };
    TimestampError::Untrusted { subject, reason }
}
