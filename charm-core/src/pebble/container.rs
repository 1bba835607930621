//! A workload container as the charm sees it: a name and the Pebble client for its socket.

use std::path::{Path, PathBuf};

use super::client::Client;
use super::error::{Error, Result};

/// Where Juju mounts each workload container's Pebble socket in the charm container.
pub const DEFAULT_SOCKET_BASE: &str = "/charm/containers";

/// A workload container: `<base>/<name>/pebble.socket`.
///
/// The model hands these out by name from the charm's metadata; tests point the base at a
/// temporary directory where a `fake::FakePebble` (feature `testing`) listens.
#[derive(Debug, Clone)]
pub struct Container {
    name: String,
    client: Client,
}

impl Container {
    /// The container `name` with its socket under [`DEFAULT_SOCKET_BASE`].
    pub fn new(name: &str) -> Result<Self> {
        Self::with_socket_base(name, DEFAULT_SOCKET_BASE)
    }

    /// The container `name` with its socket under `base` instead of `/charm/containers`.
    pub fn with_socket_base(name: &str, base: impl AsRef<Path>) -> Result<Self> {
        let valid = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0']);
        if !valid {
            return Err(Error::InvalidArgument(format!(
                "invalid container name {name:?}"
            )));
        }
        Ok(Self {
            name: name.to_string(),
            client: Client::new(Self::socket_path(base.as_ref(), name)),
        })
    }

    /// The socket path of container `name` under `base`.
    pub fn socket_path(base: &Path, name: &str) -> PathBuf {
        base.join(name).join("pebble.socket")
    }

    /// The container's name from metadata.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Pebble client for this container.
    pub fn pebble(&self) -> &Client {
        &self.client
    }

    /// Whether the container's Pebble answers.
    pub async fn can_connect(&self) -> bool {
        self.client.can_connect().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_path_follows_juju_layout() {
        let c = Container::new("cloudcasa").unwrap();
        assert_eq!(
            c.pebble().socket_path(),
            Path::new("/charm/containers/cloudcasa/pebble.socket")
        );
        let c = Container::with_socket_base("web", "/tmp/x").unwrap();
        assert_eq!(
            c.pebble().socket_path(),
            Path::new("/tmp/x/web/pebble.socket")
        );
        assert_eq!(c.name(), "web");
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "..", "a/b"] {
            let err = Container::new(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }
}
