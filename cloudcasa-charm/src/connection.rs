//! Reaching the API server of the cluster the charm runs on.
//!
//! In production the connection is inferred the way `kubectl` and every Kubernetes client do
//! it ([`kube::Config::infer`]): a kubeconfig if `KUBECONFIG` names one (or `~/.kube/config`
//! exists), else the in-cluster service account Juju mounts into the charm container. So the
//! same binary runs as a charm in its pod and, under a hook-tool simulator, against the cluster
//! a test names in `KUBECONFIG`. Unit tests substitute their own [`Connect`] to serve the
//! charm from a scripted API server.

use crate::cluster::Cluster;

/// Where the charm's [`Cluster`] comes from. The charm is built fresh for every hook
/// (`Default`), and connects once per hook, from inside the hook's async runtime.
#[allow(async_fn_in_trait)] // Hooks run on a current-thread runtime: no Send bound wanted.
pub trait Connect: Default {
    /// A client for the cluster, with the retry policy to use.
    async fn connect(&self) -> Result<Cluster, ConnectError>;
}

/// The connection could not be set up (before any request was made).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Neither a kubeconfig nor the in-cluster service account is usable.
    #[error("no Kubernetes credentials: {0}")]
    Config(#[source] kube::config::InferConfigError),
    /// The configuration was found but no client could be built from it (TLS material).
    #[error("cannot build a Kubernetes client: {0}")]
    Client(#[source] kube::Error),
}

/// The production connection: [`kube::Config::infer`] with the default retry policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inferred;

impl Connect for Inferred {
    async fn connect(&self) -> Result<Cluster, ConnectError> {
        let config = kube::Config::infer().await.map_err(ConnectError::Config)?;
        let client = kube::Client::try_from(config).map_err(ConnectError::Client)?;
        Ok(Cluster::new(client))
    }
}
