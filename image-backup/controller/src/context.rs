//! What every reconcile shares: the client, settings, copier, caches, metrics and the event
//! recorder, plus the error type reconcilers return.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::{Api, Client};

use crate::copier::{CopyError, DockerConfig, ImageCopier};
use crate::crd::{ImageBackup, MANAGER, SecretRef};
use crate::health::Heartbeat;
use crate::lifecycle::Policy;
use crate::metrics::Metrics;
use crate::registries::RegistryHolds;
use crate::users::Users;
use crate::workload::Scope;

/// What the workload reconciler does to workloads whose images are all backed up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RolloutMode {
    /// Leave workloads alone.
    #[default]
    Off,
    /// Switch workloads to the backup images.
    Rollout,
    /// Put back the original images of workloads we switched before.
    RestoreOriginals,
}

/// Settings of a running controller, derived from its configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Namespace of the `ImageBackup` objects (and of the registry secret and the lease).
    pub namespace: String,
    /// This process, as written in `status.holder` and the lease.
    pub identity: String,
    pub scope: Scope,
    pub policy: Policy,
    pub rollout: RolloutMode,
    /// The backup registry's credentials file (a Docker `config.json`), read at start.
    pub registry_credentials: Option<DockerConfig>,
    /// `kubernetes.io/dockerconfigjson` secret with the backup registry's credentials.
    pub registry_secret: Option<String>,
    /// How often a running copy writes its progress (and proves it is alive).
    pub progress_interval: Duration,
}

pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub copier: Arc<dyn ImageCopier>,
    pub metrics: Arc<Metrics>,
    pub backups: Store<ImageBackup>,
    pub users: Users,
    /// Beats while backups are reconciled and copies move bytes (see [`crate::health`]).
    pub copy_progress: Arc<Heartbeat>,
    /// Registries on hold after failing.
    pub registries: RegistryHolds,
    reporter: Reporter,
}

/// A backup reconcile with no reconcile starting or ending and no copy moving a byte for this
/// long is wedged: every network step of a copy is bounded well below it.
pub const COPY_STALL_DEADLINE: Duration = Duration::from_secs(300);

impl Context {
    pub fn new(
        client: Client,
        settings: Settings,
        copier: Arc<dyn ImageCopier>,
        metrics: Arc<Metrics>,
        backups: Store<ImageBackup>,
    ) -> Self {
        let reporter = Reporter {
            controller: MANAGER.to_string(),
            instance: Some(settings.identity.clone()),
        };
        Self {
            reporter,
            client,
            settings,
            copier,
            metrics,
            backups,
            users: Users::default(),
            copy_progress: Heartbeat::on_demand("ImageBackup reconciler", COPY_STALL_DEADLINE),
            registries: RegistryHolds::default(),
        }
    }

    /// Posts an event. A failure to post is logged, never fatal: events are for humans.
    pub async fn event(&self, on: &ObjectReference, warning: bool, reason: &str, note: String) {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_string(),
            note: Some(note),
            action: "Backup".to_string(),
            secondary: None,
        };
        // A Recorder per event: a shared one caches every event it posted for six minutes so it
        // can fold repeats into a series, but our notes are unique (image, attempt), so nothing
        // ever folds, and with thousands of backups that cache was most of the heap.
        let recorder = Recorder::new(self.client.clone(), self.reporter.clone());
        if let Err(error) = recorder.publish(&event, on).await {
            tracing::warn!(%error, reason, object = ?on.name, "could not post event");
        }
    }

    /// Credentials for a copy, earlier ones winning: the credentials file, the registry
    /// secret, then the given pull secrets. A pull secret that cannot be read is skipped with a
    /// warning (the image may well be public); the registry secret, when one is configured,
    /// must be readable.
    pub async fn credentials(
        &self,
        pull_secrets: &[SecretRef],
    ) -> Result<Vec<DockerConfig>, Error> {
        let mut configs: Vec<DockerConfig> =
            self.settings.registry_credentials.iter().cloned().collect();
        if let Some(name) = &self.settings.registry_secret {
            let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.settings.namespace);
            let secret = api.get(name).await.map_err(|source| Error::Kube {
                context: format!("reading registry secret {}/{name}", self.settings.namespace),
                source,
            })?;
            configs.push(docker_config(&secret).map_err(|reason| Error::BadSecret {
                secret: format!("{}/{name}", self.settings.namespace),
                reason,
            })?);
        }
        for r in pull_secrets {
            let api: Api<Secret> = Api::namespaced(self.client.clone(), &r.namespace);
            match api
                .get(&r.name)
                .await
                .map_err(|e| e.to_string())
                .and_then(|s| docker_config(&s).map_err(str::to_string))
            {
                Ok(config) => configs.push(config),
                Err(error) => {
                    tracing::warn!(%error, secret = %format!("{}/{}", r.namespace, r.name), "skipping pull secret")
                }
            }
        }
        Ok(configs)
    }
}

/// The `.dockerconfigjson` of a `kubernetes.io/dockerconfigjson` secret.
pub fn docker_config(secret: &Secret) -> Result<DockerConfig, &'static str> {
    if secret.type_.as_deref() != Some("kubernetes.io/dockerconfigjson") {
        return Err("type is not kubernetes.io/dockerconfigjson");
    }
    let data = secret
        .data
        .as_ref()
        .and_then(|d| d.get(".dockerconfigjson"))
        .ok_or("no .dockerconfigjson key")?;
    Ok(DockerConfig(data.0.clone()))
}

/// Errors a reconcile returns; the runtime retries the object after a backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Kube {
        context: String,
        #[source]
        source: kube::Error,
    },
    #[error("secret {secret}: {reason}")]
    BadSecret {
        secret: String,
        reason: &'static str,
    },
    #[error("checking backup {backup}: {source}")]
    Recheck {
        backup: String,
        #[source]
        source: CopyError,
    },
    #[error("{context}: invalid JSON patch: {reason}")]
    BadPatch { context: String, reason: String },
    #[error("{kind} {name} has no namespace")]
    NoNamespace { kind: &'static str, name: String },
}

impl Error {
    /// Label for the reconcile error metric.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "kube",
            Error::BadSecret { .. } => "secret",
            Error::Recheck { .. } => "registry",
            Error::BadPatch { .. } => "patch",
            Error::NoNamespace { .. } => "invalid_object",
        }
    }

    pub(crate) fn kube(context: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let context = context.into();
        move |source| Error::Kube { context, source }
    }
}

/// True when a kube error is the API server's 409 Conflict (or AlreadyExists).
pub fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    #[tokio::test]
    async fn the_credentials_file_comes_first_and_needs_no_api_call() {
        let file = DockerConfig(br#"{"auths": {}}"#.to_vec());
        let f = crate::fixtures::fixture(Settings {
            registry_credentials: Some(file.clone()),
            ..crate::fixtures::settings()
        });
        // No secret configured and no pull secrets: the fixture's API server is never asked.
        assert_eq!(f.ctx.credentials(&[]).await.unwrap(), vec![file]);
    }

    #[test]
    fn docker_config_needs_the_right_type_and_key() {
        let mut secret = Secret {
            type_: Some("kubernetes.io/dockerconfigjson".into()),
            data: Some([(".dockerconfigjson".to_string(), ByteString(b"{}".to_vec()))].into()),
            ..Default::default()
        };
        assert_eq!(docker_config(&secret), Ok(DockerConfig(b"{}".to_vec())));
        secret.data = Some(Default::default());
        assert_eq!(docker_config(&secret), Err("no .dockerconfigjson key"));
        secret.type_ = Some("Opaque".into());
        assert_eq!(
            docker_config(&secret),
            Err("type is not kubernetes.io/dockerconfigjson")
        );
    }
}
