//! The `ImageBackupService` gRPC API (package `charms.image_backup.v1`), served from the
//! controller's `ImageBackup` cache.
//!
//! - Reads (`ListBackups`, `GetBackup`) answer from the cache, on any replica, once it synced.
//! - `BackupNow` writes to the API server only (creates the object, or sets the retry
//!   annotation); the leader's reconciler does the copy. A write is safe from a standby replica
//!   too, so it is not refused there: a client behind a Service reaches any replica.
//! - `WatchBackups` opens a Kubernetes watch on the `ImageBackup` objects for each caller, so
//!   it sees every change (progress writes included) whichever replica it reached.
//! - `RestoreOriginals` is refused while the controller runs with `--rollout` (it would switch
//!   the workloads straight back).

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use proto::image_backup::v1 as pb;
use proto::image_backup::v1::image_backup_service_server::ImageBackupService;
use tonic::{Request, Response, Status};

use crate::context::{Context, RolloutMode};
use crate::crd::{ImageBackup, MANAGER, Phase, RETRY_ANNOTATION};
use crate::http::Readiness;
use crate::image::ImageRef;
use crate::naming::object_name;
use crate::rollout::{ORIGINALS_ANNOTATION, plan_restore};
use crate::workload::{Workload, container_images};

pub use proto::image_backup::v1::image_backup_service_server::ImageBackupServiceServer;

/// The service implementation.
#[derive(Clone)]
pub struct BackupApi {
    ctx: Arc<Context>,
    readiness: Readiness,
}

impl BackupApi {
    pub fn new(ctx: Arc<Context>, readiness: Readiness) -> Self {
        Self { ctx, readiness }
    }

    pub fn into_server(self) -> ImageBackupServiceServer<Self> {
        ImageBackupServiceServer::new(self)
    }

    fn ready(&self) -> Result<(), Status> {
        if self.readiness.is_ready() {
            Ok(())
        } else {
            Err(Status::unavailable(
                "the controller has not finished its first sync",
            ))
        }
    }

    fn cached(&self, name: &str) -> Option<Arc<ImageBackup>> {
        self.ctx
            .backups
            .get(&ObjectRef::new(name).within(&self.ctx.settings.namespace))
    }

    fn backups_api(&self) -> Api<ImageBackup> {
        Api::namespaced(self.ctx.client.clone(), &self.ctx.settings.namespace)
    }
}

fn parse_source(source: &str) -> Result<ImageRef, Status> {
    ImageRef::parse(source).map_err(|e| Status::invalid_argument(e.to_string()))
}

fn kube_status(what: &str, error: kube::Error) -> Status {
    Status::unavailable(format!("{what}: {error}"))
}

/// The API's view of one `ImageBackup`.
pub fn to_proto(backup: &ImageBackup) -> pb::Backup {
    let status = backup.status.clone().unwrap_or_default();
    let phase = match status.phase {
        Phase::Pending => pb::BackupPhase::Pending,
        Phase::Running => pb::BackupPhase::Running,
        Phase::Done => pb::BackupPhase::Done,
        Phase::Failed => pb::BackupPhase::Failed,
    };
    let time = |t: Option<Time>| {
        t.map(|t| prost_types::Timestamp {
            seconds: t.0.as_second(),
            nanos: t.0.subsec_nanosecond(),
        })
    };
    pb::Backup {
        name: backup.name_any(),
        source: backup.spec.image.clone(),
        source_digest: status.source_digest.unwrap_or_default(),
        backup_reference: status.backup_image.unwrap_or_default(),
        backup_digest: status.backup_digest.unwrap_or_default(),
        phase: phase as i32,
        bytes_copied: status.bytes_copied,
        bytes_total: None,
        attempts: status.attempts,
        error: status.last_error.unwrap_or_default(),
        started_at: time(status.started_at),
        completed_at: time(status.completed_at),
    }
}

fn now() -> prost_types::Timestamp {
    let t = k8s_openapi::jiff::Timestamp::now();
    prost_types::Timestamp {
        seconds: t.as_second(),
        nanos: t.subsec_nanosecond(),
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::BackupEvent, Status>> + Send>>;

#[tonic::async_trait]
impl ImageBackupService for BackupApi {
    async fn list_backups(
        &self,
        request: Request<pb::ListBackupsRequest>,
    ) -> Result<Response<pb::ListBackupsResponse>, Status> {
        self.ready()?;
        let phases: HashSet<i32> = request.into_inner().phases.into_iter().collect();
        let mut backups: Vec<pb::Backup> = self
            .ctx
            .backups
            .state()
            .iter()
            .map(|b| to_proto(b))
            .filter(|b| phases.is_empty() || phases.contains(&b.phase))
            .collect();
        backups.sort_by(|a, b| a.source.cmp(&b.source));
        Ok(Response::new(pb::ListBackupsResponse { backups }))
    }

    async fn get_backup(
        &self,
        request: Request<pb::GetBackupRequest>,
    ) -> Result<Response<pb::Backup>, Status> {
        self.ready()?;
        let image = parse_source(&request.into_inner().source)?;
        let backup = self
            .cached(&object_name(&image))
            .ok_or_else(|| Status::not_found(format!("no backup of {image}")))?;
        Ok(Response::new(to_proto(&backup)))
    }

    async fn backup_now(
        &self,
        request: Request<pb::BackupNowRequest>,
    ) -> Result<Response<pb::BackupNowResponse>, Status> {
        self.ready()?;
        let request = request.into_inner();
        let image = parse_source(&request.source)?;
        let name = object_name(&image);
        let api = self.backups_api();
        let existing = api
            .get_opt(&name)
            .await
            .map_err(|e| kube_status("reading the backup", e))?;
        let Some(existing) = existing else {
            let mut backup = ImageBackup::new(
                &name,
                crate::crd::ImageBackupSpec {
                    image: image.to_string(),
                    pull_secrets: Vec::new(),
                },
            );
            backup.metadata.labels = Some(
                [(
                    crate::crd::MANAGED_BY_LABEL.to_string(),
                    MANAGER.to_string(),
                )]
                .into(),
            );
            let params = kube::api::PostParams {
                field_manager: Some(MANAGER.to_string()),
                ..Default::default()
            };
            let created = api
                .create(&params, &backup)
                .await
                .map_err(|e| kube_status("creating the backup", e))?;
            return Ok(Response::new(pb::BackupNowResponse {
                backup: Some(to_proto(&created)),
                created: true,
            }));
        };
        let retry = match existing.phase() {
            Phase::Failed => true,
            Phase::Done => request.force,
            // Already on its way.
            Phase::Pending | Phase::Running => false,
        };
        let backup = if retry {
            // A fresh token: the reconciler retries when the annotation differs from the last one
            // it acted upon.
            let token = k8s_openapi::jiff::Timestamp::now().to_string();
            let patch = serde_json::json!({"metadata": {"annotations": {RETRY_ANNOTATION: token}}});
            let params = PatchParams {
                field_manager: Some(MANAGER.to_string()),
                ..Default::default()
            };
            api.patch(&name, &params, &Patch::Merge(&patch))
                .await
                .map_err(|e| kube_status("requesting a retry", e))?
        } else {
            existing
        };
        Ok(Response::new(pb::BackupNowResponse {
            backup: Some(to_proto(&backup)),
            created: false,
        }))
    }

    type WatchBackupsStream = EventStream;

    async fn watch_backups(
        &self,
        request: Request<pb::WatchBackupsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        self.ready()?;
        let request = request.into_inner();
        let mut names = HashSet::new();
        for source in &request.sources {
            names.insert(object_name(&parse_source(source)?));
        }
        let stream = watcher(self.backups_api(), watcher::Config::default());
        Ok(Response::new(
            events(stream, names, request.send_initial).boxed(),
        ))
    }

    async fn restore_originals(
        &self,
        request: Request<pb::RestoreOriginalsRequest>,
    ) -> Result<Response<pb::RestoreOriginalsResponse>, Status> {
        self.ready()?;
        if self.ctx.settings.rollout == RolloutMode::Rollout {
            return Err(Status::failed_precondition(
                "the controller runs with --rollout and would switch the workloads back to the backups; run it without --rollout first",
            ));
        }
        let namespace = request.into_inner().namespace;
        let mut workloads = Vec::new();
        workloads.extend(restore_all::<Deployment>(&self.ctx, &namespace).await?);
        workloads.extend(restore_all::<DaemonSet>(&self.ctx, &namespace).await?);
        workloads.extend(restore_all::<StatefulSet>(&self.ctx, &namespace).await?);
        workloads.sort_by(|a, b| {
            (&a.namespace, &a.kind, &a.name).cmp(&(&b.namespace, &b.kind, &b.name))
        });
        Ok(Response::new(pb::RestoreOriginalsResponse { workloads }))
    }

    async fn list_admissions(
        &self,
        _: Request<pb::ListAdmissionsRequest>,
    ) -> Result<Response<pb::ListAdmissionsResponse>, Status> {
        // Placeholder until the admission webhook lands (issue 16).
        Err(Status::unimplemented("the admission webhook is not built yet"))
    }
}

/// Turns a watch on `ImageBackup` objects into API events, for the objects in `names` (all when
/// empty).
fn events(
    stream: impl Stream<Item = Result<watcher::Event<ImageBackup>, watcher::Error>> + Send + 'static,
    names: HashSet<String>,
    send_initial: bool,
) -> impl Stream<Item = Result<pb::BackupEvent, Status>> + Send {
    use pb::BackupEventKind as Kind;
    let mut seen: HashSet<String> = HashSet::new();
    let mut initial = true;
    stream.filter_map(move |event| {
        let wanted = |b: &ImageBackup| names.is_empty() || names.contains(&b.name_any());
        let out = match event {
            Err(error) => Some(Err(Status::unavailable(format!(
                "watching backups: {error}"
            )))),
            Ok(watcher::Event::Init) => {
                initial = true;
                None
            }
            Ok(watcher::Event::InitDone) => {
                initial = false;
                None
            }
            Ok(watcher::Event::InitApply(b)) | Ok(watcher::Event::Apply(b)) if wanted(&b) => {
                let new = seen.insert(b.name_any());
                let kind = if new { Kind::Added } else { Kind::Updated };
                // Objects listed again after a watch restart are not news, unless asked for.
                (!initial || (send_initial && new)).then(|| Ok(event_of(kind, &b)))
            }
            Ok(watcher::Event::Delete(b)) if wanted(&b) => {
                seen.remove(&b.name_any());
                Some(Ok(event_of(Kind::Deleted, &b)))
            }
            Ok(_) => None,
        };
        futures::future::ready(out)
    })
}

fn event_of(kind: pb::BackupEventKind, backup: &ImageBackup) -> pb::BackupEvent {
    pb::BackupEvent {
        kind: kind as i32,
        backup: Some(to_proto(backup)),
        time: Some(now()),
    }
}

async fn restore_all<K: Workload>(
    ctx: &Context,
    namespace: &str,
) -> Result<Vec<pb::RestoredWorkload>, Status> {
    let api: Api<K> = if namespace.is_empty() {
        Api::all(ctx.client.clone())
    } else {
        Api::namespaced(ctx.client.clone(), namespace)
    };
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| kube_status(&format!("listing {}s", K::KIND), e))?;
    let mut restored = Vec::new();
    for workload in list
        .items
        .iter()
        .filter(|w| w.annotations().contains_key(ORIGINALS_ANNOTATION))
    {
        let Some(spec) = workload.pod_spec() else {
            continue;
        };
        let Some(ops) = plan_restore(spec, workload.annotations(), "/spec/template") else {
            continue;
        };
        let images = originals(workload);
        crate::inventory::apply_patch(workload, ops, ctx, "Restored", "original images put back")
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        restored.push(pb::RestoredWorkload {
            kind: K::KIND.to_string(),
            namespace: workload.namespace().unwrap_or_default(),
            name: workload.name_any(),
            images,
        });
    }
    Ok(restored)
}

/// The images a workload runs once restored, in container order.
fn originals<K: Workload>(workload: &K) -> Vec<String> {
    let recorded: std::collections::BTreeMap<String, String> = workload
        .annotations()
        .get(ORIGINALS_ANNOTATION)
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default();
    workload
        .pod_spec()
        .map(container_images)
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            recorded
                .get(&format!("{}/{}", c.list.field(), c.container))
                .cloned()
                .unwrap_or(c.image)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{ImageBackupSpec, ImageBackupStatus};
    use crate::fixtures::{NAMESPACE, fixture, settings};
    use http::Method;
    use proto::image_backup::v1::image_backup_service_client::ImageBackupServiceClient;
    use tokio_stream::wrappers::TcpListenerStream;

    fn backup(image: &str, phase: Phase) -> ImageBackup {
        let image = ImageRef::parse(image).unwrap();
        let mut b = ImageBackup::new(
            &object_name(&image),
            ImageBackupSpec {
                image: image.to_string(),
                pull_secrets: vec![],
            },
        );
        b.metadata.namespace = Some(NAMESPACE.into());
        b.status = Some(ImageBackupStatus {
            phase,
            attempts: 1,
            ..Default::default()
        });
        b
    }

    /// Serves `api` on a loopback port and returns a connected client.
    async fn serve(api: BackupApi) -> ImageBackupServiceClient<tonic::transport::Channel> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(api.into_server())
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        ImageBackupServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn list_get_and_errors_over_loopback() {
        let mut f = fixture(settings());
        f.cache(&backup("redis:7", Phase::Pending));
        f.cache(&backup("nginx:1.14.2", Phase::Done));
        let readiness = Readiness::default();
        let mut client = serve(BackupApi::new(f.ctx.clone(), readiness.clone())).await;

        let err = client
            .list_backups(pb::ListBackupsRequest::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable);
        readiness.set_ready();

        let all = client
            .list_backups(pb::ListBackupsRequest::default())
            .await
            .unwrap()
            .into_inner();
        let sources: Vec<_> = all.backups.iter().map(|b| b.source.as_str()).collect();
        assert_eq!(
            sources,
            [
                "docker.io/library/nginx:1.14.2",
                "docker.io/library/redis:7"
            ]
        );
        let done = client
            .list_backups(pb::ListBackupsRequest {
                phases: vec![pb::BackupPhase::Done as i32],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(done.backups.len(), 1);

        // Any spelling of the image finds it.
        let got = client
            .get_backup(pb::GetBackupRequest {
                source: "docker.io/library/nginx:1.14.2".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.phase, pb::BackupPhase::Done as i32);
        let got = client
            .get_backup(pb::GetBackupRequest {
                source: "nginx:1.14.2".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.attempts, 1);

        let missing = client
            .get_backup(pb::GetBackupRequest {
                source: "busybox".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(missing.code(), tonic::Code::NotFound);
        let bad = client
            .get_backup(pb::GetBackupRequest {
                source: "Bad Ref".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
        assert!(bad.message().contains("Bad Ref"), "{}", bad.message());
    }

    #[tokio::test]
    async fn backup_now_creates_or_retries() {
        let mut f = fixture(settings());
        let readiness = Readiness::default();
        readiness.set_ready();
        let api = BackupApi::new(f.ctx.clone(), readiness);
        let path = "/apis/k8slab.io/v1alpha1/namespaces/image-backup/imagebackups";
        let name = object_name(&ImageRef::parse("nginx").unwrap());

        // Missing: created.
        let call = tokio::spawn({
            let api = api.clone();
            async move {
                api.backup_now(Request::new(pb::BackupNowRequest {
                    source: "nginx".into(),
                    force: false,
                }))
                .await
            }
        });
        f.server
            .expect(Method::GET, &format!("{path}/{name}"))
            .await
            .fail(404, "NotFound");
        let create = f.server.expect(Method::POST, path).await;
        assert_eq!(
            create.body["spec"]["image"],
            "docker.io/library/nginx:latest"
        );
        let body = create.body.clone();
        create.respond(201, &body);
        let response = call.await.unwrap().unwrap().into_inner();
        assert!(response.created);

        // Failed: retried through the annotation.
        let failed = backup("nginx", Phase::Failed);
        let call = tokio::spawn({
            let api = api.clone();
            async move {
                api.backup_now(Request::new(pb::BackupNowRequest {
                    source: "docker.io/library/nginx".into(),
                    force: false,
                }))
                .await
            }
        });
        f.server
            .expect(Method::GET, &format!("{path}/{name}"))
            .await
            .ok(&serde_json::to_value(&failed).unwrap());
        let patch = f
            .server
            .expect(Method::PATCH, &format!("{path}/{name}"))
            .await;
        assert!(patch.body["metadata"]["annotations"][RETRY_ANNOTATION].is_string());
        patch.ok(&serde_json::to_value(&failed).unwrap());
        assert!(!call.await.unwrap().unwrap().into_inner().created);

        // Done without force: nothing to do.
        let done = backup("nginx", Phase::Done);
        let call = tokio::spawn({
            let api = api.clone();
            async move {
                api.backup_now(Request::new(pb::BackupNowRequest {
                    source: "nginx".into(),
                    force: false,
                }))
                .await
            }
        });
        f.server
            .expect(Method::GET, &format!("{path}/{name}"))
            .await
            .ok(&serde_json::to_value(&done).unwrap());
        let response = call.await.unwrap().unwrap().into_inner();
        assert_eq!(response.backup.unwrap().phase, pb::BackupPhase::Done as i32);
        f.server.assert_idle();
    }

    #[tokio::test]
    async fn watch_events_from_a_watch_stream() {
        use watcher::Event;
        let a = backup("nginx", Phase::Pending);
        let b = backup("redis", Phase::Pending);
        let a_done = backup("nginx", Phase::Done);
        let script = vec![
            Event::Init,
            Event::InitApply(a.clone()),
            Event::InitApply(b.clone()),
            Event::InitDone,
            Event::Apply(a_done.clone()),
            Event::Delete(b.clone()),
        ];
        let kinds = |names: HashSet<String>, initial: bool| {
            let stream = events(
                futures::stream::iter(script.clone().into_iter().map(Ok)),
                names,
                initial,
            );
            async move {
                stream
                    .map(|e| {
                        let e = e.unwrap();
                        (
                            pb::BackupEventKind::try_from(e.kind).unwrap(),
                            e.backup.unwrap().source,
                        )
                    })
                    .collect::<Vec<_>>()
                    .await
            }
        };
        use pb::BackupEventKind::*;
        assert_eq!(
            kinds(HashSet::new(), true).await,
            [
                (Added, a.spec.image.clone()),
                (Added, b.spec.image.clone()),
                (Updated, a.spec.image.clone()),
                (Deleted, b.spec.image.clone())
            ]
        );
        assert_eq!(
            kinds([a.name_any()].into(), false).await,
            [(Updated, a.spec.image.clone())]
        );
    }

    #[tokio::test]
    async fn restore_is_refused_while_rolling_out() {
        let mut s = settings();
        s.rollout = RolloutMode::Rollout;
        let f = fixture(s);
        let readiness = Readiness::default();
        readiness.set_ready();
        let api = BackupApi::new(f.ctx.clone(), readiness);
        let err = api
            .restore_originals(Request::new(pb::RestoreOriginalsRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    }
}
