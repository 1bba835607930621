//! image-backup's `dispatch`, built by this crate's `cargo test` so the end-to-end tests need no
//! separate musl build. The same `main` as the charm crate's `src/main.rs` with one
//! substitution: the platform is [`SimPlatform`], whose controller API address comes from the
//! environment variable the test sets (the fake Pebble runs no services, so no controller
//! listens in the "pod"); its Kubernetes client is production's.
//!
//! [`SimPlatform`]: integration_tests::image_backup::SimPlatform

use image_backup_charm::ImageBackupCharm;
use integration_tests::image_backup::SimPlatform;

fn main() -> std::process::ExitCode {
    // As the charm's own main: kube's and tonic's rustls need the ring provider before the
    // first connection.
    let _ = rustls::crypto::ring::default_provider().install_default();
    charm_core::main::<ImageBackupCharm<SimPlatform>>()
}
