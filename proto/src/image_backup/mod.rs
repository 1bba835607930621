//! The `image-backup` relation interface and the image-backup controller's gRPC API.
//!
//! A requirer asks for container images to be protected; the image-backup charm (provider)
//! answers with the backup registry, the address of the controller's `ImageBackupService` and,
//! per requested image, the backup once it is done.
//!
//! [`requirer`] is the requirer's side as two calls (ask, then read how each image stands), for
//! charms written with charm-core.

pub mod requirer;
pub mod v1;
