//! Juju secrets: what a charm creates, reads and shares.
//!
//! Content never reaches a command line: the hook-tool backend writes each value to a file in
//! a private temporary directory and passes `key#file=PATH`, as ops does.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Who owns a new secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretOwner {
    /// Shared by the application; only the leader may manage it.
    #[default]
    Application,
    /// Private to the unit that created it; survives leadership changes.
    Unit,
}

impl SecretOwner {
    /// The value `secret-add --owner` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretOwner::Application => "application",
            SecretOwner::Unit => "unit",
        }
    }
}

/// How often Juju emits `secret-rotate` for a secret the charm owns (`secret-add --rotate`),
/// so that the charm writes a new revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretRotate {
    /// No rotation.
    Never,
    /// Every hour.
    Hourly,
    /// Every day.
    Daily,
    /// Every week.
    Weekly,
    /// Every month.
    Monthly,
    /// Every three months.
    Quarterly,
    /// Every year.
    Yearly,
}

impl SecretRotate {
    /// The value `--rotate` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretRotate::Never => "never",
            SecretRotate::Hourly => "hourly",
            SecretRotate::Daily => "daily",
            SecretRotate::Weekly => "weekly",
            SecretRotate::Monthly => "monthly",
            SecretRotate::Quarterly => "quarterly",
            SecretRotate::Yearly => "yearly",
        }
    }

    /// Reads a policy as `secret-info-get` prints it; `None` for one this crate does not know.
    pub fn parse(s: &str) -> Option<SecretRotate> {
        Some(match s {
            "never" => SecretRotate::Never,
            "hourly" => SecretRotate::Hourly,
            "daily" => SecretRotate::Daily,
            "weekly" => SecretRotate::Weekly,
            "monthly" => SecretRotate::Monthly,
            "quarterly" => SecretRotate::Quarterly,
            "yearly" => SecretRotate::Yearly,
            _ => return None,
        })
    }
}

/// How `secret-get` picks the revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub enum SecretGet {
    /// The revision this unit is tracking.
    #[default]
    Tracked,
    /// The latest revision, and track it from now on (`--refresh`).
    Refresh,
    /// The latest revision, this time only (`--peek`).
    Peek,
}

/// Content and settings for `secret-add` / `secret-set`. For `secret-set`, only the fields
/// that are set are changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretSpec {
    /// The secret's key-value content (see [`SecretSpec::validate_content`] for Juju's rules).
    pub content: BTreeMap<String, String>,
    /// The owner's label, to find it again without storing its id (`--label`).
    pub label: Option<String>,
    /// Shown by `juju secrets` (`--description`).
    pub description: Option<String>,
    /// A duration (`24h`) or an RFC 3339 time.
    pub expire: Option<String>,
    /// Rotation policy (`--rotate`).
    pub rotate: Option<SecretRotate>,
    /// Used by `secret-add` only.
    pub owner: SecretOwner,
}

impl SecretSpec {
    /// A spec with this content and nothing else set (application-owned, no label).
    pub fn new(content: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>) -> Self {
        SecretSpec {
            content: content
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            ..Default::default()
        }
    }

    /// Sets the label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Sets the owner (application by default).
    pub fn owner(mut self, owner: SecretOwner) -> Self {
        self.owner = owner;
        self
    }

    /// Checks the content as Juju will: keys of at least three characters, lowercase letters,
    /// digits and single hyphens, starting with a letter; values not empty.
    pub fn validate_content(&self) -> Result<(), String> {
        validate_content(&self.content)
    }
}

pub(crate) fn validate_content(content: &BTreeMap<String, String>) -> Result<(), String> {
    for (key, value) in content {
        if !valid_key(key) {
            return Err(format!(
                "invalid secret key `{key}`: use at least 3 lowercase letters, digits or \
                 single hyphens, starting with a letter"
            ));
        }
        if value.is_empty() {
            return Err(format!("secret key `{key}` has an empty value"));
        }
    }
    Ok(())
}

fn valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.len() >= 3
        && bytes[0].is_ascii_lowercase()
        && !key.ends_with('-')
        && !key.contains("--")
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// `secret-info-get` output (owners only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SecretInfo {
    /// The secret's URI.
    pub id: String,
    /// Its latest revision.
    pub revision: u64,
    /// The owner's label.
    pub label: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// When it expires (RFC 3339), if it does.
    pub expiry: Option<String>,
    /// Its rotation policy.
    pub rotation: Option<SecretRotate>,
    /// When it is next due for rotation (RFC 3339).
    pub rotates: Option<String>,
}

impl fmt::Display for SecretInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (revision {})", self.id, self.revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_keys_follow_juju_rules() {
        for good in ["password", "tls-cert", "abc", "a1b"] {
            assert!(
                SecretSpec::new([(good, "v")]).validate_content().is_ok(),
                "{good}"
            );
        }
        for bad in ["ab", "Password", "1abc", "a--b", "abc-", "a_b_c", "a.bc"] {
            let err = SecretSpec::new([(bad, "v")])
                .validate_content()
                .unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
        let err = SecretSpec::new([("password", "")])
            .validate_content()
            .unwrap_err();
        assert!(err.contains("empty"), "{err}");
    }
}
