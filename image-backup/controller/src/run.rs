//! Assembles a running controller: caches, the two reconcilers, the HTTP and gRPC servers and
//! leader election, as a set of [`Parts`] that stop together.
//!
//! Every replica keeps a read cache of `ImageBackup` objects (metrics and the API are served
//! from it) and serves HTTP and gRPC; only the leader runs the reconcilers.
//!
//! # When things go wrong
//! - **API server outage.** Every watch (caches and reconciler triggers) is kube-runtime's
//!   watcher: it never ends on an error, retries with a backoff capped at
//!   [`WATCH_BACKOFF_MAX`], re-lists when its resourceVersion is gone, and drops a watch that
//!   has been silent for the watch timeout plus 5 s (a connection the outage left dead). API
//!   requests that get no answer fail after the watch timeout plus [`API_READ_MARGIN`] (kube's
//!   default is to wait forever). Reconciles that fail are retried by the runtime. So a short
//!   outage costs nothing but the backoff; a workload created meanwhile is seen on the next
//!   watch.
//! - **Lost lease.** An outage longer than the renew deadline, or another replica holding the
//!   lease, ends [`crate::lease::Elector::hold`]. The reconcilers are dropped on the spot, which
//!   cancels every reconcile in flight, copies included (kube-runtime polls them inside its
//!   stream, not as tasks); the lease is not written again; the servers get
//!   [`SHUTDOWN_GRACE`] to stop; [`run()`] returns [`RunError::LostLeadership`] and the process
//!   exits non-zero, so Kubernetes or Pebble starts a fresh standby, as client-go controllers
//!   do. The copy is resumed by the next leader at once ([`crate::lifecycle`]), without
//!   re-sending blobs the backup registry already has.
//! - **SIGTERM.** The same, except that the lease is released so a standby leads at once.
//! - **A wedged loop.** `/healthz` fails ([`crate::health`]), and the liveness probe restarts
//!   the process.
//!
//! A new long-running part (another server) is one [`Parts::spawn`] of a future that returns
//! once the shared stop token is cancelled.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use image_backup_copier::{ClientOptions, CopyOptions};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::utils::Backoff;
use kube::runtime::{PredicateConfig, WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::task::JoinSet;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use crate::config::ControllerConfig;
use crate::context::{Context, Settings};
use crate::copier::{ImageCopier, RegistryCopier};
use crate::crd::{ImageBackup, MANAGER};
use crate::grpc::BackupApi;
use crate::health::{Heartbeat, Liveness};
use crate::http::{HttpState, Readiness};
use crate::lease::{Elector, LeaseLock, LeaseLost};
use crate::lifecycle::Policy;
use crate::metrics::Metrics;
use crate::rollout::ORIGINALS_ANNOTATION;
use crate::workload::{Scope, Workload, container_images};
use crate::{backup, inventory};

/// How long the servers get to finish in-flight requests once the process stops.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// The longest pause between two tries of a failing watch.
pub const WATCH_BACKOFF_MAX: Duration = Duration::from_secs(8);
/// An API request gets no answer for the watch timeout plus this before it fails.
pub const API_READ_MARGIN: Duration = Duration::from_secs(15);

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
    #[error("Kubernetes client configuration: {0}")]
    KubeConfig(String),
    #[error("connecting to Kubernetes: {0}")]
    Kube(#[source] kube::Error),
    #[error("setting up the registry client: {0}")]
    Copier(String),
    #[error("lost the leader lease ({0}); exiting so that a fresh process takes over")]
    LostLeadership(#[source] LeaseLost),
    #[error("{0} stopped unexpectedly")]
    PartEnded(&'static str),
    #[error("{0} panicked")]
    Panicked(&'static str),
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

    /// How long an API request may go unanswered.
    pub fn api_read_timeout(&self) -> Duration {
        self.watch_timeout + API_READ_MARGIN
    }
}

/// Runs the controller against the cluster of `config.kubeconfig` (else the in-cluster service
/// account or `KUBECONFIG`) and real registries, until SIGTERM or Ctrl-C, or until it loses the
/// lease ([`RunError::LostLeadership`]).
pub async fn run(config: ControllerConfig) -> Result<(), RunError> {
    // kube and the copier both use rustls with ring; installing it first keeps any other
    // provider from being picked (a second one makes rustls panic).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube_client(&config).await?;
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

/// The Kubernetes client of `config`. Unlike kube's default, a request that gets no answer
/// fails (after [`ControllerConfig::api_read_timeout`], longer than any watch stays silent):
/// an API server that vanished without closing connections must not hang a reconcile forever.
pub async fn kube_client(config: &ControllerConfig) -> Result<Client, RunError> {
    let mut kube = match &config.kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| RunError::KubeConfig(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(file, &Default::default())
                .await
                .map_err(|e| RunError::KubeConfig(format!("{}: {e}", path.display())))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| RunError::KubeConfig(e.to_string()))?,
    };
    kube.read_timeout = Some(config.api_read_timeout());
    // Count from when a request is sent, not from when its pooled connection went idle.
    kube.reset_reader_on_write = true;
    Client::try_from(kube).map_err(RunError::Kube)
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

/// Runs the controller with the given client and copier until `shutdown` completes or
/// leadership is lost.
pub async fn run_with(
    client: Client,
    config: ControllerConfig,
    copier: Arc<dyn ImageCopier>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    // Ports first: a port in use fails the start before anything runs.
    let addr = config.metrics_addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Http { addr, source })?;
    let grpc_addr = config.grpc_addr;
    let grpc_listener = tokio::net::TcpListener::bind(grpc_addr)
        .await
        .map_err(|source| RunError::Http {
            addr: grpc_addr,
            source,
        })?;

    let mut parts = Parts::new();
    let stop = parts.stop.clone();
    parts.stop_on(shutdown);

    // Every replica keeps the read cache; it marks the process ready once synced.
    let (backups, writer) = reflector::store::<ImageBackup>();
    let readiness = Readiness::default();
    let liveness = Liveness::default();
    let api: Api<ImageBackup> = Api::namespaced(client.clone(), &config.namespace);
    let cache = reflector::reflector(
        writer,
        watcher(api, watch_config(&config, &[]))
            .backoff(WatchBackoff::default())
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
    let cache_stop = stop.clone();
    parts.spawn("the ImageBackup cache", async move {
        tokio::select! {
            _ = futures::future::join(cache, mark_ready) => Err(RunError::PartEnded("the ImageBackup cache")),
            _ = cache_stop.cancelled() => Ok(()),
        }
    });
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
        liveness: liveness.clone(),
    };
    tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
    let http_stop = stop.clone().cancelled_owned();
    parts.spawn("the HTTP server", async move {
        axum::serve(listener, crate::http::router(http_state))
            .with_graceful_shutdown(http_stop)
            .await
            .map_err(|source| RunError::Http { addr, source })
    });

    tracing::info!(addr = %grpc_addr, "serving the ImageBackupService gRPC API");
    // The admission webhook (`--admission`): served by every replica, not only the leader.
    let journal = Arc::new(crate::admission::Journal::new(config.admission.mode));
    if config.admission.mode != crate::admission::Mode::Off {
        let admission_stop = stop.clone().cancelled_owned();
        let admission =
            crate::admission::serve(ctx.clone(), &config, journal.clone(), admission_stop);
        parts.spawn("the admission webhook", admission);
    }
    let grpc_stop = stop.clone().cancelled_owned();
    let api = BackupApi::new(ctx.clone(), readiness).with_admissions(journal);
    parts.spawn("the gRPC server", async move {
        tonic::transport::Server::builder()
            .add_service(api.into_server())
            .serve_with_incoming_shutdown(TcpListenerStream::new(grpc_listener), grpc_stop)
            .await
            .map_err(|e| RunError::Grpc(e.to_string()))
    });

    parts.spawn("the leader", lead(ctx, config, liveness, stop));
    parts.wait().await
}

/// The process's long-running parts. They stop together: on the stop token (SIGTERM), or as
/// soon as any of them ends (the leader losing its lease, a server failing). Each must return
/// soon after the token is cancelled; whatever has not after [`SHUTDOWN_GRACE`] (a gRPC stream
/// that does not end, say) is aborted.
pub struct Parts {
    stop: CancellationToken,
    set: JoinSet<(&'static str, Result<(), RunError>)>,
}

impl Parts {
    fn new() -> Self {
        Self {
            stop: CancellationToken::new(),
            set: JoinSet::new(),
        }
    }

    /// Cancels the stop token when `shutdown` completes.
    fn stop_on(&self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let stop = self.stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown => {
                    tracing::info!("shutting down");
                    stop.cancel();
                }
                _ = stop.cancelled() => {}
            }
        });
    }

    pub fn spawn(
        &mut self,
        name: &'static str,
        part: impl Future<Output = Result<(), RunError>> + Send + 'static,
    ) {
        use futures::FutureExt;
        self.set.spawn(async move {
            let result = std::panic::AssertUnwindSafe(part).catch_unwind().await;
            (name, result.unwrap_or(Err(RunError::Panicked(name))))
        });
    }

    /// Waits for the stop token or the first part to end, stops the rest, and returns the
    /// first error.
    async fn wait(mut self) -> Result<(), RunError> {
        let mut first_error = None;
        tokio::select! {
            // A part that saw the token before this select did is stopping, not failing.
            Some(joined) = self.set.join_next() => {
                first_error = failure(joined, self.stop.is_cancelled());
            }
            _ = self.stop.cancelled() => {}
        }
        self.stop.cancel();
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        loop {
            let joined = match tokio::time::timeout_at(deadline, self.set.join_next()).await {
                Ok(Some(joined)) => joined,
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!(
                        left = self.set.len(),
                        "parts of the controller did not stop within {SHUTDOWN_GRACE:?}; aborting them"
                    );
                    self.set.abort_all();
                    continue;
                }
            };
            if let Some(error) = failure(joined, true) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// What a part's end means: an error, or nothing wrong. A part that ends on its own before the
/// process stops is an error even if it returned `Ok`.
fn failure(
    joined: Result<(&'static str, Result<(), RunError>), tokio::task::JoinError>,
    stopping: bool,
) -> Option<RunError> {
    match joined {
        Ok((_, Err(error))) => Some(error),
        Ok((name, Ok(()))) => (!stopping).then_some(RunError::PartEnded(name)),
        // Aborted after the grace period: reported then.
        Err(_) => None,
    }
}

/// Leads while the lease is ours: the reconcilers run until `stop` or until the lease is lost.
async fn lead(
    ctx: Arc<Context>,
    config: ControllerConfig,
    liveness: Liveness,
    stop: CancellationToken,
) -> Result<(), RunError> {
    if !config.leader_election {
        tokio::select! {
            () = controllers(ctx, &config, &liveness) => {}
            _ = stop.cancelled() => {}
        }
        return Ok(());
    }
    let timings = config.lease;
    let lock = LeaseLock::new(
        ctx.client.clone(),
        &config.namespace,
        MANAGER,
        &config.identity,
        timings.duration(),
    );
    // A try is bounded by the renew deadline and tries are a retry period apart.
    let deadline = (timings.renew_deadline() + timings.retry_period()) * 2;
    let heartbeat = liveness.watch(Heartbeat::periodic("leader election", deadline));
    let elector = Elector::new(lock, timings, heartbeat);
    let acquired = tokio::select! {
        at = elector.acquire() => at,
        _ = stop.cancelled() => return Ok(()),
    };
    // Whichever branch wins, the others are dropped: dropping the reconcilers cancels every
    // reconcile in flight at once, copies included.
    tokio::select! {
        () = controllers(ctx, &config, &liveness) => {}
        lost = elector.hold(acquired) => {
            tracing::warn!(identity = %config.identity, reason = %lost, "stepping down: lost the lease");
            return Err(RunError::LostLeadership(lost));
        }
        _ = stop.cancelled() => {}
    }
    elector.release().await;
    Ok(())
}

/// The reconcilers; they run until dropped.
async fn controllers(ctx: Arc<Context>, config: &ControllerConfig, liveness: &Liveness) {
    let client = ctx.client.clone();
    let concurrency = controller::Config::default().concurrency(config.concurrency);
    let (reader, writer) = reflector::store::<ImageBackup>();
    let stream = watcher(
        Api::<ImageBackup>::namespaced(client.clone(), &config.namespace),
        watch_config(config, &[]),
    )
    .backoff(WatchBackoff::default())
    .modify(drop_managed_fields)
    .reflect(writer)
    .applied_objects();
    let progress = liveness.watch(ctx.copy_progress.clone());
    let backups = Controller::for_stream(stream, reader)
        .with_config(concurrency.clone())
        .run(
            move |backup, ctx| {
                let busy = progress.busy();
                async move {
                    let _busy = busy;
                    backup::reconcile(backup, ctx).await
                }
            },
            backup::error_policy,
            ctx.clone(),
        )
        .for_each(|_| futures::future::ready(()));
    let deployments =
        workload_controller::<Deployment>(ctx.clone(), config, concurrency.clone(), liveness);
    let daemonsets =
        workload_controller::<DaemonSet>(ctx.clone(), config, concurrency.clone(), liveness);
    let statefulsets =
        workload_controller::<StatefulSet>(ctx.clone(), config, concurrency, liveness);
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
    liveness: &Liveness,
) -> impl Future<Output = ()> + use<K> {
    let api = Api::<K>::all(ctx.client.clone());
    let (reader, writer) = reflector::store::<K>();
    let stream = watcher(api, watch_config(config, &config.exclude_namespaces))
        .backoff(WatchBackoff::default())
        .modify(slim::<K>)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(relevant::<K>, PredicateConfig::default());
    let mut controller = Controller::for_stream(stream, reader).with_config(concurrency);
    if config.rollout == crate::context::RolloutMode::Rollout {
        // A backup that changes (becomes Done) wakes the workloads that use it. Through a
        // stream of our own: `Controller::watches` has no backoff, and would retry a failing
        // watch in a tight loop through an outage.
        let users = ctx.clone();
        let backups = watcher(
            Api::<ImageBackup>::namespaced(ctx.client.clone(), &config.namespace),
            watch_config(config, &[]),
        )
        .backoff(WatchBackoff::default())
        .touched_objects();
        controller = controller.watches_stream(backups, move |backup: ImageBackup| {
            users
                .users
                .of(&backup.name_any(), K::KIND)
                .into_iter()
                .map(|w| ObjectRef::<K>::new(&w.name).within(&w.namespace))
        });
    }
    // Its API calls are bounded by the client's read timeout; a few of them per reconcile.
    let deadline = config.api_read_timeout() * 3;
    let heartbeat = liveness.watch(Heartbeat::on_demand(
        format!("{} reconciler", K::KIND),
        deadline,
    ));
    controller
        .run(
            move |workload, ctx| {
                let busy = heartbeat.busy();
                async move {
                    let _busy = busy;
                    inventory::reconcile::<K>(workload, ctx).await
                }
            },
            inventory::error_policy::<K>,
            ctx,
        )
        .for_each(|_| futures::future::ready(()))
}

/// The watch timeout of `config`, and `metadata.namespace!=a,metadata.namespace!=b` for the
/// excluded namespaces (supported for every resource type).
pub fn watch_config(config: &ControllerConfig, excluded: &[String]) -> watcher::Config {
    let selector: Vec<String> = excluded
        .iter()
        .map(|n| format!("metadata.namespace!={n}"))
        .collect();
    let timeout = u32::try_from(config.watch_timeout.as_secs().max(1)).unwrap_or(u32::MAX);
    let config = watcher::Config::default().timeout(timeout);
    if selector.is_empty() {
        config
    } else {
        config.fields(&selector.join(","))
    }
}

/// Backoff between tries of a failing watch: doubling from half a second to
/// [`WATCH_BACKOFF_MAX`], reset by any success. kube's default goes up to 30 s, which would let a
/// workload created just after an outage wait that long to be seen.
#[derive(Debug)]
pub struct WatchBackoff {
    next: Duration,
}

impl WatchBackoff {
    const FIRST: Duration = Duration::from_millis(500);
}

impl Default for WatchBackoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = self.next;
        self.next = (self.next * 2).min(WATCH_BACKOFF_MAX);
        tracing::debug!(?delay, "watch failed; retrying");
        Some(delay)
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = Self::FIRST;
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
        let mut c = test_config();
        c.watch_timeout = Duration::from_secs(30);
        let config = watch_config(&c, &["kube-system".into(), "image-backup".into()]);
        assert_eq!(
            config.field_selector.as_deref(),
            Some("metadata.namespace!=kube-system,metadata.namespace!=image-backup")
        );
        assert_eq!(config.timeout, Some(30));
        assert_eq!(watch_config(&c, &[]).field_selector, None);
    }

    fn test_config() -> ControllerConfig {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: crate::Args,
        }
        let cli = Cli::try_parse_from(["t", "--backup-registry", "r.local"]).unwrap();
        ControllerConfig::try_from(cli.args).unwrap()
    }

    #[test]
    fn watch_backoff_doubles_to_its_cap_and_resets() {
        let mut backoff = WatchBackoff::default();
        let delays: Vec<u64> = (&mut backoff)
            .take(6)
            .map(|d| d.as_millis() as u64)
            .collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 8000]);
        backoff.reset();
        assert_eq!(backoff.next(), Some(Duration::from_millis(500)));
    }

    #[tokio::test]
    async fn parts_stop_together_when_one_ends_and_the_first_error_wins() {
        let mut parts = Parts::new();
        let stop = parts.stop.clone();
        parts.spawn("the leader", async {
            Err(RunError::LostLeadership(LeaseLost::TakenOver))
        });
        parts.spawn("a server", async move {
            stop.cancelled().await;
            Ok(())
        });
        parts.spawn("a stubborn stream", std::future::pending());
        let started = tokio::time::Instant::now();
        let result = parts.wait().await;
        assert!(
            matches!(result, Err(RunError::LostLeadership(LeaseLost::TakenOver))),
            "{result:?}"
        );
        assert!(started.elapsed() < SHUTDOWN_GRACE + Duration::from_secs(2));

        let mut parts = Parts::new();
        parts.spawn("the gRPC server", async { Ok(()) });
        assert!(matches!(
            parts.wait().await,
            Err(RunError::PartEnded("the gRPC server"))
        ));
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
