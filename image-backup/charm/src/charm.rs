//! The charm: one reconcile for every event, actions through the controller's API.

use charm_core::event::Event;
use charm_core::network::Port;
use charm_core::secret::SecretGet;
use charm_core::{Charm, CharmError, Model, ModelError};

use crate::admission::WebhookNames;
use crate::api::ControllerApi;
use crate::cluster::{self, Desired, Outcome, Owner};
use crate::config::{AdmissionMode, Options, ROLLOUT, Settings};
use crate::credentials::RegistryCredentials;
use crate::platform::{InCluster, Platform, advertised_api_address};
use crate::provider::{self, Report};
use crate::status::{self, ClusterState, Observed};
use crate::workload::{self, CONTAINER, GRPC_PORT, METRICS_PORT, WorkloadSpec};
use crate::{actions, metrics};

/// How long applying the CRD and RBAC may hold up a hook: an unreachable API server must not
/// keep the unit from reporting its status.
const CLUSTER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Stored-state key: the fingerprint of the cluster objects (CRD, RBAC, admission webhook)
/// last applied.
pub const APPLIED_KEY: &str = "cluster-applied";

/// The image-backup charm, reaching the cluster and the controller through `P`.
#[derive(Debug, Default)]
pub struct ImageBackupCharm<P: Platform = InCluster> {
    platform: P,
}

impl<P: Platform> Charm for ImageBackupCharm<P> {
    async fn handle(&mut self, event: &Event, model: &Model) -> Result<(), CharmError> {
        match event {
            Event::Action { name, .. } => self.action(name, model).await,
            // Stop also fires when the pod is merely restarted: nothing to undo.
            Event::Stop => Ok(()),
            Event::Remove => self.remove(model).await,
            _ => self.reconcile(model).await,
        }
    }

    async fn reconcile(&mut self, model: &Model) -> Result<(), CharmError> {
        let config = model.config()?;
        let options = Options::from_config(&config);
        let settings = options.as_ref().map(|o| &o.settings);
        let rollout = config.boolean(ROLLOUT).ok().flatten().unwrap_or(false);
        let cluster = match AdmissionMode::from_config(&config) {
            Ok(admission) => self.cluster(model, rollout, admission).await?,
            // The cluster stays as it is until the option is fixed (the status names it).
            Err(_) => ClusterState::Fine,
        };

        let (credentials, credentials_problem) = match settings {
            Ok(s) => match registry_credentials(model, s)? {
                Ok(c) => (c, None),
                Err(problem) => (None, Some(problem)),
            },
            Err(_) => (None, None),
        };

        let container = model.container(CONTAINER)?;
        let mut workload_error = None;
        // With invalid config or credentials the running controller is left as it is: it keeps
        // protecting images with the last good configuration while the operator fixes things.
        if let (Ok(o), None) = (&options, &credentials_problem) {
            let s = &o.settings;
            let file = credentials
                .as_ref()
                .map(|c| c.docker_config_json(s.registry_host()));
            let layer = workload::layer(&WorkloadSpec {
                settings: s,
                namespace: model.model_name(),
                with_credentials: file.is_some(),
            });
            let layer = workload::with_admission(layer, o.admission, &webhook_names(model));
            match workload::apply(&container, &layer, file.as_deref()).await {
                Ok(applied) => tracing::debug!(?applied, "controller layer"),
                Err(e) => workload_error = Some(e.to_string()),
            }
        }
        let health = match workload::health(&container).await {
            Ok(h) => h,
            Err(e) => workload::Health::NotRunning(e.to_string()),
        };

        model.open_port(Port::tcp(GRPC_PORT))?;
        metrics::publish(model, METRICS_PORT)?;
        let relations = match settings {
            Ok(s) => {
                let address = self.platform.controller_api();
                provider::serve(
                    model,
                    &s.backup_registry,
                    &advertised_api_address(model.app_name(), model.model_name()),
                    || async move { ControllerApi::connect(&address).await },
                )
                .await?
            }
            Err(_) => Report::default(),
        };

        model.add_status(status::decide(&Observed {
            app: model.app_name(),
            config: options.as_ref().map(|o| &o.settings),
            credentials: credentials_problem,
            cluster,
            workload_error,
            health,
            relations,
        }));
        Ok(())
    }

    async fn action(&mut self, name: &str, model: &Model) -> Result<(), CharmError> {
        actions::run(name, model, &self.platform.controller_api()).await
    }
}

impl<P: Platform> ImageBackupCharm<P> {
    /// When the last unit goes (the application is being removed), deletes the admission
    /// webhook's objects and the roles and bindings the charm applied. Best effort: a refusal or
    /// failure is logged, and the hook succeeds so the removal is not held up. The CRD and the
    /// backup records stay.
    async fn remove(&self, model: &Model) -> Result<(), CharmError> {
        if model.planned_units()? > 0 {
            return Ok(());
        }
        let owner = owner(model);
        let desired = Desired::new(&owner, true)?;
        let client = match self.platform.kube_client().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot remove the controller's RBAC: no client");
                return Ok(());
            }
        };
        match cluster::remove(&client, &owner, &desired).await {
            Ok(Outcome::Done) => {
                tracing::info!("removed the controller's RBAC and admission webhook")
            }
            Ok(Outcome::Forbidden {
                object, message, ..
            }) => {
                tracing::warn!(%object, %message, "not allowed to remove the controller's RBAC")
            }
            Err(e) => tracing::warn!(error = %e, "removing the controller's RBAC failed"),
        }
        Ok(())
    }

    /// Applies the CRD and RBAC, and the admission webhook's objects or their deletion, when
    /// this unit leads and they changed since the last successful apply (always on install and
    /// upgrade). A refusal or failure is remembered by not recording the apply, so the next
    /// hook (e.g. the config-changed that `juju trust` fires) tries again.
    async fn cluster(
        &self,
        model: &Model,
        rollout: bool,
        admission: AdmissionMode,
    ) -> Result<ClusterState, CharmError> {
        if !model.is_leader()? {
            return Ok(ClusterState::Fine);
        }
        let owner = owner(model);
        let desired = Desired::with_admission(&owner, rollout, admission)?;
        let fingerprint = desired.fingerprint();
        let forced = matches!(model.event(), Some(Event::Install | Event::UpgradeCharm));
        if !forced && model.stored::<String>(APPLIED_KEY)?.as_deref() == Some(&fingerprint) {
            return Ok(ClusterState::Fine);
        }
        let client = match self.platform.kube_client().await {
            Ok(c) => c,
            Err(e) => {
                return Ok(ClusterState::Unreachable(format!(
                    "no Kubernetes client: {e}"
                )));
            }
        };
        let applying = cluster::apply(&client, &owner, &desired);
        let Ok(applied) = tokio::time::timeout(CLUSTER_TIMEOUT, applying).await else {
            return Ok(ClusterState::Failed(format!(
                "the API server did not answer within {}s",
                CLUSTER_TIMEOUT.as_secs()
            )));
        };
        Ok(match applied {
            Ok(Outcome::Done) => {
                tracing::info!(
                    admission = admission.as_str(),
                    "applied the controller's CRD and RBAC"
                );
                model.store(APPLIED_KEY, &fingerprint)?;
                ClusterState::Fine
            }
            Ok(Outcome::Forbidden {
                verb,
                object,
                message,
            }) => {
                tracing::warn!(verb = verb.as_str(), %object, %message, "changing the controller's cluster objects was refused");
                ClusterState::Forbidden {
                    verb,
                    object,
                    message,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "changing the controller's cluster objects failed");
                ClusterState::Failed(e.to_string())
            }
        })
    }
}

/// The admission webhook's objects for this application.
fn webhook_names(model: &Model) -> WebhookNames {
    WebhookNames::new(&owner(model))
}

fn owner(model: &Model) -> Owner {
    Owner {
        model: model.model_name().to_string(),
        app: model.app_name().to_string(),
    }
}

/// The registry credentials: `Ok(Ok(None))` when none are configured, `Ok(Err(problem))` when
/// the secret cannot be used (a status), `Err` for anything else (the hook fails and is
/// retried).
fn registry_credentials(
    model: &Model,
    settings: &Settings,
) -> Result<Result<Option<RegistryCredentials>, String>, ModelError> {
    let Some(id) = &settings.credentials_secret else {
        return Ok(Ok(None));
    };
    // Refresh: a new revision (secret-changed) is picked up and tracked from now on.
    let content = match model.secret(id, SecretGet::Refresh) {
        Ok(content) => content,
        Err(e) if e.is_not_found() => {
            return Ok(Err(format!(
                "secret {id} not found or not granted: run `juju grant-secret {id} {}`",
                model.app_name()
            )));
        }
        Err(e) => return Err(e),
    };
    Ok(RegistryCredentials::from_secret(&content)
        .map(Some)
        .map_err(|reason| format!("secret {id}: {reason}")))
}
