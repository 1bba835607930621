//! Assembles a running controller: caches, the two reconcilers, the HTTP endpoints and leader
//! election.
//!
//! Every replica keeps a read cache of `ImageBackup` objects (metrics and the API are served
//! from it); only the leader runs the reconcilers. A leader that loses its lease returns
//! [`RunError::LostLeadership`] so that the process exits and Kubernetes restarts it as a fresh
//! standby, the way client-go controllers do: nothing of the old term can linger.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use image_backup_copier::{ClientOptions, CopyOptions};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{PredicateConfig, WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;

use crate::config::ControllerConfig;
use crate::context::{Context, Settings};
use crate::copier::{ImageCopier, RegistryCopier};
use crate::crd::{ImageBackup, MANAGER};
use crate::grpc::BackupApi;
use crate::http::{HttpState, Readiness};
use crate::lease::LeaseLock;
use crate::lifecycle::Policy;
use crate::metrics::Metrics;
use crate::rollout::ORIGINALS_ANNOTATION;
use crate::workload::{Scope, Workload, container_images};
use crate::{backup, inventory};

/// Lease duration; the leader renews every third of it.
const LEASE_DURATION: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("serving HTTP on {addr}: {source}")]
    Http {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("serving gRPC: {0}")]
    Grpc(String),
    #[error("connecting to Kubernetes: {0}")]
    Kube(#[source] kube::Error),
    #[error("setting up the registry client: {0}")]
    Copier(String),
    #[error("lost the leader lease; exiting so that a fresh process takes over")]
    LostLeadership,
}

impl ControllerConfig {
    pub fn settings(&self) -> Settings {
        Settings {
            namespace: self.namespace.clone(),
            identity: self.identity.clone(),
            scope: Scope {
                excluded_namespaces: self.exclude_namespaces.clone(),
                naming: self.naming.clone(),
            },
            policy: Policy {
                max_attempts: self.max_attempts,
                recheck_interval: self.recheck_interval,
                ..Policy::default()
            },
            rollout: self.rollout,
            registry_credentials: self.registry_credentials.clone(),
            registry_secret: self.registry_secret.clone(),
            progress_interval: Duration::from_secs(10),
        }
    }
}

/// Runs the controller against the cluster of the environment (in-cluster service account or
/// `KUBECONFIG`) and real registries, until SIGTERM or Ctrl-C.
pub async fn run(config: ControllerConfig) -> Result<(), RunError> {
    // kube and the copier both use rustls with ring; installing it first keeps any other
    // provider from being picked (a second one makes rustls panic).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = Client::try_default().await.map_err(RunError::Kube)?;
    let options = CopyOptions {
        client: ClientOptions {
            insecure_registries: config.insecure_registries.clone(),
            ..ClientOptions::default()
        },
        ..CopyOptions::default()
    };
    let copier = RegistryCopier::new(options).map_err(|e| RunError::Copier(e.to_string()))?;
    run_with(client, config, Arc::new(copier), shutdown_signal()).await
}

/// Completes on SIGTERM (what Kubernetes sends) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Runs the controller with the given client and copier until `shutdown` completes (or
/// leadership is lost).
pub async fn run_with(
    client: Client,
    config: ControllerConfig,
    copier: Arc<dyn ImageCopier>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopping = move || {
        let mut rx = stop_rx.clone();
        async move {
            // An error means the sender is gone, which also means stop.
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });

    // Every replica keeps the read cache; it marks the process ready once synced.
    let (backups, writer) = reflector::store::<ImageBackup>();
    let readiness = Readiness::default();
    let api: Api<ImageBackup> = Api::namespaced(client.clone(), &config.namespace);
    let cache = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default())
            .default_backoff()
            .modify(drop_managed_fields),
    )
    .for_each(|_| futures::future::ready(()));
    let mark_ready = {
        let (backups, readiness) = (backups.clone(), readiness.clone());
        async move {
            if backups.wait_until_ready().await.is_ok() {
                tracing::info!("ImageBackup cache synced");
                readiness.set_ready();
            }
        }
    };
    let ctx = Arc::new(Context::new(
        client,
        config.settings(),
        copier,
        Arc::new(Metrics::default()),
        backups,
    ));

    let http_state = HttpState {
        metrics: ctx.metrics.clone(),
        backups: ctx.backups.clone(),
        readiness: readiness.clone(),
    };
    let addr = config.metrics_addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Http { addr, source })?;
    tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
    let http_stop = stopping();
    let http = async move {
        axum::serve(listener, crate::http::router(http_state))
            .with_graceful_shutdown(http_stop)
            .await
            .map_err(|source| RunError::Http { addr, source })
    };

    let grpc_addr = config.grpc_addr;
    let grpc_listener = tokio::net::TcpListener::bind(grpc_addr)
        .await
        .map_err(|source| RunError::Http {
            addr: grpc_addr,
            source,
        })?;
    tracing::info!(addr = %grpc_addr, "serving the ImageBackupService gRPC API");
    // Admission webhook (`--admission`): served by every replica; a no-op when off.
    let journal = Arc::new(crate::admission::Journal::new(config.admission.mode));
    let admission = crate::admission::serve(ctx.clone(), &config, journal.clone(), stopping());

    let grpc_stop = stopping();
    let api = BackupApi::new(ctx.clone(), readiness).with_admissions(journal);
    let grpc = async move {
        tonic::transport::Server::builder()
            .add_service(api.into_server())
            .serve_with_incoming_shutdown(TcpListenerStream::new(grpc_listener), grpc_stop)
            .await
            .map_err(|e| RunError::Grpc(e.to_string()))
    };

    let leading = async {
        if !config.leader_election {
            controllers(ctx.clone(), &config, stopping()).await;
            return Ok(());
        }
        let lock = LeaseLock::new(
            ctx.client.clone(),
            &config.namespace,
            MANAGER,
            &config.identity,
            LEASE_DURATION,
        );
        let (tx, mut rx) = watch::channel(false);
        let elector = tokio::spawn(lock.run(tx));
        tokio::select! {
            _ = rx.wait_for(|l| *l) => {}
            _ = stopping() => { elector.abort(); return Ok(()); }
        }
        let result = tokio::select! {
            _ = controllers(ctx.clone(), &config, stopping()) => Ok(()),
            _ = rx.wait_for(|l| !*l) => Err(RunError::LostLeadership),
        };
        elector.abort();
        let release = LeaseLock::new(
            ctx.client.clone(),
            &config.namespace,
            MANAGER,
            &config.identity,
            LEASE_DURATION,
        );
        if result.is_ok()
            && let Err(error) = release.release().await
        {
            tracing::warn!(%error, "could not release the lease");
        }
        result
    };

    let background = async {
        tokio::select! {
            _ = cache => {}
            _ = stopping() => {}
        }
    };
    let (http, grpc, leading, admission, (), ()) =
        tokio::join!(http, grpc, leading, admission, background, mark_ready);
    leading?;
    grpc?;
    admission?;
    http
}

/// The reconcilers, until `stop` completes.
async fn controllers(
    ctx: Arc<Context>,
    config: &ControllerConfig,
    stop: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let stop = stop.shared();
    let concurrency = controller::Config::default().concurrency(config.concurrency);
    let (reader, writer) = reflector::store::<ImageBackup>();
    let stream = watcher(
        Api::<ImageBackup>::namespaced(client.clone(), &config.namespace),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(drop_managed_fields)
    .reflect(writer)
    .applied_objects();
    let backups = Controller::for_stream(stream, reader)
        .with_config(concurrency.clone())
        .graceful_shutdown_on(stop.clone())
        .run(backup::reconcile, backup::error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()));
    let deployments =
        workload_controller::<Deployment>(ctx.clone(), config, concurrency.clone(), stop.clone());
    let daemonsets =
        workload_controller::<DaemonSet>(ctx.clone(), config, concurrency.clone(), stop.clone());
    let statefulsets = workload_controller::<StatefulSet>(ctx.clone(), config, concurrency, stop);
    tracing::info!(identity = %config.identity, "controllers started");
    futures::join!(backups, deployments, daemonsets, statefulsets);
}

/// A controller for one workload kind. Excluded namespaces are left out by the watch's field
/// selector (the API server does the filtering), cached objects are stripped of what we never
/// read, and only changes that can matter (readiness, images, our annotation) trigger a
/// reconcile.
fn workload_controller<K: Workload>(
    ctx: Arc<Context>,
    config: &ControllerConfig,
    concurrency: controller::Config,
    stop: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> {
    let api = Api::<K>::all(ctx.client.clone());
    let (reader, writer) = reflector::store::<K>();
    let stream = watcher(api, watch_config(&config.exclude_namespaces))
        .default_backoff()
        .modify(slim::<K>)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(relevant::<K>, PredicateConfig::default());
    let mut controller = Controller::for_stream(stream, reader)
        .with_config(concurrency)
        .graceful_shutdown_on(stop);
    if config.rollout == crate::context::RolloutMode::Rollout {
        // A backup that changes (becomes Done) wakes the workloads that use it.
        let users = ctx.clone();
        controller = controller.watches(
            Api::<ImageBackup>::namespaced(ctx.client.clone(), &config.namespace),
            watcher::Config::default(),
            move |backup: ImageBackup| {
                users
                    .users
                    .of(&backup.name_any(), K::KIND)
                    .into_iter()
                    .map(|w| ObjectRef::<K>::new(&w.name).within(&w.namespace))
            },
        );
    }
    controller
        .run(inventory::reconcile::<K>, inventory::error_policy::<K>, ctx)
        .for_each(|_| futures::future::ready(()))
}

/// `metadata.namespace!=a,metadata.namespace!=b`: supported for every resource type.
pub fn watch_config(excluded: &[String]) -> watcher::Config {
    let selector: Vec<String> = excluded
        .iter()
        .map(|n| format!("metadata.namespace!={n}"))
        .collect();
    let config = watcher::Config::default();
    if selector.is_empty() {
        config
    } else {
        config.fields(&selector.join(","))
    }
}

/// Drops what the controller never reads, to keep the cache small.
fn slim<K: Workload>(workload: &mut K) {
    let meta = workload.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|k, _| k == ORIGINALS_ANNOTATION);
    }
}

/// managedFields can be larger than the rest of an object, and nothing here reads them.
fn drop_managed_fields(backup: &mut ImageBackup) {
    backup.metadata.managed_fields = None;
}

/// Hash of what the workload reconciler looks at.
fn relevant<K: Workload>(workload: &K) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    workload.is_ready().hash(&mut hasher);
    if let Some(spec) = workload.pod_spec() {
        for c in container_images(spec) {
            c.image.hash(&mut hasher);
        }
        if let Some(secrets) = &spec.image_pull_secrets {
            for s in secrets {
                s.name.hash(&mut hasher);
            }
        }
    }
    workload
        .annotations()
        .get(ORIGINALS_ANNOTATION)
        .hash(&mut hasher);
    Some(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::tests::{deployment, pod};

    #[test]
    fn excluded_namespaces_become_a_field_selector() {
        let config = watch_config(&["kube-system".into(), "image-backup".into()]);
        assert_eq!(
            config.field_selector.as_deref(),
            Some("metadata.namespace!=kube-system,metadata.namespace!=image-backup")
        );
        assert_eq!(watch_config(&[]).field_selector, None);
    }

    #[test]
    fn only_relevant_changes_trigger() {
        let base = deployment("ns", "d", Some(1), Some(1), pod(&[], &["nginx"]));
        let mut scaled_status = base.clone();
        scaled_status.status.as_mut().unwrap().observed_generation = Some(9);
        assert_eq!(
            relevant(&base),
            relevant(&scaled_status),
            "unrelated status change"
        );
        let unready = deployment("ns", "d", Some(1), Some(0), pod(&[], &["nginx"]));
        assert_ne!(relevant(&base), relevant(&unready));
        let other_image = deployment("ns", "d", Some(1), Some(1), pod(&[], &["redis"]));
        assert_ne!(relevant(&base), relevant(&other_image));
    }

    #[test]
    fn slim_keeps_only_our_annotation() {
        let mut d = deployment("ns", "d", Some(1), Some(1), pod(&[], &["nginx"]));
        d.metadata.annotations = Some(
            [
                (
                    "kubectl.kubernetes.io/last-applied-configuration".to_string(),
                    "{...}".to_string(),
                ),
                (ORIGINALS_ANNOTATION.to_string(), "{}".to_string()),
            ]
            .into(),
        );
        d.metadata.managed_fields = Some(vec![Default::default()]);
        slim(&mut d);
        assert_eq!(d.metadata.annotations.unwrap().len(), 1);
        assert!(d.metadata.managed_fields.is_none());
    }
}
