//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod fake;

use std::process::Command;

use image_backup_copier::registry::{Client, Repository};
use image_backup_copier::testing::{TestRegistry, test_client_options};
use image_backup_copier::{Copier, CopyOptions, Digest, Reference};

/// A copier that can reach `registries`, with quick retries.
pub fn copier(registries: &[&TestRegistry]) -> Copier {
    copier_with(registries, |_| {})
}

pub fn copier_with(registries: &[&TestRegistry], tweak: impl FnOnce(&mut CopyOptions)) -> Copier {
    let mut options = CopyOptions {
        client: test_client_options(registries),
        ..CopyOptions::default()
    };
    tweak(&mut options);
    Copier::new(options).expect("copier")
}

/// The raw manifest `skopeo` (an independent client) reads at `reference`.
pub fn skopeo_raw(reference: &Reference, registry: &TestRegistry) -> Vec<u8> {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some(image_backup_copier::Credentials::Basic { username, password }) =
        registry.credentials()
    {
        cmd.arg(format!("--creds={username}:{password}"));
    }
    cmd.arg(format!("docker://{reference}"));
    let out = cmd
        .output()
        .expect("skopeo is needed as an oracle: apt-get install -y skopeo");
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Blob GETs and uploads seen in a registry's access log since entry `from`.
pub fn blob_traffic(registry: &TestRegistry, from: usize) -> Vec<String> {
    registry.access_log()[from..]
        .iter()
        .filter(|e| {
            (e.method == "GET" && e.path.contains("/blobs/"))
                || e.method == "PATCH"
                || (e.method == "PUT" && e.path.contains("/blobs/uploads/"))
        })
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

/// Whether the blob exists in `reference`'s repository.
pub async fn has_blob(client: &Client, reference: &Reference, digest: &Digest) -> bool {
    client
        .blob_exists(&Repository::from(reference), digest)
        .await
        .expect("HEAD blob")
        .is_some()
}

/// Whether the tag/digest of `reference` exists.
pub async fn has_manifest(client: &Client, reference: &Reference) -> bool {
    client
        .head_manifest(&Repository::from(reference), &reference.selector())
        .await
        .expect("HEAD manifest")
        .is_some()
}
