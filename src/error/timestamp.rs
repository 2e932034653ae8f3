//! Why a time-stamp could not be made, accepted or verified: one sentence each.

/// A failure of the RFC 3161 module; it becomes [`crate::Error::Timestamp`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// The TSA answered, but not with a token: `status` is the PKIStatus name, `detail` its
    /// text and failure bits as the TSA sent them.
    #[error("the time-stamping authority refused the request: {status}{detail}")]
    Refused { status: String, detail: String },
    #[error("the time-stamping authority granted the request but sent no token")]
    NoToken,
    #[error("the time-stamp token covers digest {found}, not the expected {expected}")]
    WrongImprint { expected: String, found: String },
    #[error(
        "the time-stamp token's imprint uses hash algorithm {0}, not SHA-256, so it cannot cover a custodia checkpoint"
    )]
    WrongImprintAlgorithm(String),
    #[error(
        "the time-stamp response answers another request: its nonce is {found}, the request's {expected}"
    )]
    WrongNonce { expected: String, found: String },
    #[error("the time-stamp token's signature does not verify: {0}")]
    BadSignature(String),
    #[error("the {what} is truncated or not valid DER: {detail}")]
    Garbled { what: &'static str, detail: String },
    #[error("the time-stamp token is not a well-formed RFC 3161 token: {0}")]
    Malformed(String),
    #[error("the time-stamp request cannot be used: {0}")]
    BadRequest(String),
    #[error("the time-stamp token uses {0}, which custodia does not support")]
    Unsupported(String),
    #[error(
        "the time-stamp token does not carry its signer's certificate and the given chain has no match for it; pass the TSA's certificate chain"
    )]
    NoSignerCertificate,
    #[error("the TSA certificate {subject} is not for time-stamping: {reason}")]
    NotForTimeStamping { subject: String, reason: String },
    #[error("the TSA certificate {subject} is not trusted: {reason}")]
    Untrusted { subject: String, reason: String },
    #[error("the certificate bundle cannot be read: {0}")]
    BadPem(String),
    #[error("the time-stamping authority at {url} could not be used: {detail}")]
    Http { url: String, detail: String },
    #[error("no random nonce could be drawn from the operating system: {0}")]
    Random(String),
}

impl TimestampError {
    /// A stable, machine-readable name, as [`crate::Error::kind`].
    pub fn kind(&self) -> &'static str {
        use TimestampError::*;
        match self {
            Refused { .. } | NoToken => "tsa_refused",
            WrongImprint { .. } | WrongImprintAlgorithm(_) => "wrong_imprint",
            WrongNonce { .. } => "wrong_nonce",
            BadSignature(_) => "bad_signature",
            Garbled { .. } | Malformed(_) => "bad_timestamp",
            BadRequest(_) => "bad_request",
            Unsupported(_) => "unsupported_algorithm",
            NoSignerCertificate => "no_signer_certificate",
            NotForTimeStamping { .. } | Untrusted { .. } => "untrusted_tsa",
            BadPem(_) => "bad_pem",
            Http { .. } => "tsa_unreachable",
            Random(_) => "random",
        }
    }
}

impl From<TimestampError> for crate::Error {
    fn from(e: TimestampError) -> Self {
        crate::Error::Timestamp(e)
    }
}
