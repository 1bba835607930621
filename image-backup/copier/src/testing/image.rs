//! Random images: OCI manifests with incompressible random layers, and indexes of them.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::digest::Digest;
use crate::error::Error;
use crate::manifest::{Manifest, Platform, media_type};
use crate::reference::{Reference, Selector};
use crate::registry::{Client, Repository};

/// An image manifest with its config and layers.
#[derive(Clone, Debug)]
pub struct TestImage {
    pub manifest: Manifest,
    pub config: Bytes,
    pub layers: Vec<Bytes>,
    pub platform: Platform,
}

/// An OCI index over several images.
#[derive(Clone, Debug)]
pub struct TestIndex {
    pub manifest: Manifest,
    pub images: Vec<TestImage>,
}

/// `len` pseudo-random bytes, different on every call (splitmix64; fast, incompressible).
pub fn random_bytes(len: usize) -> Bytes {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut state = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ CALLS
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

fn descriptor(media_type: &str, data: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "mediaType": media_type,
        "digest": Digest::sha256(data).to_string(),
        "size": data.len(),
    })
}

fn manifest_of(value: &serde_json::Value, media_type: &str) -> Manifest {
    let bytes = Bytes::from(value.to_string());
    Manifest {
        digest: Digest::sha256(&bytes),
        bytes,
        media_type: media_type.to_owned(),
    }
}

impl TestImage {
    /// An image with one random layer per entry of `layer_sizes`, for `platform` (default
    /// linux/amd64).
    pub fn random(layer_sizes: &[usize], platform: Option<Platform>) -> Self {
        let layers: Vec<Bytes> = layer_sizes.iter().map(|&n| random_bytes(n)).collect();
        Self::with_layers(layers, platform)
    }

    /// An image over the given layer contents.
    pub fn with_layers(layers: Vec<Bytes>, platform: Option<Platform>) -> Self {
        let platform = platform.unwrap_or(Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        });
        let diff_ids: Vec<String> = layers
            .iter()
            .map(|l| Digest::sha256(l).to_string())
            .collect();
        // The random `created` keeps configs (and so manifests) of equal-looking images apart.
        let config = serde_json::json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "variant": platform.variant,
            "created": format!("2025-01-01T00:00:00.{:09}Z", u32::from_le_bytes(random_bytes(4)[..].try_into().unwrap_or_default()) % 1_000_000_000),
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "config": {},
        });
        let config = Bytes::from(config.to_string());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": descriptor(media_type::OCI_CONFIG, &config),
            "layers": layers.iter().map(|l| descriptor(media_type::OCI_LAYER_GZIP, l)).collect::<Vec<_>>(),
        });
        TestImage {
            manifest: manifest_of(&manifest, media_type::OCI_MANIFEST),
            config,
            layers,
            platform,
        }
    }

    /// Config and layers with their digests.
    pub fn blobs(&self) -> Vec<(Digest, Bytes)> {
        std::iter::once(&self.config)
            .chain(&self.layers)
            .map(|b| (Digest::sha256(b), b.clone()))
            .collect()
    }

    pub fn size(&self) -> u64 {
        self.blobs().iter().map(|(_, b)| b.len() as u64).sum()
    }
}

impl TestIndex {
    pub fn new(images: Vec<TestImage>) -> Self {
        let manifests: Vec<serde_json::Value> = images
            .iter()
            .map(|image| {
                let mut d = descriptor(media_type::OCI_MANIFEST, &image.manifest.bytes);
                d["platform"] = serde_json::to_value(&image.platform).unwrap_or_default();
                d
            })
            .collect();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_INDEX,
            "manifests": manifests,
        });
        TestIndex {
            manifest: manifest_of(&index, media_type::OCI_INDEX),
            images,
        }
    }
}

async fn push_blobs_and_manifest(
    client: &Client,
    repo: &Repository,
    image: &TestImage,
    target: &str,
) -> Result<(), Error> {
    for (_, blob) in image.blobs() {
        client.push_blob(repo, blob).await?;
    }
    client.put_manifest(repo, target, &image.manifest).await
}

fn target(reference: &Reference, digest: &Digest) -> String {
    match reference.selector() {
        Selector::Tag(t) if reference.digest().is_none() => t.to_owned(),
        _ => digest.to_string(),
    }
}

/// Pushes `image` to `reference` (its tag, or by digest when it names none).
pub async fn push_image(
    client: &Client,
    reference: &Reference,
    image: &TestImage,
) -> Result<(), Error> {
    let repo = Repository::from(reference);
    let target = target(reference, &image.manifest.digest);
    push_blobs_and_manifest(client, &repo, image, &target).await
}

/// Pushes every image of `index` by digest, then the index to `reference`.
pub async fn push_index(
    client: &Client,
    reference: &Reference,
    index: &TestIndex,
) -> Result<(), Error> {
    let repo = Repository::from(reference);
    for image in &index.images {
        let digest = image.manifest.digest.to_string();
        push_blobs_and_manifest(client, &repo, image, &digest).await?;
    }
    let target = target(reference, &index.manifest.digest);
    client.put_manifest(&repo, &target, &index.manifest).await
}
