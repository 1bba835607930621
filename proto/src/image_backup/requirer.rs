//! The requirer side of the `image-backup` relation, for charms that want their images
//! protected (cloudcasa-charm first): the "charm library" of the interface, kept beside its
//! contract so that a requiring charm depends on `proto` and charm-core only, not on the
//! image-backup charm (its gRPC client, Kubernetes and Pebble code).
//!
//! Two calls in a reconcile are enough:
//!
//! ```no_run
//! # use charm_core::{Model, Status};
//! # fn reconcile(model: &Model, agent_image: &str) -> Result<(), Box<dyn std::error::Error>> {
//! use proto::image_backup::requirer::{self, Protection};
//!
//! // Leader only (others skip the write): ask for the agent image to be backed up.
//! requirer::request(model, "image-backup", &[agent_image.to_string()])?;
//! let suffix = match requirer::protection(model, "image-backup", agent_image)? {
//!     Protection::NotRelated => String::new(), // behaves exactly as without the relation
//!     other => format!("; {other}"),
//! };
//! model.add_status(Status::active(format!("agent running{suffix}")));
//! # Ok(()) }
//! ```

use std::fmt;

use charm_core::contract::{PublishError, Published, RemoteError, publish_all, read_remote};
use charm_core::event::RelationId;
use charm_core::{Model, ModelError};

use super::v1::{BackedUpImage, ImageBackupProviderData, ImageBackupRequirerData};

/// Asks every relation on `endpoint` to protect `images` (leader only: a non-leader gets
/// [`Published::NotLeader`] and writes nothing). Invalid references are refused before anything
/// is written, with the bad values named.
pub fn request(
    model: &Model,
    endpoint: &str,
    images: &[String],
) -> Result<Vec<(RelationId, Published)>, PublishError> {
    let message = ImageBackupRequirerData {
        images: images.to_vec(),
    };
    publish_all(model, endpoint, &message)
}

/// Whether one image is protected, as the provider answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protection {
    /// No `image-backup` relation: nothing to report.
    NotRelated,
    /// Related, but the provider has not answered yet.
    Waiting,
    /// The provider answered, and this image has no backup yet.
    Pending { registry: String },
    /// The backup exists.
    Protected(BackedUpImage),
    /// The provider wrote something this charm cannot read (the reason).
    Invalid(String),
}

impl fmt::Display for Protection {
    /// A fragment for a status message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protection::NotRelated => f.write_str("image backup not related"),
            Protection::Waiting => f.write_str("waiting for image-backup"),
            Protection::Pending { registry } => write!(f, "image backup to {registry} pending"),
            Protection::Protected(b) => write!(f, "image backed up as {}", b.reference),
            Protection::Invalid(reason) => write!(f, "image-backup relation: {reason}"),
        }
    }
}

/// Where `image` stands over the relations on `endpoint`: protected when any provider has a
/// backup of it.
pub fn protection(model: &Model, endpoint: &str, image: &str) -> Result<Protection, ModelError> {
    let relations = model.relations(endpoint)?;
    if relations.is_empty() {
        return Ok(Protection::NotRelated);
    }
    let mut best = Protection::Waiting;
    for relation in &relations {
        let found = match read_remote::<ImageBackupProviderData>(relation) {
            Ok(data) => match data.backup_of(image) {
                Some(backup) => Protection::Protected(backup.clone()),
                None => Protection::Pending {
                    registry: data.registry,
                },
            },
            Err(RemoteError::NotReady { .. }) => Protection::Waiting,
            Err(RemoteError::Invalid { errors, .. }) => {
                Protection::Invalid(format!("invalid data: {errors}"))
            }
            Err(RemoteError::Model(e)) => return Err(e),
        };
        if rank(&found) > rank(&best) {
            best = found;
        }
    }
    Ok(best)
}

/// Which answer wins when several providers are related.
fn rank(p: &Protection) -> u8 {
    match p {
        Protection::NotRelated => 0,
        Protection::Waiting => 1,
        Protection::Invalid(_) => 2,
        Protection::Pending { .. } => 3,
        Protection::Protected(_) => 4,
    }
}
