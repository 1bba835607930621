//! The optional `image-backup` relation: the agent's image protected by the image-backup charm.
//!
//! When related, the leader asks for the agent's image to be backed up (the requirer library
//! [`proto::image_backup::requirer`]), and every unit adds how the backup stands to its status
//! message ([`Note`]). Without the relation nothing here writes or changes anything.
//!
//! Choices:
//! - One image: the `cloudcasa-image` resource, which the agent's deployment runs as its
//!   container image and also passes on as `KUBEMOVER_IMAGE`; the agent starts no image of its
//!   own that the charm knows of.
//! - The image comes from `resource-get`, which needs no cluster, so asking works while the
//!   API server is unreachable. When only the charm's pod names the image (Juju versions
//!   without `resource-get` for `oci-image`), the leader asks once it has read it; a hook that
//!   cannot tell the image leaves the earlier request in place rather than withdraw it.
//! - Asking is idempotent: the request is written only when it differs from the bag, so
//!   repeated hooks send nothing and the provider sees no `relation-changed`.
//! - Whatever the provider writes, the hook succeeds: unreadable data shows in the status.
//!   Only failing hook tools (inputs Juju guarantees) fail the hook.

use std::fmt;

use charm_core::contract::PublishError;
use charm_core::{Model, ModelError};
use proto::image_backup::requirer::{self, Protection};

use crate::image::Image;

/// The endpoint, declared in `charmcraft.yaml` as optional with `limit: 1`.
pub const ENDPOINT: &str = "image-backup";

/// What the relation adds to a unit's status message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// How the agent image's backup stands, as the provider answered.
    Protection(Protection),
    /// This hook could not tell which image the agent runs (the status says why when it
    /// matters: a leader without an image applies no agent either).
    UnknownImage,
    /// The agent image is not a reference the `image-backup` contract accepts: nothing asked.
    Refused(String),
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::Protection(protection) => protection.fmt(f),
            Note::UnknownImage => f.write_str("image backup: agent image unknown"),
            Note::Refused(reason) => write!(f, "image backup not asked: {reason}"),
        }
    }
}

/// Whether an `image-backup` relation is live (one being broken no longer counts).
pub fn is_related(model: &Model) -> Result<bool, ModelError> {
    Ok(!model.relations(ENDPOINT)?.is_empty())
}

/// Asks for `agent_image` to be protected (the leader; others only read) and says how it
/// stands. `None` when not related.
pub fn reconcile(model: &Model, agent_image: Option<&Image>) -> Result<Option<Note>, ModelError> {
    if !is_related(model)? {
        return Ok(None);
    }
    let Some(image) = agent_image else {
        return Ok(Some(Note::UnknownImage));
    };
    match requirer::request(model, ENDPOINT, &[image.as_str().to_owned()]) {
        Ok(published) => {
            for (relation, what) in published {
                tracing::debug!("image-backup relation {relation}: {what:?}");
            }
        }
        Err(PublishError::Invalid { errors, .. }) => {
            return Ok(Some(Note::Refused(errors.to_string())));
        }
        Err(PublishError::Model(e)) => return Err(e),
    }
    let protection = requirer::protection(model, ENDPOINT, image.as_str())?;
    Ok(Some(Note::Protection(protection)))
}
