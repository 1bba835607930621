//! Registry credentials: what to present to which registry, and where it comes from (flags,
//! environment, a Docker `config.json`, a `kubernetes.io/dockerconfigjson` Secret).
//!
//! Credential helpers (`credsStore`, `credHelpers`) are not run: a controller in a pod has
//! none, and running arbitrary executables named in a file is not something a backup tool
//! should do implicitly. Entries they would serve are simply absent.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::reference::DOCKER_HUB;

/// What to present to one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// User name and password (or a personal access token used as password). Sent as HTTP
    /// basic auth, or to the token service of a bearer-token registry.
    Basic { username: String, password: String },
    /// An OAuth2 refresh token (`identitytoken` in Docker's config), exchanged at the token
    /// service for access tokens.
    IdentityToken(String),
    /// A ready-made bearer token (`registrytoken`), sent as is.
    RegistryToken(String),
}

impl Credentials {
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// Parses `USER:PASSWORD` (the password may itself contain `:`), as `skopeo --creds`.
    pub fn parse_user_password(input: &str) -> Result<Self, CredentialsError> {
        match input.split_once(':') {
            Some((user, password)) if !user.is_empty() => Ok(Credentials::basic(user, password)),
            _ => Err(CredentialsError::Malformed {
                source_name: "credentials".to_owned(),
                reason: "expected USER:PASSWORD with a non-empty user".to_owned(),
            }),
        }
    }

    /// The value of an `Authorization: Basic` header, for basic credentials.
    pub(crate) fn basic_header(&self) -> Option<String> {
        match self {
            Credentials::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            _ => None,
        }
    }
}

// Never print secrets, even in debug logs.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
            Credentials::RegistryToken(_) => f.write_str("RegistryToken(<redacted>)"),
        }
    }
}

/// Why credentials could not be loaded. `source_name` names the file or input.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{source_name}: {reason}")]
    Malformed { source_name: String, reason: String },
}

/// Credentials by registry host. Lookups normalise Docker Hub's several names and the URL
/// forms Docker's config uses as keys (`https://index.docker.io/v1/`).
#[derive(Clone, Debug, Default)]
pub struct CredentialStore {
    by_registry: HashMap<String, Credentials>,
}

impl CredentialStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the credentials for `registry`, replacing any. Returns the previous ones.
    pub fn insert(&mut self, registry: &str, credentials: Credentials) -> Option<Credentials> {
        self.by_registry
            .insert(normalize_registry_key(registry), credentials)
    }

    /// Adds every entry of `other`, which wins on conflicts.
    pub fn merge(&mut self, other: CredentialStore) {
        self.by_registry.extend(other.by_registry);
    }

    pub fn get(&self, registry: &str) -> Option<&Credentials> {
        self.by_registry.get(&normalize_registry_key(registry))
    }

    pub fn len(&self) -> usize {
        self.by_registry.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_registry.is_empty()
    }

    /// Parses a Docker `config.json` (`{"auths": {"host": {"auth": base64(user:pass)}}}`;
    /// `username`/`password`, `identitytoken` and `registrytoken` are understood too).
    /// `source_name` names the input in errors.
    pub fn from_docker_config_json(
        json: &[u8],
        source_name: &str,
    ) -> Result<Self, CredentialsError> {
        let malformed = |reason: String| CredentialsError::Malformed {
            source_name: source_name.to_owned(),
            reason,
        };
        let value: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| malformed(format!("not a Docker config file: {e}")))?;
        if !value.is_object() {
            return Err(malformed(
                "not a Docker config file: not a JSON object".into(),
            ));
        }
        let config: DockerConfig = serde_json::from_value(value)
            .map_err(|e| malformed(format!("not a Docker config file: {e}")))?;
        let mut store = CredentialStore::new();
        for (key, entry) in config.auths {
            let credentials = entry
                .into_credentials()
                .map_err(|reason| malformed(format!("entry {key:?}: {reason}")))?;
            if let Some(credentials) = credentials {
                store.insert(&key, credentials);
            }
        }
        Ok(store)
    }

    /// Reads a Docker `config.json` from `path`.
    pub fn from_docker_config_file(path: &Path) -> Result<Self, CredentialsError> {
        let bytes = std::fs::read(path).map_err(|source| CredentialsError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_docker_config_json(&bytes, &path.display().to_string())
    }

    /// Reads Docker's own config (`$DOCKER_CONFIG/config.json`, else
    /// `$HOME/.docker/config.json`); an absent file is an empty store.
    pub fn from_default_docker_config() -> Result<Self, CredentialsError> {
        let path = match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) => PathBuf::from(dir).join("config.json"),
            None => match std::env::var_os("HOME") {
                Some(home) => PathBuf::from(home).join(".docker/config.json"),
                None => return Ok(Self::new()),
            },
        };
        if !path.exists() {
            return Ok(Self::new());
        }
        Self::from_docker_config_file(&path)
    }

    /// Parses the `.dockerconfigjson` value of a `kubernetes.io/dockerconfigjson` Secret (the
    /// decoded bytes, which have the `config.json` format). The legacy
    /// `kubernetes.io/dockercfg` format (the `auths` map alone) is accepted too.
    pub fn from_dockerconfigjson_secret(data: &[u8]) -> Result<Self, CredentialsError> {
        let value: serde_json::Value =
            serde_json::from_slice(data).map_err(|e| CredentialsError::Malformed {
                source_name: "dockerconfigjson secret".to_owned(),
                reason: format!("not JSON: {e}"),
            })?;
        let wrapped = if value.get("auths").is_some() {
            value
        } else {
            serde_json::json!({ "auths": value })
        };
        // Serialising a Value we just parsed cannot fail.
        let bytes = serde_json::to_vec(&wrapped).unwrap_or_default();
        Self::from_docker_config_json(&bytes, "dockerconfigjson secret")
    }
}

#[derive(serde::Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, DockerAuthEntry>,
}

#[derive(serde::Deserialize)]
struct DockerAuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
    registrytoken: Option<String>,
}

impl DockerAuthEntry {
    fn into_credentials(self) -> Result<Option<Credentials>, String> {
        let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
        if let Some(token) = nonempty(self.registrytoken) {
            return Ok(Some(Credentials::RegistryToken(token)));
        }
        if let Some(token) = nonempty(self.identitytoken) {
            return Ok(Some(Credentials::IdentityToken(token)));
        }
        if let Some(auth) = nonempty(self.auth) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|e| format!("\"auth\" is not base64: {e}"))?;
            let decoded =
                String::from_utf8(decoded).map_err(|_| "\"auth\" is not UTF-8".to_owned())?;
            return Credentials::parse_user_password(&decoded)
                .map(Some)
                .map_err(|_| "\"auth\" does not decode to USER:PASSWORD".to_owned());
        }
        match (nonempty(self.username), self.password) {
            (Some(username), Some(password)) => Ok(Some(Credentials::basic(username, password))),
            (Some(_), None) => Err("username without password".to_owned()),
            _ => Ok(None),
        }
    }
}

/// `https://index.docker.io/v1/` -> `docker.io`, `Quay.io/` -> `quay.io`.
fn normalize_registry_key(key: &str) -> String {
    let key = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = key.split('/').next().unwrap_or(key).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_owned()
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn docker_config_entries() {
        let json = format!(
            r#"{{"auths": {{
                "https://index.docker.io/v1/": {{"auth": "{}"}},
                "quay.io": {{"username": "q", "password": "p"}},
                "ghcr.io": {{"identitytoken": "refresh"}},
                "reg.example:5000": {{"registrytoken": "tok"}},
                "empty.example": {{}}
            }}, "credsStore": "desktop"}}"#,
            b64("hub:pa:ss")
        );
        let store = CredentialStore::from_docker_config_json(json.as_bytes(), "test").unwrap();
        assert_eq!(store.len(), 4);
        assert_eq!(
            store.get("docker.io"),
            Some(&Credentials::basic("hub", "pa:ss"))
        );
        assert_eq!(store.get("index.docker.io"), store.get("docker.io"));
        assert_eq!(store.get("Quay.io"), Some(&Credentials::basic("q", "p")));
        assert_eq!(
            store.get("ghcr.io"),
            Some(&Credentials::IdentityToken("refresh".into()))
        );
        assert_eq!(
            store.get("reg.example:5000"),
            Some(&Credentials::RegistryToken("tok".into()))
        );
        assert_eq!(store.get("empty.example"), None);
    }

    #[test]
    fn malformed_config_names_the_source_and_entry() {
        let err = CredentialStore::from_docker_config_json(
            br#"{"auths": {"quay.io": {"auth": "%%%"}}}"#,
            "/x/config.json",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("/x/config.json") && err.contains("quay.io"),
            "{err}"
        );
        let err = CredentialStore::from_docker_config_json(b"[]", "f").unwrap_err();
        assert!(err.to_string().contains("not a Docker config"), "{err}");
        let no_colon = format!(
            r#"{{"auths": {{"a.io": {{"auth": "{}"}}}}}}"#,
            b64("nocolon")
        );
        assert!(CredentialStore::from_docker_config_json(no_colon.as_bytes(), "f").is_err());
    }

    #[test]
    fn dockerconfigjson_secret_and_legacy_dockercfg() {
        let data = format!(r#"{{"auths":{{"r.example":{{"auth":"{}"}}}}}}"#, b64("u:p"));
        let store = CredentialStore::from_dockerconfigjson_secret(data.as_bytes()).unwrap();
        assert_eq!(store.get("r.example"), Some(&Credentials::basic("u", "p")));
        let legacy = format!(r#"{{"r.example":{{"auth":"{}"}}}}"#, b64("u:p"));
        let store = CredentialStore::from_dockerconfigjson_secret(legacy.as_bytes()).unwrap();
        assert_eq!(store.get("r.example"), Some(&Credentials::basic("u", "p")));
        assert!(CredentialStore::from_dockerconfigjson_secret(b"not json").is_err());
    }

    #[test]
    fn user_password_flags_and_redaction() {
        let c = Credentials::parse_user_password("me:se:cret").unwrap();
        assert_eq!(c, Credentials::basic("me", "se:cret"));
        assert!(!format!("{c:?}").contains("cret"));
        assert!(Credentials::parse_user_password("nocolon").is_err());
        assert!(Credentials::parse_user_password(":pw").is_err());
        assert_eq!(
            Credentials::basic("a", "b").basic_header().as_deref(),
            Some("Basic YTpi")
        );
    }
}
