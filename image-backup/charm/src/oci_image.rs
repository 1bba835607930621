//! The controller's workload image, built without Docker (cargo feature `oci-image`).
//!
//! One layer on nothing (`FROM scratch`): the static `image-backup` binary at
//! [`crate::workload::BINARY`] and the CA certificates at `/etc/ssl/certs/ca-certificates.crt`
//! (where rustls' platform verifier looks for them on Linux), plus an empty `/tmp`. Juju
//! starts Pebble in the container and Pebble starts the binary, so the image needs no shell.
//!
//! Reproducible: tar entries in a fixed order with owner root and time 0, gzip without a
//! timestamp, config and manifest serialised from fixed structures: the same binary and
//! certificates give the same manifest digest.
//!
//! The result is written as an OCI image layout ([`OciImage::write_layout`]: `oci-layout`,
//! `index.json`, `blobs/sha256/...`, readable by `skopeo copy oci:DIR:TAG ...`) or pushed to a
//! registry with image-backup-copier's registry client ([`OciImage::push`]), so that
//! `juju deploy ./image-backup_*.charm --resource controller-image=<ref>` works with a
//! locally built image.
//!
//! `cargo xtask image` builds the binary and runs this module through the program
//! `image-backup-oci-image` (`src/bin/oci-image.rs`), so that the xtask links no charm code.

mod tar;

use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use image_backup_copier::manifest::Manifest;
use image_backup_copier::registry::{Client, Repository};
use image_backup_copier::{Digest, Reference};
use serde_json::json;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Where the CA certificates go in the image.
pub const CA_CERTIFICATES: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Debian's bundle, the usual source.
pub const HOST_CA_CERTIFICATES: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Building, writing or pushing the image failed.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an ELF executable: the image needs the static image-backup binary")]
    NotElf { path: String },
    #[error("{0} holds no PEM certificate")]
    NoCertificates(String),
    #[error("building the layer: {0}")]
    Layer(String),
    #[error("pushing to {reference}: {source}")]
    Push {
        reference: String,
        #[source]
        source: image_backup_copier::Error,
    },
}

/// What goes into the image.
#[derive(Clone)]
pub struct ImageInputs {
    /// The static `image-backup` executable.
    pub binary: Vec<u8>,
    /// PEM CA certificates.
    pub ca_certificates: Vec<u8>,
}

impl ImageInputs {
    /// Reads and checks the binary and the certificates.
    pub fn from_files(binary: &Path, ca_certificates: &Path) -> Result<Self, OciError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| OciError::Read {
                path: path.display().to_string(),
                source,
            })
        };
        let inputs = ImageInputs {
            binary: read(binary)?,
            ca_certificates: read(ca_certificates)?,
        };
        if !inputs.binary.starts_with(b"\x7fELF") {
            return Err(OciError::NotElf {
                path: binary.display().to_string(),
            });
        }
        if !String::from_utf8_lossy(&inputs.ca_certificates).contains("-----BEGIN CERTIFICATE-----")
        {
            return Err(OciError::NoCertificates(
                ca_certificates.display().to_string(),
            ));
        }
        Ok(inputs)
    }
}

/// A built image: its blobs and manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciImage {
    /// The gzipped layer.
    pub layer: Bytes,
    /// The digest of the uncompressed layer (the config's `diff_ids`).
    pub diff_id: Digest,
    pub config: Bytes,
    pub manifest: Bytes,
}

/// Builds the image (amd64, like the binary `cargo xtask pack` builds).
pub fn build(inputs: &ImageInputs) -> Result<OciImage, OciError> {
    let binary_path = crate::workload::BINARY.trim_start_matches('/');
    let ca_path = CA_CERTIFICATES.trim_start_matches('/');
    let dir = |path| tar::Entry::Dir { path, mode: 0o755 };
    let entries = [
        dir("etc/"),
        dir("etc/ssl/"),
        dir("etc/ssl/certs/"),
        tar::Entry::File {
            path: ca_path,
            mode: 0o644,
            content: &inputs.ca_certificates,
        },
        // Sticky and world-writable, as every /tmp.
        tar::Entry::Dir {
            path: "tmp/",
            mode: 0o1777,
        },
        dir("usr/"),
        dir("usr/bin/"),
        tar::Entry::File {
            path: binary_path,
            mode: 0o755,
            content: &inputs.binary,
        },
    ];
    let tar = tar::archive(&entries).map_err(OciError::Layer)?;
    let diff_id = Digest::sha256(&tar);
    let layer = gzip(&tar)?;

    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": [crate::workload::BINARY],
            "Cmd": ["controller", "run"],
            "Env": [
                "PATH=/usr/bin",
                format!("SSL_CERT_FILE={CA_CERTIFICATES}"),
            ],
            "WorkingDir": "/",
        },
        "rootfs": { "type": "layers", "diff_ids": [diff_id.to_string()] },
        "history": [{ "created_by": "image-backup-charm oci_image::build" }],
    });
    let config = Bytes::from(serde_json::to_vec(&config).unwrap_or_default());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": descriptor(CONFIG_MEDIA_TYPE, &config),
        "layers": [descriptor(LAYER_MEDIA_TYPE, &layer)],
        "annotations": {
            "org.opencontainers.image.title": "image-backup",
            "org.opencontainers.image.description": "image-backup controller (static binary, FROM scratch)",
        },
    });
    let manifest = Bytes::from(serde_json::to_vec(&manifest).unwrap_or_default());
    Ok(OciImage {
        layer,
        diff_id,
        config,
        manifest,
    })
}

fn descriptor(media_type: &str, blob: &[u8]) -> serde_json::Value {
    json!({
        "mediaType": media_type,
        "digest": Digest::sha256(blob).to_string(),
        "size": blob.len(),
    })
}

fn gzip(data: &[u8]) -> Result<Bytes, OciError> {
    // No file name and time 0 in the header: the output depends on the input only.
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    let io = |e: std::io::Error| OciError::Layer(format!("gzip: {e}"));
    encoder.write_all(data).map_err(io)?;
    Ok(Bytes::from(encoder.finish().map_err(io)?))
}

impl OciImage {
    /// The manifest's digest: what `<registry>/<repo>@<digest>` pins.
    pub fn digest(&self) -> Digest {
        Digest::sha256(&self.manifest)
    }

    /// Writes an OCI image layout into `dir` (created if needed; blobs already there are kept)
    /// with the manifest tagged `tag` in `index.json`.
    pub fn write_layout(&self, dir: &Path, tag: &str) -> Result<(), OciError> {
        let blobs = dir.join("blobs").join("sha256");
        let write = |path: &Path, data: &[u8]| {
            std::fs::write(path, data).map_err(|source| OciError::Write {
                path: path.display().to_string(),
                source,
            })
        };
        std::fs::create_dir_all(&blobs).map_err(|source| OciError::Write {
            path: blobs.display().to_string(),
            source,
        })?;
        for blob in [&self.layer, &self.config, &self.manifest] {
            let digest = Digest::sha256(blob).to_string();
            let hex = digest.trim_start_matches("sha256:");
            write(&blobs.join(hex), blob)?;
        }
        write(
            &dir.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        let mut manifest = descriptor(MANIFEST_MEDIA_TYPE, &self.manifest);
        manifest["annotations"] = json!({ "org.opencontainers.image.ref.name": tag });
        let index = json!({
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": [manifest],
        });
        write(
            &dir.join("index.json"),
            &serde_json::to_vec(&index).unwrap_or_default(),
        )
    }

    /// Pushes the blobs (skipping those the registry has) and the manifest under the reference's
    /// tag (or by digest); returns the manifest digest.
    pub async fn push(&self, client: &Client, reference: &Reference) -> Result<Digest, OciError> {
        let failed = |source| OciError::Push {
            reference: reference.to_string(),
            source,
        };
        let repo = Repository::from(reference);
        for blob in [&self.layer, &self.config] {
            client
                .push_blob(&repo, blob.clone())
                .await
                .map_err(failed)?;
        }
        let digest = self.digest();
        let manifest = Manifest {
            bytes: self.manifest.clone(),
            media_type: MANIFEST_MEDIA_TYPE.to_string(),
            digest: digest.clone(),
        };
        let target = reference
            .tag()
            .map(str::to_string)
            .unwrap_or_else(|| digest.to_string());
        client
            .put_manifest(&repo, &target, &manifest)
            .await
            .map_err(failed)?;
        Ok(digest)
    }
}
