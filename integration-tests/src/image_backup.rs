//! The image-backup charm as the end-to-end tests run it (`charm-image-backup`).
//!
//! The charm reaches the cluster and its controller through a `Platform`. In a pod the
//! controller runs as a Pebble service beside the charm and answers on loopback; here the fake
//! Pebble runs no services, so nothing would answer there. [`SimPlatform`] is production's
//! `InCluster` with that one difference: the controller's address comes from
//! [`CONTROLLER_API_ENV`], which a test sets with `Deploy::env` to a fake controller it serves
//! (`image_backup_charm::testing`). The Kubernetes client is production's, unchanged: the
//! `KUBECONFIG` a test passes, or none (the simulator's hook environment is clean, so then the
//! charm finds no credentials, as a pod without a service account token would not).

use image_backup_charm::platform::{InCluster, Platform};

/// The controller's gRPC address (`http://host:port`) for the charm's hooks.
pub const CONTROLLER_API_ENV: &str = "IMAGE_BACKUP_E2E_CONTROLLER_API";

/// `InCluster`, but for the controller's address (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct SimPlatform;

impl Platform for SimPlatform {
    async fn kube_client(&self) -> Result<kube::Client, kube::Error> {
        InCluster.kube_client().await
    }

    /// [`CONTROLLER_API_ENV`], or production's loopback address when the test set none.
    fn controller_api(&self) -> String {
        std::env::var(CONTROLLER_API_ENV).unwrap_or_else(|_| InCluster.controller_api())
    }
}
