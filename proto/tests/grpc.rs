//! Smoke test of the generated `ImageBackupService` client and server over a real loopback TCP
//! connection: every call, the streaming one included, with a small in-memory implementation.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::image_backup::v1::image_backup_service_client::ImageBackupServiceClient;
use proto::image_backup::v1::image_backup_service_server::{
    ImageBackupService, ImageBackupServiceServer,
};
use proto::image_backup::v1::{
    AdmissionDecision, Backup, BackupEvent, BackupEventKind, BackupNowRequest, BackupNowResponse,
    BackupPhase, GetBackupRequest, ListAdmissionsRequest, ListAdmissionsResponse,
    ListBackupsRequest, ListBackupsResponse, RestoreOriginalsRequest, RestoreOriginalsResponse,
    RestoredWorkload, WatchBackupsRequest, check_image,
};
use tokio::sync::broadcast;
use tokio_stream::wrappers::{BroadcastStream, TcpListenerStream};
use tokio_stream::{Stream, StreamExt};
use tonic::{Code, Request, Response, Status};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Backups by source, and a channel of every change.
#[derive(Clone)]
struct FakeController {
    backups: Arc<Mutex<BTreeMap<String, Backup>>>,
    events: broadcast::Sender<BackupEvent>,
}

impl FakeController {
    fn new(existing: Vec<Backup>) -> Self {
        let backups = existing
            .into_iter()
            .map(|b| (b.source.clone(), b))
            .collect();
        FakeController {
            backups: Arc::new(Mutex::new(backups)),
            events: broadcast::channel(64).0,
        }
    }

    fn record(&self, kind: BackupEventKind, backup: Backup) {
        self.backups
            .lock()
            .unwrap()
            .insert(backup.source.clone(), backup.clone());
        // No watcher is not an error.
        let _ = self.events.send(event(kind, backup));
    }

    /// Pretends to copy: Running with progress, then Done.
    async fn copy(self, mut backup: Backup) {
        backup.phase = BackupPhase::Running.into();
        backup.attempts = 1;
        backup.bytes_total = Some(1024);
        backup.bytes_copied = 512;
        self.record(BackupEventKind::Updated, backup.clone());
        backup.phase = BackupPhase::Done.into();
        backup.bytes_copied = 1024;
        backup.backup_reference = format!("backup.example.com/{}", backup.source);
        backup.backup_digest = DIGEST.into();
        self.record(BackupEventKind::Updated, backup);
    }
}

fn event(kind: BackupEventKind, backup: Backup) -> BackupEvent {
    BackupEvent {
        kind: kind.into(),
        backup: Some(backup),
        time: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<BackupEvent, Status>> + Send>>;

#[tonic::async_trait]
impl ImageBackupService for FakeController {
    async fn list_backups(
        &self,
        request: Request<ListBackupsRequest>,
    ) -> Result<Response<ListBackupsResponse>, Status> {
        let phases = request.into_inner().phases;
        let backups = self
            .backups
            .lock()
            .unwrap()
            .values()
            .filter(|b| phases.is_empty() || phases.contains(&b.phase))
            .cloned()
            .collect();
        Ok(Response::new(ListBackupsResponse { backups }))
    }

    async fn get_backup(
        &self,
        request: Request<GetBackupRequest>,
    ) -> Result<Response<Backup>, Status> {
        let source = request.into_inner().source;
        let found = self.backups.lock().unwrap().get(&source).cloned();
        found
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("no backup of {source}")))
    }

    async fn backup_now(
        &self,
        request: Request<BackupNowRequest>,
    ) -> Result<Response<BackupNowResponse>, Status> {
        let source = request.into_inner().source;
        check_image(&source).map_err(Status::invalid_argument)?;
        let existing = self.backups.lock().unwrap().get(&source).cloned();
        if let Some(backup) = existing {
            return Ok(Response::new(BackupNowResponse {
                backup: Some(backup),
                created: false,
            }));
        }
        let backup = Backup {
            name: format!("ib-{}", source.replace(['/', ':', '.'], "-")),
            source,
            phase: BackupPhase::Pending.into(),
            ..Backup::default()
        };
        self.record(BackupEventKind::Added, backup.clone());
        tokio::spawn(self.clone().copy(backup.clone()));
        Ok(Response::new(BackupNowResponse {
            backup: Some(backup),
            created: true,
        }))
    }

    type WatchBackupsStream = EventStream;

    async fn watch_backups(
        &self,
        request: Request<WatchBackupsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let WatchBackupsRequest {
            sources,
            send_initial,
        } = request.into_inner();
        // Subscribe before the snapshot, so no change falls in between.
        let changes = BroadcastStream::new(self.events.subscribe());
        let initial: Vec<BackupEvent> = if send_initial {
            let backups = self.backups.lock().unwrap();
            backups
                .values()
                .map(|b| event(BackupEventKind::Added, b.clone()))
                .collect()
        } else {
            Vec::new()
        };
        let wanted = move |event: &BackupEvent| {
            sources.is_empty()
                || event
                    .backup
                    .as_ref()
                    .is_some_and(|b| sources.contains(&b.source))
        };
        let stream = tokio_stream::iter(initial)
            .chain(changes.filter_map(Result::ok))
            .filter(wanted)
            .map(Ok);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn restore_originals(
        &self,
        request: Request<RestoreOriginalsRequest>,
    ) -> Result<Response<RestoreOriginalsResponse>, Status> {
        let namespace = request.into_inner().namespace;
        Ok(Response::new(RestoreOriginalsResponse {
            workloads: vec![RestoredWorkload {
                kind: "Deployment".into(),
                namespace,
                name: "web".into(),
                images: vec!["nginx:1.27".into()],
            }],
        }))
    }

    async fn list_admissions(
        &self,
        request: Request<ListAdmissionsRequest>,
    ) -> Result<Response<ListAdmissionsResponse>, Status> {
        let decision = |pod: &str, rewritten: bool| AdmissionDecision {
            time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            namespace: "shop".into(),
            pod: pod.into(),
            container: "web".into(),
            original: "nginx:1.27".into(),
            image: if rewritten {
                format!("backup.example.com/nginx@{DIGEST}")
            } else {
                "nginx:1.27".into()
            },
            reason: if rewritten {
                "unavailable: manifest unknown".into()
            } else {
                "available".into()
            },
            rewritten,
        };
        let limit = match request.into_inner().limit {
            0 => usize::MAX,
            n => n as usize,
        };
        let decisions = [decision("web-2", true), decision("web-1", false)]
            .into_iter()
            .take(limit)
            .collect();
        Ok(Response::new(ListAdmissionsResponse {
            mode: "failover".into(),
            decisions,
            pods_admitted: 2,
            images_rewritten: 1,
        }))
    }
}

/// Serves `controller` on an ephemeral loopback port; returns its URI and a shutdown trigger.
async fn serve(controller: FakeController) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ImageBackupServiceServer::new(controller))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                stopped.await.ok();
            }),
    );
    (format!("http://{address}"), stop)
}

/// The next event, or a failure instead of a hung test.
async fn next(stream: &mut tonic::Streaming<BackupEvent>) -> BackupEvent {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("an event arrives")
        .expect("the stream is healthy")
        .expect("the stream is open")
}

fn summary(event: &BackupEvent) -> (BackupEventKind, String, BackupPhase, u64) {
    let backup = event.backup.as_ref().unwrap();
    (
        event.kind(),
        backup.source.clone(),
        backup.phase(),
        backup.bytes_copied,
    )
}

#[tokio::test]
async fn client_and_server_talk_over_loopback() {
    let done = Backup {
        name: "ib-redis-7".into(),
        source: "redis:7".into(),
        source_digest: DIGEST.into(),
        backup_reference: "backup.example.com/redis:7".into(),
        backup_digest: DIGEST.into(),
        phase: BackupPhase::Done.into(),
        bytes_copied: 2048,
        bytes_total: Some(2048),
        attempts: 1,
        ..Backup::default()
    };
    let (uri, stop) = serve(FakeController::new(vec![done.clone()])).await;
    let mut client = ImageBackupServiceClient::connect(uri).await.unwrap();

    let all = client
        .list_backups(ListBackupsRequest::default())
        .await
        .unwrap();
    assert_eq!(all.into_inner().backups, std::slice::from_ref(&done));
    let failed = client
        .list_backups(ListBackupsRequest {
            phases: vec![BackupPhase::Failed.into()],
        })
        .await
        .unwrap();
    assert!(failed.into_inner().backups.is_empty());

    let got = client
        .get_backup(GetBackupRequest {
            source: "redis:7".into(),
        })
        .await
        .unwrap();
    assert_eq!(got.into_inner(), done);
    let missing = client
        .get_backup(GetBackupRequest {
            source: "nginx:1.27".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(missing.message(), "no backup of nginx:1.27");

    let mut events = client
        .watch_backups(WatchBackupsRequest {
            sources: vec![],
            send_initial: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        summary(&next(&mut events).await),
        (
            BackupEventKind::Added,
            "redis:7".into(),
            BackupPhase::Done,
            2048
        )
    );

    let now = client
        .backup_now(BackupNowRequest {
            source: "nginx:1.27".into(),
            force: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(now.created);
    assert_eq!(now.backup.unwrap().phase(), BackupPhase::Pending);

    let nginx = "nginx:1.27".to_owned();
    assert_eq!(
        summary(&next(&mut events).await),
        (
            BackupEventKind::Added,
            nginx.clone(),
            BackupPhase::Pending,
            0
        )
    );
    assert_eq!(
        summary(&next(&mut events).await),
        (
            BackupEventKind::Updated,
            nginx.clone(),
            BackupPhase::Running,
            512
        )
    );
    let finished = next(&mut events).await;
    assert_eq!(
        summary(&finished),
        (
            BackupEventKind::Updated,
            nginx.clone(),
            BackupPhase::Done,
            1024
        )
    );
    let finished = finished.backup.unwrap();
    assert_eq!(finished.backup_digest, DIGEST);
    assert_eq!(finished.bytes_total, Some(1024));

    let again = client
        .backup_now(BackupNowRequest {
            source: nginx.clone(),
            force: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!again.created);
    assert_eq!(again.backup.unwrap().phase(), BackupPhase::Done);

    let invalid = client
        .backup_now(BackupNowRequest {
            source: "Not An Image".into(),
            force: false,
        })
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);

    let restored = client
        .restore_originals(RestoreOriginalsRequest {
            namespace: "default".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(restored.workloads[0].namespace, "default");

    let admissions = client
        .list_admissions(ListAdmissionsRequest { limit: 1 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(admissions.mode, "failover");
    assert_eq!(
        (admissions.pods_admitted, admissions.images_rewritten),
        (2, 1)
    );
    let [newest] = admissions.decisions.as_slice() else {
        panic!("limit 1 gives one decision: {:?}", admissions.decisions);
    };
    assert!(newest.rewritten);
    assert_eq!(newest.image, format!("backup.example.com/nginx@{DIGEST}"));

    drop(events);
    stop.send(()).unwrap();
}
