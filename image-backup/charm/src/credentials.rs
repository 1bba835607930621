//! Registry credentials: read from a Juju secret, handed to the controller as a Docker
//! `config.json` file.
//!
//! They never appear in the Pebble layer (whose environment `pebble plan` shows to anyone with
//! access to the container) nor in logs: [`RegistryCredentials`]'s `Debug` hides the password.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;

/// The keys the secret must hold.
pub const USERNAME: &str = "username";
pub const PASSWORD: &str = "password";

/// A username and password for the backup registry.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryCredentials {
    username: String,
    password: String,
}

impl fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl RegistryCredentials {
    /// Reads the content of the secret: `username` and `password`, both non-empty.
    pub fn from_secret(content: &BTreeMap<String, String>) -> Result<Self, String> {
        let get = |key: &str| content.get(key).filter(|v| !v.is_empty());
        match (get(USERNAME), get(PASSWORD)) {
            (Some(username), Some(password)) => {
                if username.contains(':') {
                    return Err("its username contains ':', which basic auth cannot carry".into());
                }
                Ok(Self {
                    username: username.clone(),
                    password: password.clone(),
                })
            }
            _ => {
                let keys: Vec<&str> = content.keys().map(String::as_str).collect();
                Err(format!(
                    "it must hold non-empty `{USERNAME}` and `{PASSWORD}` (it has: {})",
                    if keys.is_empty() {
                        "nothing".to_string()
                    } else {
                        keys.join(", ")
                    }
                ))
            }
        }
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    /// A Docker `config.json` with these credentials for `registry_host` (`host[:port]`).
    pub fn docker_config_json(&self, registry_host: &str) -> Vec<u8> {
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.username, self.password));
        let config = serde_json::json!({ "auths": { registry_host: { "auth": auth } } });
        // A JSON value made of strings always serialises.
        serde_json::to_vec_pretty(&config).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn docker_config_holds_basic_auth_for_the_registry() {
        let creds = RegistryCredentials::from_secret(&content(&[
            ("username", "robot"),
            ("password", "s3cret"),
        ]))
        .unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&creds.docker_config_json("registry.example.com:5000")).unwrap();
        assert_eq!(
            json["auths"]["registry.example.com:5000"]["auth"],
            "cm9ib3Q6czNjcmV0"
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let creds = RegistryCredentials::from_secret(&content(&[
            ("username", "robot"),
            ("password", "s3cret"),
        ]))
        .unwrap();
        let shown = format!("{creds:?}");
        assert!(
            shown.contains("robot") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn incomplete_secrets_are_refused_naming_the_keys() {
        let err = RegistryCredentials::from_secret(&content(&[("user", "x")])).unwrap_err();
        assert!(
            err.contains("`username` and `password`") && err.contains("user"),
            "{err}"
        );
        let err = RegistryCredentials::from_secret(&content(&[])).unwrap_err();
        assert!(err.contains("nothing"), "{err}");
        let err =
            RegistryCredentials::from_secret(&content(&[("username", "a:b"), ("password", "x")]))
                .unwrap_err();
        assert!(err.contains("':'"), "{err}");
        assert!(
            RegistryCredentials::from_secret(&content(&[("username", "a"), ("password", "")]))
                .is_err()
        );
    }
}
