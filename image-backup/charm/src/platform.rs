//! What the charm reaches outside Juju: the Kubernetes API and the controller's gRPC API.
//!
//! Production uses [`InCluster`]; tests substitute their own [`Platform`] (a mock API server, a
//! gRPC server on a loopback port). charm-core builds the charm with `Default` for every hook, so
//! a platform is chosen by type: `ImageBackupCharm<TestPlatform>`.

use crate::workload::GRPC_PORT;

/// The Kubernetes API and the controller's API, as this charm reaches them.
#[allow(async_fn_in_trait)] // Single-threaded hook runtime: no Send bound wanted.
pub trait Platform: Default {
    /// A client for the cluster the charm runs on.
    async fn kube_client(&self) -> Result<kube::Client, kube::Error>;

    /// The controller's gRPC API as the charm reaches it (`http://host:port`).
    fn controller_api(&self) -> String;
}

/// The real thing: in-cluster credentials (the pod's service account), and the controller in
/// the same pod, on loopback.
#[derive(Debug, Default, Clone, Copy)]
pub struct InCluster;

impl Platform for InCluster {
    async fn kube_client(&self) -> Result<kube::Client, kube::Error> {
        kube::Client::try_default().await
    }

    fn controller_api(&self) -> String {
        format!("http://127.0.0.1:{GRPC_PORT}")
    }
}

/// The address other applications reach the controller's API at, advertised in the
/// `image-backup` relation: the application's Kubernetes service, which Juju creates in the
/// model's namespace and to which the charm opens the gRPC port.
pub fn advertised_api_address(app: &str, model: &str) -> String {
    format!("http://{app}.{model}.svc.cluster.local:{GRPC_PORT}")
}
