//! The Kubernetes controller that keeps a backup of every running image.
//!
//! Two reconcilers cooperate, as Deployments and ReplicaSets do:
//! - the workload reconciler ([`inventory`]) watches Deployments, DaemonSets and StatefulSets;
//!   for every image a ready workload runs it ensures one [`crd::ImageBackup`] object in the
//!   controller's namespace, named after the normalised image ([`naming`]);
//! - the backup reconciler ([`backup`]) copies each image to the backup registry through an
//!   [`copier::ImageCopier`] and records progress in the object's status, following the pure
//!   state machine in [`lifecycle`].
//!
//! Keeping the backup as an object (not a side effect of a workload event) is what makes the
//! controller safe to run concurrently and to restart: a copy is claimed by a write conditional
//! on the object's resourceVersion, so it never runs twice, and a `Running` status left by a
//! dead process is resumed. Backups are never deleted; a periodic re-check copies again any
//! backup that disappeared from the registry.

pub mod backup;
pub mod command;
pub mod config;
pub mod context;
pub mod copier;
pub mod crd;
pub mod grpc;
pub mod http;
pub mod image;
pub mod inventory;
pub mod lease;
pub mod lifecycle;
pub mod metrics;
pub mod naming;
pub mod rollout;
pub mod run;

pub use config::{Args, ControllerConfig};
pub use run::{RunError, run};
pub mod users;
pub mod workload;

#[cfg(test)]
mod fixtures;
