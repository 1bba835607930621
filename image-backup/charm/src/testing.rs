//! A fake image-backup controller for tests (cargo feature `testing`): the real generated
//! gRPC server over an in-memory set of backups, on a loopback port, on a runtime thread of
//! its own so it outlives any one hook (the charm's state-transition tests run each hook on a
//! runtime charm-core builds; the end-to-end tests run hooks as other processes).
//!
//! It answers as the controller does where the charm looks: `GetBackup` is NotFound for an
//! unknown image, `BackupNow` creates a Pending backup (or returns the existing one), an image
//! whose name contains `unavailable` gets Unavailable (as from a controller that is not the
//! leader). Nothing ever progresses by itself: a test moves a backup on with
//! [`FakeController::put`]. `ListAdmissions` answers with what a test recorded in
//! [`FakeController::admissions`] (mode `off`, nothing admitted, until then), newest first and
//! cut to the request's limit as the controller does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use proto::image_backup::v1::image_backup_service_server::{
    ImageBackupService, ImageBackupServiceServer,
};
use proto::image_backup::v1::{
    AdmissionDecision, Backup, BackupEvent, BackupNowRequest, BackupNowResponse, BackupPhase,
    GetBackupRequest, ListAdmissionsRequest, ListAdmissionsResponse, ListBackupsRequest,
    ListBackupsResponse, RestoreOriginalsRequest, RestoreOriginalsResponse, RestoredWorkload,
    WatchBackupsRequest,
};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// The digest every Done backup from [`backup`] has.
pub const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The registry [`backup`] puts Done backups in.
pub const BACKUP_REGISTRY: &str = "reg.example:5000/backups";

/// A runtime on its own thread, for servers that outlive one hook.
pub fn background_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
}

/// The controller's backup of `source` in `phase`: Done ones have a reference under
/// [`BACKUP_REGISTRY`] and [`DIGEST`], Failed ones the error `unauthorized`.
pub fn backup(source: &str, phase: BackupPhase) -> Backup {
    let done = phase == BackupPhase::Done;
    Backup {
        name: format!("ib-{}", source.replace(['/', ':', '.'], "-")),
        source: source.into(),
        backup_reference: if done {
            format!("{BACKUP_REGISTRY}/{source}")
        } else {
            String::new()
        },
        backup_digest: if done { DIGEST.into() } else { String::new() },
        phase: phase.into(),
        error: if phase == BackupPhase::Failed {
            "unauthorized".into()
        } else {
            String::new()
        },
        ..Backup::default()
    }
}

/// What the webhook decided for `original` in pod `namespace/pod`: rewritten to its backup
/// (under [`BACKUP_REGISTRY`], pinned to [`DIGEST`]) for `reason` when `reason` is not
/// `available`, kept otherwise. At `seconds` since the epoch.
pub fn decision(
    seconds: i64,
    namespace: &str,
    pod: &str,
    original: &str,
    reason: &str,
) -> AdmissionDecision {
    let rewritten = reason != "available";
    let repository = original
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map_or(original, |(repository, _)| repository);
    let mut d = AdmissionDecision {
        time: None,
        namespace: namespace.into(),
        pod: pod.into(),
        container: "main".into(),
        original: original.into(),
        image: if rewritten {
            format!("{BACKUP_REGISTRY}/{repository}@{DIGEST}")
        } else {
            original.into()
        },
        reason: reason.into(),
        rewritten,
    };
    d.time.get_or_insert_default().seconds = seconds;
    d
}

/// An in-memory controller behind the real generated gRPC server. Clones share their state,
/// so a test keeps one to inspect and change while a served clone answers.
#[derive(Clone, Default)]
pub struct FakeController {
    /// Backups by source image.
    pub backups: Arc<Mutex<BTreeMap<String, Backup>>>,
    /// Every call, as `Method argument`, in order.
    pub calls: Arc<Mutex<Vec<String>>>,
    /// What `RestoreOriginals` switches back.
    pub restorable: Arc<Mutex<Vec<RestoredWorkload>>>,
    /// What `ListAdmissions` reports; its decisions in any order (answered newest first).
    pub admissions: Arc<Mutex<ListAdmissionsResponse>>,
}

/// A test that panicked while holding a lock must not hide its own failure behind a poison
/// error in the server thread.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeController {
    /// With `backup` known.
    pub fn with(self, backup: Backup) -> Self {
        self.put(backup);
        self
    }

    /// Adds or replaces the backup of `backup.source` (e.g. a copy that finished).
    pub fn put(&self, backup: Backup) {
        lock(&self.backups).insert(backup.source.clone(), backup);
    }

    /// Records what the webhook did: `mode`, and `decisions` admitted one pod each.
    pub fn admitted(&self, mode: &str, decisions: impl IntoIterator<Item = AdmissionDecision>) {
        let mut a = lock(&self.admissions);
        a.mode = mode.into();
        for d in decisions {
            a.pods_admitted += 1;
            a.images_rewritten += u64::from(d.rewritten);
            a.decisions.push(d);
        }
    }

    /// The calls so far.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }

    fn call(&self, what: String) {
        lock(&self.calls).push(what);
    }

    /// Serves on a loopback port until the returned server is dropped.
    pub fn try_serve(&self) -> std::io::Result<ControllerServer> {
        let runtime = background_runtime()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let address = format!("http://{}", listener.local_addr()?);
        let service = ImageBackupServiceServer::new(self.clone());
        runtime.spawn(async move {
            let served = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpIncoming::from(listener))
                .await;
            if let Err(e) = served {
                eprintln!("fake image-backup controller stopped: {e}");
            }
        });
        Ok(ControllerServer {
            address,
            _runtime: runtime,
        })
    }

    /// [`FakeController::try_serve`], for tests: panics when no loopback port can be had.
    pub fn serve(&self) -> ControllerServer {
        match self.try_serve() {
            Ok(server) => server,
            Err(e) => panic!("serving the fake controller on loopback: {e}"),
        }
    }
}

/// A fake controller served on a loopback port until dropped.
pub struct ControllerServer {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    _runtime: tokio::runtime::Runtime,
}

type EventStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<BackupEvent, Status>> + Send>>;

#[tonic::async_trait]
impl ImageBackupService for FakeController {
    async fn list_backups(
        &self,
        _: Request<ListBackupsRequest>,
    ) -> Result<Response<ListBackupsResponse>, Status> {
        self.call("ListBackups".into());
        let backups = lock(&self.backups).values().cloned().collect();
        Ok(Response::new(ListBackupsResponse { backups }))
    }

    async fn get_backup(
        &self,
        request: Request<GetBackupRequest>,
    ) -> Result<Response<Backup>, Status> {
        let source = request.into_inner().source;
        self.call(format!("GetBackup {source}"));
        match lock(&self.backups).get(&source) {
            Some(b) => Ok(Response::new(b.clone())),
            None => Err(Status::not_found(format!("no backup of {source}"))),
        }
    }

    async fn backup_now(
        &self,
        request: Request<BackupNowRequest>,
    ) -> Result<Response<BackupNowResponse>, Status> {
        let r = request.into_inner();
        self.call(format!("BackupNow {} force={}", r.source, r.force));
        if r.source.contains("unavailable") {
            return Err(Status::unavailable("not the leader"));
        }
        let mut backups = lock(&self.backups);
        let created = !backups.contains_key(&r.source);
        let entry = backups
            .entry(r.source.clone())
            .or_insert_with(|| backup(&r.source, BackupPhase::Pending));
        Ok(Response::new(BackupNowResponse {
            backup: Some(entry.clone()),
            created,
        }))
    }

    type WatchBackupsStream = EventStream;

    async fn watch_backups(
        &self,
        _: Request<WatchBackupsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        Err(Status::unimplemented("not used by the charm"))
    }

    async fn restore_originals(
        &self,
        request: Request<RestoreOriginalsRequest>,
    ) -> Result<Response<RestoreOriginalsResponse>, Status> {
        let namespace = request.into_inner().namespace;
        self.call(format!("RestoreOriginals {namespace:?}"));
        let workloads = lock(&self.restorable)
            .iter()
            .filter(|w| namespace.is_empty() || w.namespace == namespace)
            .cloned()
            .collect();
        Ok(Response::new(RestoreOriginalsResponse { workloads }))
    }

    async fn list_admissions(
        &self,
        request: Request<ListAdmissionsRequest>,
    ) -> Result<Response<ListAdmissionsResponse>, Status> {
        let limit = request.into_inner().limit;
        self.call(format!("ListAdmissions limit={limit}"));
        let mut response = lock(&self.admissions).clone();
        if response.mode.is_empty() {
            response.mode = "off".into();
        }
        let newest = |d: &AdmissionDecision| d.time.as_ref().map(|t| (t.seconds, t.nanos));
        response
            .decisions
            .sort_by_key(|d| std::cmp::Reverse(newest(d)));
        if limit > 0 {
            response.decisions.truncate(limit as usize);
        }
        Ok(Response::new(response))
    }
}
