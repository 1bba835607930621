//! The Juju side: what each hook does.
//!
//! - `install`, `config-changed`, `upgrade-charm`, `cloudcasa-pebble-ready`, `update-status`,
//!   `leader-elected` and every other hook but `stop` and `remove` reconcile: the leader builds
//!   the desired objects from the config and the attached image and applies them; every other
//!   unit only reads the deployment. Both then report one status ([`crate::status::decide`]).
//!   update-status thereby re-applies every five minutes, which also repairs drift.
//!   The `image-backup` relation's events reconcile too: related, the leader also asks for the
//!   agent's image to be backed up, and every unit adds how that stands to its status message
//!   ([`crate::protection`]); during `image-backup-relation-broken` the relation no longer counts.
//! - `stop` does nothing: it also fires when the charm's pod is merely restarted.
//! - `remove` deletes the cluster role binding and the namespace, but only when the whole
//!   application is going away (`goal-state` has no unit left that is not dying: ops'
//!   `planned_units() == 0`); a unit removed by scaling down leaves the agent to the others.
//!   Any unit may delete: deletes are idempotent, and leadership is unreliable while an
//!   application is being torn down. Scaling to zero units counts as going away.
//!
//! When a hook fails (exits non-zero). Reconciling never fails for Kubernetes reasons: an
//! API server still unavailable after the bounded retries is a Waiting status, a refusal
//! Blocked, and the next hook (update-status at the latest) tries again from scratch, so a
//! hook error would only hold up the hooks queued behind it. `remove` is the exception: it is
//! the last chance to delete a cluster-admin binding, so when deleting fails it fails the
//! hook, and Juju retries it (transient trouble) or waits for the operator (`juju trust`, then
//! `juju resolve`; `--force` gives up on the cleanup). Inputs Juju guarantees (model and unit
//! names, declared config) fail the hook too if they are ever wrong.

use charm_core::{Charm, CharmError, Event, Model};

use crate::agent_image;
use crate::cluster::Removed;
use crate::cluster_id::ClusterId;
use crate::connection::{Connect, Inferred};
use crate::image::{Image, UnitName};
use crate::objects::{AgentSpec, CLUSTER_ROLE_BINDING, Desired, NAMESPACE};
use crate::outcome::{Forbidden, Outcome};
use crate::owner::Owner;
use crate::protection;
use crate::resource::{OciImage, ResourceError};
use crate::status::{Report, Status, decide};

/// The config option holding the cluster's CloudCasa identifier.
pub const CLUSTER_ID_OPTION: &str = "clusterid";

/// The CloudCasa charm. `C` says how it reaches the cluster: [`Inferred`] in production,
/// a scripted API server in tests.
#[derive(Debug, Default)]
pub struct CloudCasa<C = Inferred> {
    connect: C,
}

/// `remove` could not delete the agent's objects: refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "{forbidden}: run juju trust {application} --scope=cluster and resolve this unit, or delete \
     cluster role binding {CLUSTER_ROLE_BINDING} and namespace {NAMESPACE} by hand"
)]
pub struct RemoveForbidden {
    /// The application, for the instructions.
    pub application: String,
    /// The refused request.
    pub forbidden: Forbidden,
}

impl<C: Connect> Charm for CloudCasa<C> {
    async fn handle(&mut self, event: &Event, model: &Model) -> Result<(), CharmError> {
        match event {
            Event::Stop => {
                tracing::debug!("stop: the agent keeps running (the pod may only be restarting)");
                Ok(())
            }
            Event::Remove => self.remove(model).await,
            Event::Action { name, .. } => self.action(name, model).await,
            _ => self.reconcile(model).await,
        }
    }

    async fn reconcile(&mut self, model: &Model) -> Result<(), CharmError> {
        // Related, the resource is read before the cluster is reached: asking for the image's
        // backup needs only its reference.
        let fetched = protection::is_related(model)?.then(|| OciImage::fetch(model));
        let from_resource = fetched
            .as_ref()
            .and_then(|found| found.as_ref().ok())
            .map(|found| found.image.clone());
        let converged = self.converge(model, fetched).await?;
        let agent_image = converged.agent_image.or(from_resource);
        let note = protection::reconcile(model, agent_image.as_ref())?;
        let status = converged.status;
        let suffix = note.as_ref().map(|n| format!("; {n}")).unwrap_or_default();
        // The status carries any error in full: logging it is logging everything.
        match &status {
            Status::Active => tracing::info!("agent deployed and available{suffix}"),
            Status::Waiting(message) => tracing::info!("waiting: {message}{suffix}"),
            Status::Blocked(message) => tracing::warn!("blocked: {message}{suffix}"),
        }
        model.add_status(status.noted(note.as_ref()));
        Ok(())
    }
}

/// What converging came to.
struct Converged {
    status: Status,
    /// The image the agent runs, when the leader found it.
    agent_image: Option<Image>,
}

impl Converged {
    fn status(status: Status) -> Self {
        Self {
            status,
            agent_image: None,
        }
    }
}

impl<C: Connect> CloudCasa<C> {
    /// Applies (leader) or reads (others), and says how it went. `fetched` is the resource when
    /// this hook has read it already.
    async fn converge(
        &self,
        model: &Model,
        fetched: Option<Result<OciImage, ResourceError>>,
    ) -> Result<Converged, CharmError> {
        let application = model.app_name();
        let owner = Owner::new(model.model_name(), application)?;
        let configured = model.config()?.string(CLUSTER_ID_OPTION)?;
        let cluster_id = ClusterId::parse(configured.as_deref().unwrap_or_default());
        let cluster = match self.connect.connect().await {
            Ok(cluster) => cluster,
            Err(e) => {
                return Ok(Converged::status(Status::Blocked(format!(
                    "cannot reach Kubernetes: {e}"
                ))));
            }
        };
        if !model.is_leader()? {
            let read = cluster.availability(&owner).await;
            return Ok(Converged::status(decide(
                application,
                &cluster_id,
                Report::Read(&read),
            )));
        }
        let mut image = None;
        let desired = match &cluster_id {
            // Everything but the agent, which cannot register without an identifier.
            Err(_) => Desired::without_agent(&owner),
            Ok(id) => {
                let unit = UnitName::parse(model.unit_name())?;
                let resource = fetched.unwrap_or_else(|| OciImage::fetch(model));
                match agent_image::find(resource, &cluster, model.model_name(), &unit).await {
                    Ok(found) => {
                        if found.credentials.is_some() {
                            tracing::warn!(
                                "the registry of {} wants credentials; the agent's pod is given \
                                 none (as with the Python charm), so the cluster must be able \
                                 to pull it anonymously",
                                found.image
                            );
                        }
                        image = Some(found.image.clone());
                        Desired::with_agent(&AgentSpec {
                            cluster_id: id.clone(),
                            image: found.image,
                            owner,
                        })
                    }
                    Err(no_image) => {
                        return Ok(Converged::status(decide(
                            application,
                            &cluster_id,
                            Report::NoImage(&no_image),
                        )));
                    }
                }
            }
        };
        let applied = cluster.apply(&desired).await;
        Ok(Converged {
            status: decide(application, &cluster_id, Report::Applied(&applied)),
            agent_image: image,
        })
    }

    /// Cleans up if the application is going away.
    async fn remove(&self, model: &Model) -> Result<(), CharmError> {
        let application = model.app_name();
        let planned = model.planned_units()?;
        if planned > 0 {
            tracing::info!(
                "{application} keeps {planned} unit(s): the CloudCasa agent stays in place"
            );
            return Ok(());
        }
        let owner = Owner::new(model.model_name(), application)?;
        let cluster = self.connect.connect().await?;
        match cluster.remove(&owner).await? {
            Outcome::Done(Removed {
                cluster_role_binding,
                namespace,
            }) => tracing::info!(
                "removed the CloudCasa agent: cluster role binding {CLUSTER_ROLE_BINDING} \
                 {cluster_role_binding:?}, namespace {NAMESPACE} {namespace:?}"
            ),
            Outcome::OwnedByOther(other) => tracing::warn!(
                "namespace {NAMESPACE} belongs to {other}: nothing of {application}'s to remove"
            ),
            Outcome::Forbidden(forbidden) => {
                return Err(RemoveForbidden {
                    application: application.to_owned(),
                    forbidden,
                }
                .into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
