//! Test fixtures: a context over kube's mock service and a verifier that plays the API server,
//! request by request (the ApiServerVerifier pattern of kube-rs' controller-rs).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Method, Request, Response};
use kube::Client;
use kube::client::Body;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use serde_json::Value;
use tower_test::mock::{self, Handle, SendResponse};

use crate::context::{Context, RolloutMode, Settings};
use crate::copier::InMemoryCopier;
use crate::crd::ImageBackup;
use crate::lifecycle::Policy;
use crate::metrics::Metrics;
use crate::workload::Scope;

pub const NAMESPACE: &str = "image-backup";
pub const BACKUP_REGISTRY: &str = "backup.local:5000/mirror";
pub const ME: &str = "controller-0/test";

pub fn settings() -> Settings {
    Settings {
        namespace: NAMESPACE.into(),
        identity: ME.into(),
        scope: Scope {
            excluded_namespaces: vec!["kube-system".into(), NAMESPACE.into()],
            naming: image_backup_copier::BackupNaming::preserving(
                "backup.local:5000",
                Some("mirror"),
            )
            .unwrap(),
        },
        policy: Policy::default(),
        rollout: RolloutMode::Off,
        registry_credentials: None,
        registry_secret: None,
        progress_interval: Duration::from_secs(5),
    }
}

pub struct Fixture {
    pub ctx: Arc<Context>,
    pub server: ApiServerVerifier,
    pub store: Writer<ImageBackup>,
    pub copier: InMemoryCopier,
}

pub fn fixture(settings: Settings) -> Fixture {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let store = Writer::<ImageBackup>::default();
    let copier = InMemoryCopier::default();
    let ctx = Context::new(
        client,
        settings,
        Arc::new(copier.clone()),
        Arc::new(Metrics::default()),
        store.as_reader(),
    );
    Fixture {
        ctx: Arc::new(ctx),
        server: ApiServerVerifier::start(handle),
        store,
        copier,
    }
}

impl Fixture {
    /// Puts `backup` into the controller's cache, as the watcher would.
    pub fn cache(&mut self, backup: &ImageBackup) {
        self.store
            .apply_watcher_event(&watcher::Event::Apply(backup.clone()));
    }
}

/// Plays the API server. Event posts are answered at once (by a background task) and recorded
/// on the side, so tests state the API calls that matter in order and check events separately.
pub struct ApiServerVerifier {
    calls: tokio::sync::mpsc::UnboundedReceiver<Call>,
    events: Arc<Mutex<Vec<Value>>>,
}

impl ApiServerVerifier {
    fn start(mut handle: Handle<Request<Body>, Response<Body>>) -> Self {
        let (tx, calls) = tokio::sync::mpsc::unbounded_channel();
        let events = Arc::new(Mutex::new(Vec::new()));
        let recorded = events.clone();
        tokio::spawn(async move {
            while let Some((request, respond)) = handle.next_request().await {
                let method = request.method().clone();
                let uri = request.uri().to_string();
                let bytes = request.into_body().collect_bytes().await.unwrap();
                let body: Value = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).unwrap()
                };
                if uri.starts_with("/apis/events.k8s.io/") {
                    let mut echoed = body.clone();
                    echoed["metadata"]["resourceVersion"] = "1".into();
                    respond.send_response(
                        Response::builder()
                            .status(201)
                            .body(Body::from(serde_json::to_vec(&echoed).unwrap()))
                            .unwrap(),
                    );
                    recorded.lock().unwrap().push(body);
                } else if tx
                    .send(Call {
                        method,
                        uri,
                        body,
                        respond,
                    })
                    .is_err()
                {
                    break;
                }
            }
        });
        Self { calls, events }
    }

    /// The next request other than an event post.
    pub async fn next(&mut self) -> Call {
        tokio::time::timeout(Duration::from_secs(10), self.calls.recv())
            .await
            .expect("timed out waiting for an API request")
            .expect("client dropped before making the expected request")
    }

    /// The next request, checked against a method and a path (query ignored).
    pub async fn expect(&mut self, method: Method, path: &str) -> Call {
        let call = self.next().await;
        assert_eq!(
            (&call.method, call.path()),
            (&method, path),
            "unexpected request {} {}: {}",
            call.method,
            call.uri,
            call.body
        );
        call
    }

    /// Bodies of the events posted so far.
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// Reasons of the events posted so far.
    pub fn event_reasons(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| e["reason"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Fails when the code under test made a request nobody expected.
    pub fn assert_idle(&mut self) {
        if let Ok(call) = self.calls.try_recv() {
            panic!(
                "unexpected request {} {}: {}",
                call.method, call.uri, call.body
            );
        }
    }
}

/// One request the code under test made, waiting for its answer.
pub struct Call {
    pub method: Method,
    pub uri: String,
    pub body: Value,
    respond: SendResponse<Response<Body>>,
}

impl Call {
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or_default()
    }

    pub fn respond(self, code: u16, body: &Value) {
        let response = Response::builder()
            .status(code)
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap();
        self.respond.send_response(response);
    }

    pub fn ok(self, body: &Value) {
        self.respond(200, body);
    }

    /// Answers with an API `Status` error.
    pub fn fail(self, code: u16, reason: &str) {
        let status = serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": format!("mock says {reason}"), "reason": reason, "code": code,
        });
        self.respond(code, &status);
    }
}
