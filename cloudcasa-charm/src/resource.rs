//! The `cloudcasa-image` resource as `resource-get` hands it over.
//!
//! For an `oci-image` resource Juju does not download the image: `resource-get` prints the path
//! of a small file describing it, in the form Juju stores (`core/resources`,
//! `DockerImageDetails`): YAML with `registrypath`, `username` and `password`, or the same as
//! JSON from older controllers (`ImageName`, `Username`, `Password`). This is what ops charms
//! read with the `oci-image` library's `OCIImageResource.fetch()`. The credentials are those of
//! the registry Juju pulls the charm's own container from (Charmhub's, for a charm from the
//! store): they are read and reported, never logged.
//!
//! The one place this crate reads YAML at run time.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::image::{Image, ImageError};

/// The resource holding the agent's image (see `charmcraft.yaml`).
pub const IMAGE_RESOURCE: &str = "cloudcasa-image";

/// An `oci-image` resource: the image, and the credentials to pull it if the registry wants
/// them.
#[derive(Clone, PartialEq, Eq)]
pub struct OciImage {
    /// The image reference (`registrypath`).
    pub image: Image,
    /// `username` and `password`, when both are set.
    pub credentials: Option<Credentials>,
}

/// Registry credentials from the resource. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Registry user name.
    pub username: String,
    /// Registry password or token.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for OciImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OciImage")
            .field("image", &self.image)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// Why the resource gives no image.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// `resource-get` itself failed (nothing attached, or the tool is unavailable).
    #[error("resource-get {IMAGE_RESOURCE}: {0}")]
    ResourceGet(#[source] charm_core::ModelError),
    /// The file `resource-get` named cannot be read.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is empty: Juju has no image for the resource.
    #[error("{0} is empty: no image is attached")]
    Empty(PathBuf),
    /// The file is not the YAML (or JSON) Juju writes.
    #[error("{path} does not describe an OCI image: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// `registrypath` is not an image reference.
    #[error("{path}: {source}")]
    BadImage {
        /// The file.
        path: PathBuf,
        /// What is wrong with the reference.
        source: ImageError,
    },
}

/// The resource file's fields. Aliases: the JSON Juju 2.x wrote.
#[derive(Deserialize)]
struct Details {
    #[serde(alias = "ImageName")]
    registrypath: String,
    #[serde(default, alias = "Username")]
    username: Option<String>,
    #[serde(default, alias = "Password")]
    password: Option<String>,
}

impl OciImage {
    /// Runs `resource-get cloudcasa-image` and reads the file it names.
    pub fn fetch(model: &charm_core::Model) -> Result<Self, ResourceError> {
        let path = model
            .resource(IMAGE_RESOURCE)
            .map_err(ResourceError::ResourceGet)?;
        Self::read(&path)
    }

    /// Reads the file `resource-get` printed.
    pub fn read(path: &Path) -> Result<Self, ResourceError> {
        let text = std::fs::read_to_string(path).map_err(|source| ResourceError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses the content of the resource file at `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ResourceError> {
        if text.trim().is_empty() {
            return Err(ResourceError::Empty(path.to_owned()));
        }
        let details: Details =
            serde_yaml::from_str(text).map_err(|e| ResourceError::Malformed {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        let image = Image::parse(details.registrypath.trim()).map_err(|source| {
            ResourceError::BadImage {
                path: path.to_owned(),
                source,
            }
        })?;
        let credentials = match (details.username, details.password) {
            (Some(username), Some(password)) if !username.is_empty() && !password.is_empty() => {
                Some(Credentials { username, password })
            }
            _ => None,
        };
        Ok(Self { image, credentials })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<OciImage, ResourceError> {
        OciImage::parse(text, Path::new("/res/cloudcasa-image/content"))
    }

    #[test]
    fn reads_the_yaml_juju_writes() {
        let found = parse(
            "registrypath: docker.io/catalogicsoftware/amds-kagent:3.1.0\nusername: ''\npassword: ''\n",
        )
        .unwrap();
        assert_eq!(
            found.image.as_str(),
            "docker.io/catalogicsoftware/amds-kagent:3.1.0"
        );
        assert_eq!(found.credentials, None);
    }

    #[test]
    fn reads_charmhub_credentials_without_showing_the_password() {
        let found = parse(
            "registrypath: registry.jujucharms.com/charm/kd9c/cloudcasa-image@sha256:0123\n\
             username: docker-registry\npassword: s3cret-token\n",
        )
        .unwrap();
        let credentials = found.credentials.clone().unwrap();
        assert_eq!(credentials.username, "docker-registry");
        assert_eq!(credentials.password, "s3cret-token");
        let shown = format!("{found:?}");
        assert!(!shown.contains("s3cret-token"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn reads_the_json_of_older_controllers() {
        let found = parse(
            r#"{"ImageName": "registry.local:5000/amds-kagent:1", "Username": "u", "Password": "p"}"#,
        )
        .unwrap();
        assert_eq!(found.image.as_str(), "registry.local:5000/amds-kagent:1");
        assert_eq!(found.credentials.unwrap().username, "u");
    }

    #[test]
    fn bad_files_are_errors_naming_the_file_and_the_problem() {
        let err = parse("").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/res/cloudcasa-image/content is empty: no image is attached"
        );
        let err = parse("username: u\n").unwrap_err();
        assert!(matches!(err, ResourceError::Malformed { .. }), "{err}");
        assert!(err.to_string().contains("registrypath"), "{err}");
        let err = parse("registrypath: 'a b'\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"/res/cloudcasa-image/content: image reference "a b" is empty or contains whitespace"#
        );
        let err = OciImage::read(Path::new("/nonexistent/content")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/content: "),
            "{err}"
        );
    }
}
