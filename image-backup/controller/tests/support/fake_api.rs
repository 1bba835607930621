//! A small in-process Kubernetes API server over real HTTP on loopback, for running the whole
//! controller (`run_with`) in tests and benchmarks without a cluster.
//!
//! It keeps objects as JSON and implements what the controller uses: list and watch (with
//! `resourceVersion`, and `metadata.namespace!=` field selectors), get, create, JSON merge
//! patch and JSON patch (with a `metadata.resourceVersion` precondition answered by 409),
//! the status subresource, and event creation. It is not a conformance fake: no validation,
//! no pagination, no bookmarks.
//!
//! Outages ([`FakeApi::outage`], [`FakeApi::recover`], [`FakeApi::restart`]): stop answering
//! (connections stay open and silent, as a network partition leaves them), refuse connections
//! (the listener and every connection closed), answer 500 or 429 for a while, or come back as a
//! new process whose watch history is gone (old resourceVersions get 410 Gone).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// `(api prefix, plural)` of a resource type, e.g. `("/apis/apps/v1", "deployments")`.
type Kind = (String, String);

#[derive(Clone, Debug)]
pub struct WatchEvent {
    pub kind: Kind,
    pub rv: u64,
    pub type_: &'static str,
    pub object: Value,
}

#[derive(Default)]
struct Inner {
    objects: HashMap<Kind, BTreeMap<(String, String), Value>>,
    log: Vec<WatchEvent>,
    rv: u64,
    created_at: HashMap<(Kind, String, String), Instant>,
    requests: u64,
    outage: Outage,
    /// Watches from before this resourceVersion get 410 Gone (a restarted server).
    compacted: u64,
    addr: Option<SocketAddr>,
    server: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Clone)]
pub struct FakeApi {
    inner: Arc<Mutex<Inner>>,
    events: broadcast::Sender<WatchEvent>,
}

impl Default for FakeApi {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            events: broadcast::channel(1 << 16).0,
        }
    }
}

fn kind(prefix: &str, plural: &str) -> Kind {
    (prefix.to_string(), plural.to_string())
}

pub fn deployments() -> Kind {
    kind("/apis/apps/v1", "deployments")
}

pub fn imagebackups() -> Kind {
    kind("/apis/k8slab.io/v1alpha1", "imagebackups")
}

impl FakeApi {
    /// Serves on a loopback port; returns the URL to give kube's `Config::new`.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        self.accept_on(listener);
        format!("http://{addr}")
    }

    /// A kube client for this server.
    pub async fn client(&self) -> kube::Client {
        let url = self.serve().await;
        let config = kube::Config::new(url.parse().unwrap());
        kube::Client::try_from(config).unwrap()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// Creates or replaces an object directly (as another client would), returning it.
    pub fn put(&self, kind: &Kind, mut object: Value) -> Value {
        let mut inner = self.lock();
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        inner.rv += 1;
        let rv = inner.rv;
        let exists = inner
            .objects
            .get(kind)
            .is_some_and(|m| m.contains_key(&(ns.clone(), name.clone())));
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        if object["metadata"]["generation"].is_null() {
            object["metadata"]["generation"] = json!(1);
        }
        if object["metadata"]["uid"].is_null() {
            object["metadata"]["uid"] = json!(format!("uid-{rv}"));
        }
        if !exists {
            object["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
            inner
                .created_at
                .insert((kind.clone(), ns.clone(), name.clone()), Instant::now());
        }
        inner
            .objects
            .entry(kind.clone())
            .or_default()
            .insert((ns, name), object.clone());
        let event = WatchEvent {
            kind: kind.clone(),
            rv,
            type_: if exists { "MODIFIED" } else { "ADDED" },
            object: object.clone(),
        };
        inner.log.push(event.clone());
        let _ = self.events.send(event);
        object
    }

    pub fn get(&self, kind: &Kind, ns: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(kind)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    pub fn list(&self, kind: &Kind) -> Vec<Value> {
        self.lock()
            .objects
            .get(kind)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// When the object was first created.
    pub fn created_at(&self, kind: &Kind, ns: &str, name: &str) -> Option<Instant> {
        self.lock()
            .created_at
            .get(&(kind.clone(), ns.to_string(), name.to_string()))
            .copied()
    }

    pub fn requests(&self) -> u64 {
        self.lock().requests
    }

    /// Receives every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<WatchEvent> {
        self.events.subscribe()
    }
}

/// How the server misbehaves, from [`FakeApi::outage`] until [`FakeApi::recover`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Outage {
    #[default]
    None,
    /// Connections are accepted and requests read, but nothing is answered; open watches go
    /// silent for good (their connections stay dead after recovery, as after a partition).
    Hang,
    /// The listener and every open connection are closed: connections are refused.
    Refuse,
    /// Every request is answered with this status (429 with `Retry-After: 1`); open watches end.
    Status(u16),
}

/// The broadcast marker that tells open watches an outage began.
const OUTAGE_EVENT: &str = "OUTAGE";

impl FakeApi {
    /// Serves HTTP/1.1 on `listener` with connections of our own, so that an outage can close
    /// them all (axum's `serve` keeps connections beyond the listener's life).
    fn accept_on(&self, listener: tokio::net::TcpListener) {
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(self.clone());
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                connections.spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        let mut inner = self.lock();
        inner.addr = Some(addr);
        inner.server = Some(task);
    }

    /// Begins an outage of this kind.
    pub fn outage(&self, outage: Outage) {
        let server = {
            let mut inner = self.lock();
            inner.outage = outage;
            if outage == Outage::Refuse {
                inner.server.take()
            } else {
                None
            }
        };
        if let Some(task) = server {
            // Dropping the accept loop drops the listener and every connection task.
            task.abort();
        }
        let _ = self.events.send(WatchEvent {
            kind: kind("", OUTAGE_EVENT),
            rv: 0,
            type_: if outage == Outage::Hang {
                "HANG"
            } else {
                "END"
            },
            object: Value::Null,
        });
    }

    /// Ends the outage: answers again, on the same port.
    pub async fn recover(&self) {
        let refused = {
            let mut inner = self.lock();
            let refused = inner.outage == Outage::Refuse;
            inner.outage = Outage::None;
            refused.then_some(inner.addr).flatten()
        };
        if let Some(addr) = refused {
            let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
            self.accept_on(listener);
        }
    }

    /// Down for `down`, then back as a new process: the same objects, no watch history.
    pub async fn restart(&self, down: std::time::Duration) {
        self.outage(Outage::Refuse);
        tokio::time::sleep(down).await;
        {
            let mut inner = self.lock();
            inner.compacted = inner.rv;
            inner.log.clear();
        }
        self.recover().await;
    }

    /// Serves (if not yet) and writes a kubeconfig for this server at `path`.
    pub async fn write_kubeconfig(&self, path: &std::path::Path) {
        let url = self.serve().await;
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\n\
             users:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    \
             cluster: fake\n    user: fake\ncurrent-context: fake\n"
        );
        std::fs::write(path, yaml).unwrap();
    }
}

/// The answer to every request during an outage, if there is one; `None` to handle it.
async fn during_outage(api: &FakeApi) -> Option<Response> {
    let outage = api.lock().outage;
    match outage {
        Outage::None | Outage::Refuse => None,
        Outage::Hang => std::future::pending().await,
        Outage::Status(code) => {
            let mut response = status(code, "ServiceUnavailable", "fake outage".into());
            if code == 429 {
                response
                    .headers_mut()
                    .insert("retry-after", axum::http::HeaderValue::from_static("1"));
            }
            Some(response)
        }
    }
}

/// `/apis/g/v/namespaces/ns/plural/name/sub` or `/api/v1/...` split into its parts.
struct Target {
    kind: Kind,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_path(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (prefix_len, rest) = match *parts.first()? {
        "api" => (2, &parts[2..]),
        "apis" => (3, &parts[3..]),
        _ => return None,
    };
    let prefix = format!("/{}", parts[..prefix_len].join("/"));
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        rest => (None, rest),
    };
    let plural = rest.first()?;
    Some(Target {
        kind: kind(&prefix, plural),
        namespace,
        name: rest.get(1).map(|s| s.to_string()),
        subresource: rest.get(2).map(|s| s.to_string()),
    })
}

fn query(uri: &axum::http::Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Namespaces excluded by a `metadata.namespace!=a,metadata.namespace!=b` selector.
fn excluded(selector: Option<&String>) -> Vec<String> {
    selector
        .map(|s| {
            s.split(',')
                .filter_map(|c| c.strip_prefix("metadata.namespace!="))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn visible(object: &Value, namespace: &Option<String>, excluded: &[String]) -> bool {
    let ns = object["metadata"]["namespace"].as_str().unwrap_or_default();
    namespace.as_deref().is_none_or(|n| n == ns) && !excluded.iter().any(|e| e == ns)
}

fn status(code: u16, reason: &str, message: String) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message, "code": code});
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

fn ok(code: u16, body: &Value) -> Response {
    (
        StatusCode::from_u16(code).unwrap(),
        axum::Json(body.clone()),
    )
        .into_response()
}

async fn handle(State(api): State<FakeApi>, request: Request) -> Response {
    api.lock().requests += 1;
    if let Some(response) = during_outage(&api).await {
        return response;
    }
    let method = request.method().clone();
    let uri = request.uri().clone();
    let Some(target) = parse_path(uri.path()) else {
        return status(404, "NotFound", format!("no route {}", uri.path()));
    };
    let q = query(&uri);
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = axum::body::to_bytes(request.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };

    match (method, &target.name) {
        (Method::GET, None) if q.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            watch(api, target, q)
        }
        (Method::GET, None) => {
            let excluded = excluded(q.get("fieldSelector"));
            let inner = api.lock();
            let items: Vec<Value> = inner
                .objects
                .get(&target.kind)
                .map(|m| {
                    m.values()
                        .filter(|o| visible(o, &target.namespace, &excluded))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            ok(
                200,
                &json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": inner.rv.to_string()}, "items": items}),
            )
        }
        (Method::GET, Some(name)) => match api.get(
            &target.kind,
            target.namespace.as_deref().unwrap_or_default(),
            name,
        ) {
            Some(object) => ok(200, &object),
            None => status(
                404,
                "NotFound",
                format!("{} {name} not found", target.kind.1),
            ),
        },
        (Method::POST, None) => {
            let mut object = body;
            if let Some(ns) = &target.namespace {
                object["metadata"]["namespace"] = json!(ns);
            }
            if object["metadata"]["name"].is_null() {
                let n = api.lock().rv + 1;
                object["metadata"]["name"] = json!(format!("generated-{n}"));
            }
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            // Events are accepted and dropped: nothing watches them and they would only grow.
            if target.kind.1 == "events" {
                return ok(201, &object);
            }
            if api
                .get(
                    &target.kind,
                    target.namespace.as_deref().unwrap_or_default(),
                    &name,
                )
                .is_some()
            {
                return status(409, "AlreadyExists", format!("{name} already exists"));
            }
            ok(201, &api.put(&target.kind, object))
        }
        (Method::PUT, Some(name)) => {
            let ns = target.namespace.clone().unwrap_or_default();
            let current = api.get(&target.kind, &ns, name);
            match (current, body["metadata"]["resourceVersion"].as_str()) {
                (None, _) => status(404, "NotFound", format!("{name} not found")),
                (Some(c), Some(rv)) if c["metadata"]["resourceVersion"] != rv => {
                    status(409, "Conflict", "stale resourceVersion".into())
                }
                (Some(_), _) => ok(200, &api.put(&target.kind, body)),
            }
        }
        (Method::PATCH, Some(name)) => {
            let ns = target.namespace.clone().unwrap_or_default();
            let Some(current) = api.get(&target.kind, &ns, name) else {
                if target.kind.1 == "events" {
                    return ok(200, &body);
                }
                return status(404, "NotFound", format!("{name} not found"));
            };
            let mut patched = current.clone();
            if content_type.starts_with("application/json-patch+json") {
                let ops: json_patch::Patch = match serde_json::from_value(body) {
                    Ok(ops) => ops,
                    Err(e) => return status(400, "BadRequest", e.to_string()),
                };
                if let Err(e) = json_patch::patch(&mut patched, &ops) {
                    return status(422, "Invalid", e.to_string());
                }
            } else {
                if let Some(rv) = body["metadata"]["resourceVersion"].as_str()
                    && current["metadata"]["resourceVersion"] != rv
                {
                    return status(409, "Conflict", "the object has been modified".into());
                }
                let mut body = body;
                if target.subresource.as_deref() == Some("status") {
                    body = json!({"status": body["status"].clone()});
                }
                merge(&mut patched, &body);
            }
            if target.subresource.is_none() && patched.get("spec") != current.get("spec") {
                let generation = current["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
                patched["metadata"]["generation"] = json!(generation);
            }
            ok(200, &api.put(&target.kind, patched))
        }
        (method, _) => status(405, "MethodNotAllowed", format!("{method} not supported")),
    }
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = json!({});
            }
            let object = target.as_object_mut().unwrap();
            for (k, v) in fields {
                if v.is_null() {
                    object.remove(k);
                } else {
                    merge(object.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn watch(api: FakeApi, target: Target, q: HashMap<String, String>) -> Response {
    let since: u64 = q
        .get("resourceVersion")
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0);
    let excluded = excluded(q.get("fieldSelector"));
    let timeout: Option<u64> = q.get("timeoutSeconds").and_then(|t| t.parse().ok());
    // Snapshot and subscribe under the lock so no event falls between the two.
    let (backlog, live) = {
        let inner = api.lock();
        if since != 0 && since < inner.compacted {
            let gone = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1",
                "status": "Failure", "reason": "Expired", "code": 410,
                "message": format!("too old resource version: {since} ({})", inner.compacted)}});
            return Response::builder()
                .header("content-type", "application/json")
                .body(Body::from(format!("{gone}\n")))
                .unwrap();
        }
        let backlog: Vec<WatchEvent> = inner
            .log
            .iter()
            .filter(|e| e.rv > since && e.kind == target.kind)
            .cloned()
            .collect();
        (backlog, api.events.subscribe())
    };
    let kind = target.kind.clone();
    let namespace = target.namespace.clone();
    let live = tokio_stream::wrappers::BroadcastStream::new(live)
        .filter_map(move |e| futures::future::ready(e.ok()));
    // An outage ends the stream, or leaves it silent for good; so does the watch's timeout.
    let hung = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen_hang = hung.clone();
    let expired = async move {
        match timeout {
            Some(secs) => tokio::time::sleep(std::time::Duration::from_secs(secs)).await,
            None => std::future::pending().await,
        }
    };
    let stream = futures::stream::iter(backlog)
        .chain(live)
        .take_while(move |e| {
            let outage = e.kind.1 == OUTAGE_EVENT;
            if outage && e.type_ == "HANG" {
                seen_hang.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            futures::future::ready(!outage)
        })
        .take_until(Box::pin(expired))
        .chain(
            futures::stream::once(async move {
                if hung.load(std::sync::atomic::Ordering::SeqCst) {
                    std::future::pending::<()>().await;
                }
            })
            .filter_map(|()| futures::future::ready(None::<WatchEvent>)),
        )
        .filter(move |e| {
            futures::future::ready(
                e.kind == kind && e.rv > since && visible(&e.object, &namespace, &excluded),
            )
        })
        .map(|e| {
            let mut line =
                serde_json::to_vec(&json!({"type": e.type_, "object": e.object})).unwrap();
            line.push(b'\n');
            Ok::<_, std::io::Error>(bytes::Bytes::from(line))
        });
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap()
}

// Added for the admission webhook's tests (issue 16).

pub fn secrets() -> Kind {
    kind("/api/v1", "secrets")
}

pub fn mutating_webhook_configurations() -> Kind {
    kind(
        "/apis/admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
    )
}
