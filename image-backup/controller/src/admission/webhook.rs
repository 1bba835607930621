//! The webhook itself: an `AdmissionReview` in, a decision per image, a JSON patch out; and
//! the HTTPS server (hyper over tokio-rustls) that carries it.
//!
//! An admission never fails a pod: anything unexpected (a body that is not a review, a patch
//! that cannot be built) admits the pod unchanged, and the API server's `failurePolicy:
//! Ignore` covers a replica that does not answer at all.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::availability::{Checker, Target};
use super::decision::{Availability, Backup, Decision, Keep, Mode, decide, needs_check};
use super::events::Events;
use super::journal::{Entry, Journal};
use super::pod::{PodImage, Resolved, patch, pod_images, resolve};
use super::{DISABLED, SKIP_LABEL};
use crate::context::Context;
use crate::crd::ImageBackup;
use crate::metrics::Metrics;
use crate::naming::object_name;
use crate::workload::Scope;

/// The path the webhook configuration calls.
pub const PATH: &str = "/mutate/pods";
/// Largest review accepted: a pod is far smaller (etcd stores at most 1.5 MiB per object).
const MAX_BODY: usize = 8 << 20;
/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How an admission ended, for `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// At least one image rewritten.
    Rewritten,
    /// Looked at, nothing to change.
    Unchanged,
    /// Not ours to look at: another operation or kind, an excluded namespace, an opted-out pod.
    Skipped,
    /// Not a review we could read.
    Invalid,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Rewritten => "rewritten",
            Outcome::Unchanged => "unchanged",
            Outcome::Skipped => "skipped",
            Outcome::Invalid => "invalid",
        }
    }
}

/// Everything an admission needs, shared by all connections.
pub struct Webhook {
    mode: Mode,
    backups: Store<ImageBackup>,
    /// The controller's namespace: where backups live, and never admitted through us.
    namespace: String,
    scope: Scope,
    /// `--registry-secret`: added to rewritten pods that lack it.
    pull_secret: Option<String>,
    checker: Checker,
    journal: Arc<Journal>,
    metrics: Arc<Metrics>,
    events: Option<Events>,
}

impl Webhook {
    pub fn new(
        ctx: &Context,
        mode: Mode,
        checker: Checker,
        journal: Arc<Journal>,
        events: Option<Events>,
    ) -> Self {
        Self {
            mode,
            backups: ctx.backups.clone(),
            namespace: ctx.settings.namespace.clone(),
            scope: ctx.settings.scope.clone(),
            pull_secret: ctx.settings.registry_secret.clone(),
            checker,
            journal,
            metrics: ctx.metrics.clone(),
            events,
        }
    }

    /// Answers one review body: the response review, or why the body is no review.
    pub async fn review(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        let started = Instant::now();
        let (response, outcome) = match serde_json::from_slice::<AdmissionReview<Pod>>(body) {
            Ok(review) => match review.try_into() {
                Ok(request) => self.admit(&request, started).await,
                Err(_) => return Err(self.invalid(started, "the review has no request")),
            },
            // A review whose object is no Pod we can read: admit it unchanged, by its uid.
            Err(error) => match serde_json::from_slice::<AdmissionReview<DynamicObject>>(body)
                .ok()
                .and_then(|r| TryInto::<AdmissionRequest<DynamicObject>>::try_into(r).ok())
            {
                Some(request) => {
                    tracing::warn!(%error, uid = %request.uid, "admitting an unreadable pod unchanged");
                    (AdmissionResponse::from(&request), Outcome::Invalid)
                }
                None => {
                    return Err(self.invalid(started, &format!("not an AdmissionReview: {error}")));
                }
            },
        };
        self.metrics
            .admission(outcome.as_str(), started.elapsed().as_secs_f64());
        encode(response)
    }

    fn invalid(&self, started: Instant, message: &str) -> String {
        self.metrics
            .admission(Outcome::Invalid.as_str(), started.elapsed().as_secs_f64());
        message.to_string()
    }

    /// Decides about one pod; checks share one budget that started at `started`.
    pub async fn admit(
        &self,
        request: &AdmissionRequest<Pod>,
        started: Instant,
    ) -> (AdmissionResponse, Outcome) {
        let response = AdmissionResponse::from(request);
        let Some(pod) = request.object.as_ref() else {
            return (response, Outcome::Skipped);
        };
        let namespace = request
            .namespace
            .clone()
            .or_else(|| pod.metadata.namespace.clone())
            .unwrap_or_default();
        let opted_out = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SKIP_LABEL))
            .is_some_and(|v| v == DISABLED);
        let ours = request.operation == Operation::Create
            && request.kind.kind == "Pod"
            && request.kind.group.is_empty()
            && request.sub_resource.is_none();
        // Defence in depth: the namespaceSelector leaves the first two out already. Namespaces
        // excluded from backups (`--exclude-namespaces`) are left alone here too.
        let excluded = namespace == self.namespace
            || namespace == "kube-system"
            || !self.scope.watches_namespace(&namespace);
        let Some(spec) = pod
            .spec
            .as_ref()
            .filter(|_| ours && !excluded && !opted_out)
        else {
            return (response, Outcome::Skipped);
        };

        let images = pod_images(spec);
        let mut resolved: HashMap<&str, Resolved> = HashMap::new();
        for c in &images {
            resolved.entry(c.image.as_str()).or_insert_with(|| {
                resolve(&c.image, &self.scope, |image| {
                    self.backups
                        .get(&ObjectRef::new(&object_name(image)).within(&self.namespace))
                })
            });
        }
        let availability = self.check(&resolved, started).await;
        let decided: Vec<(PodImage, Decision)> = images
            .iter()
            .cloned()
            .map(|c| {
                let decision = match &resolved[c.image.as_str()] {
                    Resolved::Source { backup, .. } => decide(
                        self.mode,
                        backup,
                        availability.get(c.image.as_str()).copied(),
                    ),
                    other => other.settled().unwrap_or(Decision::Keep(Keep::Invalid)),
                };
                (c, decision)
            })
            .collect();

        let ops = patch(pod, &decided, self.pull_secret.as_deref());
        let response = if ops.is_empty() {
            response
        } else {
            match serde_json::from_value::<json_patch::Patch>(Value::Array(ops))
                .map_err(|e| e.to_string())
                .and_then(|p| response.clone().with_patch(p).map_err(|e| e.to_string()))
            {
                Ok(patched) => patched,
                Err(error) => {
                    tracing::error!(%error, "cannot build the admission patch; admitting unchanged");
                    return (response, Outcome::Unchanged);
                }
            }
        };
        let outcome = self.record(pod, &namespace, &decided, &resolved, request.dry_run);
        (response, outcome)
    }

    /// Availability of every image that needs a check, all within one budget from `started`.
    async fn check<'a>(
        &self,
        resolved: &HashMap<&'a str, Resolved>,
        started: Instant,
    ) -> HashMap<&'a str, Availability> {
        let deadline = started + self.checker.limits().budget;
        let checks = resolved.iter().filter_map(|(raw, r)| match r {
            Resolved::Source {
                image,
                backup,
                pull_secrets,
            } if needs_check(self.mode, backup) => {
                let target = Target {
                    image: image.clone(),
                    pull_secrets: pull_secrets.clone(),
                };
                Some(async move { (*raw, self.checker.check(target, deadline).await) })
            }
            _ => None,
        });
        futures::future::join_all(checks)
            .await
            .into_iter()
            .collect()
    }

    /// Journal, metrics and the event for one admitted pod.
    fn record(
        &self,
        pod: &Pod,
        namespace: &str,
        decided: &[(PodImage, Decision)],
        resolved: &HashMap<&str, Resolved>,
        dry_run: bool,
    ) -> Outcome {
        let name = match (&pod.metadata.name, &pod.metadata.generate_name) {
            (Some(name), _) if !name.is_empty() => name.clone(),
            (_, Some(prefix)) => prefix.clone(),
            _ => String::new(),
        };
        let now = Timestamp::now();
        let mut entries = Vec::new();
        let mut notes = Vec::new();
        for (c, decision) in decided {
            let has_backup = matches!(
                resolved.get(c.image.as_str()),
                Some(Resolved::Source {
                    backup: Backup::Done { .. },
                    ..
                })
            );
            let (image, reason, rewritten) = match decision {
                Decision::Rewrite { to, reason } => {
                    self.metrics.admission_rewrite(reason.label());
                    notes.push(format!(
                        "{} {} -> {to} ({})",
                        c.key(),
                        c.image,
                        reason.reason()
                    ));
                    (to.clone(), reason.reason(), true)
                }
                Decision::Keep(Keep::Available) => (c.image.clone(), "available".into(), false),
                Decision::Keep(_) => continue,
            };
            if has_backup {
                entries.push(Entry {
                    time: now,
                    namespace: namespace.to_string(),
                    pod: name.clone(),
                    container: c.container.clone(),
                    original: c.image.clone(),
                    image,
                    reason,
                    rewritten,
                });
            }
        }
        self.journal.admitted(entries);
        if notes.is_empty() {
            return Outcome::Unchanged;
        }
        tracing::info!(%namespace, pod = %name, rewrites = %notes.join("; "), "pod admitted with backup images");
        // A dry run must have no side effects (the configuration says sideEffects: None).
        if let (Some(events), false) = (&self.events, dry_run) {
            events.rewritten(
                pod,
                namespace,
                format!("admitted with backup images: {}", notes.join("; ")),
            );
        }
        Outcome::Rewritten
    }
}

/// The response review as JSON, its patch base64-encoded the way the API server writes
/// `[]byte` (kube's type writes an array of numbers, which Go also reads, at three times the
/// size).
fn encode(response: AdmissionResponse) -> Result<Vec<u8>, String> {
    let mut review = serde_json::to_value(response.into_review()).map_err(|e| e.to_string())?;
    if let Some(patch) = review.get_mut("response").and_then(|r| r.get_mut("patch")) {
        let bytes: Vec<u8> = serde_json::from_value(patch.take()).map_err(|e| e.to_string())?;
        *patch = serde_json::to_value(k8s_openapi::ByteString(bytes)).map_err(|e| e.to_string())?;
    }
    serde_json::to_vec(&review).map_err(|e| e.to_string())
}

/// Serves `webhook` over HTTPS on `listener` until `stop`. Each connection runs in its own
/// task, so a slow client never holds up another.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    webhook: Arc<Webhook>,
    stop: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => return,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(error) => {
                // Out of file descriptors and the like: pause rather than spin.
                tracing::warn!(%error, "accepting a webhook connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, webhook) = (acceptor.clone(), webhook.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "webhook TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = service_fn(move |request| {
                let webhook = webhook.clone();
                async move { Ok::<_, Infallible>(handle(&webhook, request).await) }
            });
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%error, "webhook connection ended");
            }
        });
    }
}

async fn handle(webhook: &Webhook, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.uri().path() != PATH {
        return text(StatusCode::NOT_FOUND, format!("only {PATH} is served here"));
    }
    if request.method() != Method::POST {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST an AdmissionReview".into(),
        );
    }
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("reading the body: {error}"),
            );
        }
    };
    match webhook.review(&body).await {
        Ok(json) => Response::builder()
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(json)))
            .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, String::new())),
        Err(message) => text(StatusCode::BAD_REQUEST, message),
    }
}

fn text(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message)));
    *response.status_mut() = status;
    response
}
