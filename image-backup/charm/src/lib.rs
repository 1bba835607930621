//! The image-backup charm: runs the image-backup controller in its `controller` container and
//! protects other charms' images over the `image-backup` relation.
//!
//! Every event but actions leads to one reconcile ([`charm::ImageBackupCharm`]):
//! 1. the leader applies the controller's CRD and RBAC ([`cluster`]) on install, upgrade, and
//!    whenever they changed (the `rollout` option adds a binding; the `admission` option adds
//!    the webhook's Service, MutatingWebhookConfiguration and roles ([`admission`]), and
//!    deletes them when it is off); a 403 is Blocked with the `juju trust` command;
//! 2. the config is validated ([`config`]) and the registry credentials read from the Juju
//!    secret named by `registry-credentials` ([`credentials`]);
//! 3. the Pebble layer is built from them ([`workload::layer`], [`workload::with_admission`],
//!    pure) and applied only when something changed; credentials go into a 0600 file, never
//!    into the layer;
//! 4. the leader answers every `image-backup` relation ([`provider`]) by asking the controller
//!    over gRPC ([`api`]);
//! 5. the `metrics-endpoint` bags are written ([`metrics`]);
//! 6. one status sums it up ([`status`]).
//!
//! Actions (`list-backups`, which also shows what pod admission did lately, `backup-now`,
//! `restore-originals`) call the controller's gRPC API ([`actions`]). Charms on the other side of the relation use [`requirer`].
//!
//! The controller's workload image is built without Docker by `oci_image` and the program
//! `image-backup-oci-image` that `cargo xtask image` runs (cargo feature `oci-image`; the
//! charm binary does not include it).
//!
//! The Kubernetes client and the controller's address come from a [`platform::Platform`], so
//! tests substitute a mock API server and a loopback gRPC server.
//!
//! Choices a user would otherwise have to guess:
//! - With an invalid config or unusable credentials the running controller is left untouched
//!   (it keeps protecting images with its last good configuration); the unit is Blocked saying
//!   what to fix.
//! - The controller reads the credentials file named by `IMAGE_BACKUP_REGISTRY_CREDENTIALS_FILE`
//!   (a Docker `config.json` holding the one registry), and is restarted when the file changes.
//! - An invalid `admission` value leaves the cluster objects as they are, as an invalid config
//!   leaves the controller; a valid one is applied to the cluster even while another option is
//!   invalid (as `rollout` is), which is harmless: the webhook fails open.
//! - Stored state (the fingerprint of the applied CRD/RBAC) lives in the charm directory: a pod
//!   restart only costs one extra apply.
//! - TLS: kube uses rustls with ring; the binary installs the provider first thing.

pub mod actions;
pub mod admission;
pub mod api;
pub mod charm;
pub mod cluster;
pub mod config;
pub mod credentials;
pub mod metrics;
#[cfg(feature = "oci-image")]
pub mod oci_image;
pub mod platform;
pub mod provider;
pub use proto::image_backup::requirer;
pub mod status;
#[cfg(feature = "testing")]
pub mod testing;
pub mod workload;

pub use charm::ImageBackupCharm;
