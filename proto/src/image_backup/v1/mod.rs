//! `charms.image_backup.v1`: relation bags and the `ImageBackupService` gRPC API.
//!
//! # Bag encoding
//! Requirer application bag:
//! - `images`: JSON array of image references (`["docker.io/library/nginx:1.27"]`); absent
//!   when the requirer asks for nothing.
//!
//! Provider application bag:
//! - `registry`: `host[:port][/path]` the backups are pushed to (required);
//! - `api-address`: `http://host:port` or `https://host:port` of the gRPC API (required);
//! - `backups`: JSON array of `{"source", "reference", "digest"}` objects, one per requested
//!   image whose backup is done; absent when none is.
//!
//! Why JSON for the lists: a `backups` entry is a record, and JSON is what other charm
//! libraries put in bags for structured values, so a Python charm can speak this interface with
//! `json.loads`. JSON objects ignore unknown fields, so v1 can grow fields without a v2.
//! Scalars stay plain strings so `juju show-unit` output stays readable.
//!
//! Validation is syntactic (image references follow the distribution reference grammar,
//! digests the OCI spec) and reports every invalid field; an invalid list item is reported with
//! the item as the value.
//!
//! # gRPC
//! [`image_backup_service_server::ImageBackupService`] is the trait the controller implements,
//! [`image_backup_service_client::ImageBackupServiceClient`] the client the charm's actions use.

mod generated {
    #![allow(clippy::all, clippy::pedantic)]
    include!("../../gen/charms.image_backup.v1.rs");
}
mod reference;

pub use generated::*;
pub use reference::{check_api_address, check_digest, check_image, check_registry};

use charm_core::contract::{Bag, BagCodec, BagDecoder, BagEncoder, ValidationErrors};
use serde::{Deserialize, Serialize};

pub const IMAGES: &str = "images";
pub const REGISTRY: &str = "registry";
pub const API_ADDRESS: &str = "api-address";
pub const BACKUPS: &str = "backups";

impl BagCodec for ImageBackupRequirerData {
    fn to_bag(&self) -> Result<Bag, ValidationErrors> {
        let mut bag = BagEncoder::new();
        for image in &self.images {
            if let Err(message) = check_image(image) {
                bag.error(IMAGES, message, Some(image));
            }
        }
        if !self.images.is_empty() {
            bag.text(IMAGES, &to_json(&self.images));
        }
        bag.finish()
    }

    fn from_bag(bag: &Bag) -> Result<Self, ValidationErrors> {
        let mut fields = BagDecoder::new(bag);
        let images: Vec<String> = fields.optional_with(IMAGES, from_json).unwrap_or_default();
        for image in &images {
            if let Err(message) = check_image(image) {
                fields.error(IMAGES, message, Some(image));
            }
        }
        fields.finish()?;
        Ok(ImageBackupRequirerData { images })
    }
}

/// How one `backups` entry is spelled in JSON.
#[derive(Serialize, Deserialize)]
struct BackupEntry {
    source: String,
    reference: String,
    digest: String,
}

impl From<&BackedUpImage> for BackupEntry {
    fn from(image: &BackedUpImage) -> Self {
        BackupEntry {
            source: image.source.clone(),
            reference: image.reference.clone(),
            digest: image.digest.clone(),
        }
    }
}

impl From<BackupEntry> for BackedUpImage {
    fn from(entry: BackupEntry) -> Self {
        BackedUpImage {
            source: entry.source,
            reference: entry.reference,
            digest: entry.digest,
        }
    }
}

/// The checks of one `backups` entry: `(message, offending value)` for each bad field.
fn check_backup(backup: &BackedUpImage) -> Vec<(String, &str)> {
    let checks = [
        (
            "source",
            backup.source.as_str(),
            check_image as fn(&str) -> Result<(), String>,
        ),
        ("reference", backup.reference.as_str(), check_image),
        ("digest", backup.digest.as_str(), check_digest),
    ];
    checks
        .into_iter()
        .filter_map(|(field, value, check)| {
            check(value)
                .err()
                .map(|message| (format!("{field}: {message}"), value))
        })
        .collect()
}

impl BagCodec for ImageBackupProviderData {
    fn to_bag(&self) -> Result<Bag, ValidationErrors> {
        let mut bag = BagEncoder::new();
        bag.required(REGISTRY, &self.registry);
        if !self.registry.is_empty()
            && let Err(message) = check_registry(&self.registry)
        {
            bag.error(REGISTRY, message, Some(&self.registry));
        }
        bag.required(API_ADDRESS, &self.api_address);
        if !self.api_address.is_empty()
            && let Err(message) = check_api_address(&self.api_address)
        {
            bag.error(API_ADDRESS, message, Some(&self.api_address));
        }
        for backup in &self.backups {
            for (message, value) in check_backup(backup) {
                bag.error(BACKUPS, message, Some(value));
            }
        }
        if !self.backups.is_empty() {
            let entries: Vec<BackupEntry> = self.backups.iter().map(BackupEntry::from).collect();
            bag.text(BACKUPS, &to_json(&entries));
        }
        bag.finish()
    }

    fn from_bag(bag: &Bag) -> Result<Self, ValidationErrors> {
        let mut fields = BagDecoder::new(bag);
        let registry = fields.required_with(REGISTRY, |v| check_registry(v).map(|()| v));
        let api_address = fields.required_with(API_ADDRESS, |v| check_api_address(v).map(|()| v));
        let entries: Vec<BackupEntry> =
            fields.optional_with(BACKUPS, from_json).unwrap_or_default();
        let backups: Vec<BackedUpImage> = entries.into_iter().map(BackedUpImage::from).collect();
        for backup in &backups {
            for (message, value) in check_backup(backup) {
                fields.error(BACKUPS, message, Some(value));
            }
        }
        fields.finish()?;
        Ok(ImageBackupProviderData {
            registry: registry.unwrap_or_default().to_owned(),
            api_address: api_address.unwrap_or_default().to_owned(),
            backups,
        })
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Serialising strings and string-only structs cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

fn from_json<'a, T: Deserialize<'a>>(value: &'a str) -> Result<T, String> {
    serde_json::from_str(value).map_err(|error| format!("invalid JSON: {error}"))
}

impl ImageBackupProviderData {
    /// The backup of `source`, once done.
    pub fn backup_of(&self, source: &str) -> Option<&BackedUpImage> {
        self.backups.iter().find(|backup| backup.source == source)
    }
}
