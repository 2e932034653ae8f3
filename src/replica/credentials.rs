//! Where a replica's S3 credentials come from: the environment, or a profile of the AWS
//! shared credentials file, the two ways every S3 tool is given them.
//!
//! Order, as the AWS CLI resolves them: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`
//! (with `AWS_SESSION_TOKEN`) when both are set; else the profile `AWS_PROFILE` (default
//! `default`) of `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`). Nothing else
//! is asked, least of all a cloud metadata service: custodia reaches only the endpoint it
//! was given. Credentials are never stored in the archive, and never printed.

use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption};

/// An access key, its secret and an optional session token.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

/// Why no credentials were found, in words an operator can act on.
#[derive(Debug)]
pub enum Missing {
    /// Neither the environment nor a credentials file names any.
    Nowhere,
    /// The file exists but does not parse, or cannot be read.
    Unreadable { file: PathBuf, why: String },
    /// The profile asked for is not in the file, or lacks a key.
    NoProfile { file: PathBuf, profile: String },
}

/// The credentials this process would use, from `env` (a lookup, so tests need not touch
/// the real environment).
pub fn resolve(env: &dyn Fn(&str) -> Option<String>) -> Result<Credentials, Missing> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    if let (Some(id), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        return Ok(Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: var("AWS_SESSION_TOKEN"),
        });
    }
    let file = match var("AWS_SHARED_CREDENTIALS_FILE") {
        Some(f) => PathBuf::from(f),
        None => match var("HOME") {
            Some(home) => Path::new(&home).join(".aws").join("credentials"),
            None => return Err(Missing::Nowhere),
        },
    };
    let explicit = var("AWS_PROFILE");
    if !file.exists() {
        return match (var("AWS_SHARED_CREDENTIALS_FILE"), explicit) {
            (Some(_), _) => Err(Missing::Unreadable {
                file,
                why: "it does not exist".into(),
            }),
            (None, Some(profile)) => Err(Missing::NoProfile { file, profile }),
            (None, None) => Err(Missing::Nowhere),
        };
    }
    let profile = explicit.unwrap_or_else(|| "default".into());
    from_file(&file, &profile)
}

/// The named profile of a shared credentials file.
fn from_file(file: &Path, profile: &str) -> Result<Credentials, Missing> {
    // Values as the AWS CLI reads them: no quotes stripped, no backslash escapes.
    let plain = ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        ..ParseOption::default()
    };
    let ini = Ini::load_from_file_opt(file, plain).map_err(|e| Missing::Unreadable {
        file: file.to_path_buf(),
        // The parser's message names a line and column, never the file's contents.
        why: e.to_string().lines().next().unwrap_or("").to_owned(),
    })?;
    let no_profile = || Missing::NoProfile {
        file: file.to_path_buf(),
        profile: profile.to_owned(),
    };
    let section = ini.section(Some(profile)).ok_or_else(no_profile)?;
    // Keys are matched without regard to case, as the AWS CLI does.
    let get = |key: &str| {
        section
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Ok(Credentials {
        access_key_id: get("aws_access_key_id").ok_or_else(no_profile)?,
        secret_access_key: get("aws_secret_access_key").ok_or_else(no_profile)?,
        session_token: get("aws_session_token"),
    })
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Nowhere => write!(
                f,
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE naming a profile of ~/.aws/credentials"
            ),
            Missing::Unreadable { file, why } => {
                write!(
                    f,
                    "the credentials file {} does not read: {why}",
                    file.display()
                )
            }
            Missing::NoProfile { file, profile } => write!(
                f,
                "the credentials file {} has no profile [{profile}] with aws_access_key_id and aws_secret_access_key",
                file.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const FILE: &str = "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = s-default\n\n[partner]\nAWS_ACCESS_KEY_ID=AKPARTNER\naws_secret_access_key=\"s-part\\ner\"\naws_session_token=tok\n\n[broken]\naws_access_key_id = AKONLY\n";

    fn with_file() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        std::fs::write(&path, FILE).unwrap();
        let p = path.to_str().unwrap().to_owned();
        (dir, p)
    }

    #[test]
    fn the_environment_wins_over_any_file() {
        let (_d, file) = with_file();
        let c = resolve(&lookup(&[
            ("AWS_ACCESS_KEY_ID", "AKENV"),
            ("AWS_SECRET_ACCESS_KEY", "s-env"),
            ("AWS_SHARED_CREDENTIALS_FILE", &file),
            ("AWS_PROFILE", "partner"),
        ]))
        .unwrap();
        assert_eq!(c.access_key_id, "AKENV");
        assert_eq!(c.session_token, None);
    }

    #[test]
    fn a_profile_is_read_from_the_shared_file() {
        let (_d, file) = with_file();
        let c = resolve(&lookup(&[
            ("AWS_SHARED_CREDENTIALS_FILE", &file),
            ("AWS_PROFILE", "partner"),
        ]))
        .unwrap();
        assert_eq!(c.access_key_id, "AKPARTNER", "keys in any case");
        assert_eq!(
            c.secret_access_key, "\"s-part\\ner\"",
            "no quote or escape processing"
        );
        assert_eq!(c.session_token.as_deref(), Some("tok"));
        let d = resolve(&lookup(&[("AWS_SHARED_CREDENTIALS_FILE", &file)])).unwrap();
        assert_eq!(d.access_key_id, "AKDEFAULT", "no AWS_PROFILE: [default]");
    }

    #[test]
    fn what_is_missing_is_named_without_secrets() {
        let (_d, file) = with_file();
        for profile in ["nobody", "broken"] {
            let e = resolve(&lookup(&[
                ("AWS_SHARED_CREDENTIALS_FILE", &file),
                ("AWS_PROFILE", profile),
            ]))
            .err()
            .expect("no credentials");
            let text = e.to_string();
            assert!(text.contains(&format!("[{profile}]")), "{text}");
            assert!(
                !text.contains("AKONLY") && !text.contains("s-default"),
                "{text}"
            );
        }
        let gone = resolve(&lookup(&[(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/c",
        )]));
        assert!(
            gone.err().unwrap().to_string().contains("/nonexistent/c"),
            "a named file that is not there is named"
        );
        let home = tempfile::tempdir().unwrap();
        let none = resolve(&lookup(&[
            ("HOME", home.path().to_str().unwrap()),
            ("AWS_ACCESS_KEY_ID", "only-half"),
        ]));
        assert!(
            matches!(none, Err(Missing::Nowhere)),
            "half a key pair is none"
        );
    }
}
