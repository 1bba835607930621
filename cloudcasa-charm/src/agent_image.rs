//! Which image the agent runs: the `cloudcasa-image` resource.
//!
//! Two sources, both naming the image the operator attached: `resource-get` (the documented
//! way, no API call), and failing that the charm's own pod spec, where Juju put the same
//! resource as the `cloudcasa` container's image. The pod is found from the Juju model's
//! namespace (`JUJU_MODEL_NAME`) and the unit's name, never from a fixed name. The second source
//! covers Juju versions and test environments where `resource-get` cannot open `oci-image`
//! resources; when both fail, the error carries both reasons.

use crate::cluster::Cluster;
use crate::image::UnitName;
use crate::outcome::{ClusterError, Forbidden};
use crate::resource::{OciImage, ResourceError};

/// Neither source gave an image.
#[derive(Debug, thiserror::Error)]
#[error("cannot tell which image the agent should run: {resource}; {pod}")]
pub struct NoImage {
    /// Why `resource-get` gave none.
    pub resource: ResourceError,
    /// Why the charm's pod gave none.
    pub pod: PodFailure,
}

/// Why the charm's pod spec gave no image.
#[derive(Debug, thiserror::Error)]
pub enum PodFailure {
    /// Reading the pod was refused.
    #[error("reading the charm's pod: {0}")]
    Forbidden(Forbidden),
    /// Reading the pod failed, or its spec has no usable image.
    #[error("reading the charm's pod: {0}")]
    Failed(#[source] ClusterError),
}

impl NoImage {
    /// Whether the API server refused to show the charm's pod: a permissions problem.
    pub fn is_forbidden(&self) -> bool {
        matches!(self.pod, PodFailure::Forbidden(_))
    }

    /// Whether a later hook may find the image without the operator doing anything.
    pub fn is_transient(&self) -> bool {
        matches!(&self.pod, PodFailure::Failed(e) if e.is_transient())
    }
}

/// The agent's image: from `resource` (what [`OciImage::fetch`] returned) if it gave one, else
/// from the spec of `unit`'s pod in `model_namespace`.
pub async fn find(
    resource: Result<OciImage, ResourceError>,
    cluster: &Cluster,
    model_namespace: &str,
    unit: &UnitName,
) -> Result<OciImage, NoImage> {
    let resource = match resource {
        Ok(found) => return Ok(found),
        Err(e) => e,
    };
    tracing::info!("{resource}; reading the image from the charm's pod instead");
    let pod = match cluster.charm_image(model_namespace, unit).await {
        Ok(Ok(image)) => {
            return Ok(OciImage {
                image,
                credentials: None,
            });
        }
        Ok(Err(forbidden)) => PodFailure::Forbidden(forbidden),
        Err(e) => PodFailure::Failed(e),
    };
    Err(NoImage { resource, pod })
}
