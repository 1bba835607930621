//! The fake's HTTP API: routing, Pebble's envelope, and one handler per endpoint.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use http::{Method, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyDataStream, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_util::io::ReaderStream;

use super::exec::{ExecInvocation, PendingExec};
use super::fs::{PathFailure, results};
use super::state::{ApiError, valid_custom_key};
use super::{Shared, clock};
use crate::pebble::files::{Owner, closing, new_boundary, part_header};
use crate::pebble::query;
use crate::pebble::{GoDuration, Layer, NoticeType};

pub(crate) type Body = UnsyncBoxBody<Bytes, io::Error>;
type Reply = Result<Response<Body>, ApiError>;

const MAX_JSON_BODY: usize = 4 * 1024 * 1024;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn envelope(status: StatusCode, kind: &str, result: Value, change: Option<u64>) -> Response<Body> {
    let mut body = json!({
        "type": kind,
        "status-code": status.as_u16(),
        "status": status.canonical_reason().unwrap_or_default(),
        "result": result,
    });
    if let Some(change) = change {
        body["change"] = json!(change.to_string());
    }
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn sync(result: Value) -> Reply {
    Ok(envelope(StatusCode::OK, "sync", result, None))
}

fn accepted(change: u64, result: Value) -> Reply {
    Ok(envelope(
        StatusCode::ACCEPTED,
        "async",
        result,
        Some(change),
    ))
}

pub(crate) fn error_response(error: ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut result = json!({"message": error.message});
    if let Some(kind) = error.kind {
        result["kind"] = json!(kind);
    }
    envelope(status, "error", result, None)
}

/// Serves one request.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    request: http::Request<Incoming>,
) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    if let Ok(mut log) = shared.requests.lock() {
        log.push(format!("{method} {path}"));
    }
    let query = query::decode(request.uri().query().unwrap_or_default());
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let reply = match (method.clone(), segments.as_slice()) {
        (Method::GET, ["v1", "system-info"]) => sync(json!({
            "version": super::FAKE_VERSION,
            "boot-id": shared.boot_id,
        })),
        (Method::GET, ["v1", "plan"]) => get_plan(&shared, &query),
        (Method::POST, ["v1", "layers"]) => post_layers(&shared, request).await,
        (Method::GET, ["v1", "services"]) => get_services(&shared, &query),
        (Method::POST, ["v1", "services"]) => post_services(&shared, request).await,
        (Method::GET, ["v1", "changes", id]) => get_change(&shared, id),
        (Method::GET, ["v1", "changes", id, "wait"]) => wait_change(&shared, id, &query).await,
        (Method::GET, ["v1", "checks"]) => get_checks(&shared, &query),
        (Method::POST, ["v1", "checks"]) => post_checks(&shared, request).await,
        (Method::GET, ["v1", "notices"]) => get_notices(&shared, &query),
        (Method::POST, ["v1", "notices"]) => post_notices(&shared, request).await,
        (Method::GET, ["v1", "notices", id]) => get_notice(&shared, id),
        (Method::GET, ["v1", "files"]) => get_files(&shared, request, &query).await,
        (Method::POST, ["v1", "files"]) => post_files(&shared, request).await,
        (Method::POST, ["v1", "exec"]) => post_exec(&shared, request).await,
        (Method::GET, ["v1", "tasks", task, "websocket", name]) => {
            task_websocket(&shared, request, task, name)
        }
        _ => Err(ApiError {
            status: 404,
            message: "not found".into(),
            kind: None,
        }),
    };
    reply.unwrap_or_else(error_response)
}

fn first<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Values of a repeated, comma-separable parameter (`names=a,b&names=c`).
fn list(query: &[(String, String)], key: &str) -> Vec<String> {
    query
        .iter()
        .filter(|(k, _)| k == key)
        .flat_map(|(_, v)| v.split(','))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

async fn json_body<T: for<'de> Deserialize<'de>>(
    request: http::Request<Incoming>,
) -> Result<T, ApiError> {
    let limited = http_body_util::Limited::new(request.into_body(), MAX_JSON_BODY);
    let bytes = limited
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("cannot read request body: {e}")))?
        .to_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("cannot decode request body: {e}")))
}

fn lock(shared: &Shared) -> Result<std::sync::MutexGuard<'_, super::state::State>, ApiError> {
    shared.state.lock().map_err(|_| ApiError {
        status: 500,
        message: "fake Pebble state is poisoned".into(),
        kind: None,
    })
}

fn get_plan(shared: &Shared, query: &[(String, String)]) -> Reply {
    let format = first(query, "format").unwrap_or_default();
    if format != "yaml" {
        return Err(ApiError::bad_request(format!("invalid format {format:?}")));
    }
    let plan = lock(shared)?.plan.clone();
    let text = plan.to_yaml().map_err(|e| ApiError {
        status: 500,
        message: format!("cannot serialize plan: {e}"),
        kind: None,
    })?;
    // Pebble marshals an empty plan as "{}\n".
    sync(json!(if text.trim().is_empty() {
        "{}\n".to_string()
    } else {
        text
    }))
}

#[derive(Deserialize)]
struct LayersPayload {
    #[serde(default)]
    action: String,
    #[serde(default)]
    combine: bool,
    #[serde(default)]
    label: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    layer: String,
}

async fn post_layers(shared: &Shared, request: http::Request<Incoming>) -> Reply {
    let payload: LayersPayload = json_body(request).await?;
    if payload.action != "add" {
        return Err(ApiError::bad_request(format!(
            "invalid action {:?}",
            payload.action
        )));
    }
    if payload.label.is_empty() {
        return Err(ApiError::bad_request("label must be set"));
    }
    if payload.format != "yaml" {
        return Err(ApiError::bad_request(format!(
            "invalid format {:?}",
            payload.format
        )));
    }
    let layer = Layer::from_yaml(&payload.layer)
        .map_err(|e| ApiError::bad_request(format!("cannot parse layer YAML: {e}")))?;
    lock(shared)?.add_layer(&payload.label, layer, payload.combine)?;
    sync(json!(true))
}

fn get_services(shared: &Shared, query: &[(String, String)]) -> Reply {
    let names = list(query, "names");
    sync(lock(shared)?.service_infos(&names))
}

#[derive(Deserialize)]
struct ServicesPayload {
    #[serde(default)]
    action: String,
    #[serde(default)]
    services: Option<Vec<String>>,
}

async fn post_services(shared: &Shared, request: http::Request<Incoming>) -> Reply {
    let payload: ServicesPayload = json_body(request).await?;
    let id = lock(shared)?.service_action(&payload.action, payload.services.unwrap_or_default())?;
    accepted(id, Value::Null)
}

fn parse_change_id(id: &str) -> Result<u64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("cannot find change with id {id:?}")))
}

fn get_change(shared: &Shared, id: &str) -> Reply {
    let numeric = parse_change_id(id)?;
    let state = lock(shared)?;
    let record = state
        .changes
        .get(&numeric)
        .ok_or_else(|| ApiError::not_found(format!("cannot find change with id {id:?}")))?;
    sync(record.info.clone())
}

async fn wait_change(shared: &Shared, id: &str, query: &[(String, String)]) -> Reply {
    let numeric = parse_change_id(id)?;
    let timeout = match first(query, "timeout").filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => Some(
            text.parse::<GoDuration>()
                .map_err(|e| ApiError::bad_request(format!("invalid timeout: {e}")))?
                .0,
        ),
    };
    let mut ready = {
        let state = lock(shared)?;
        let record = state
            .changes
            .get(&numeric)
            .ok_or_else(|| ApiError::not_found(format!("cannot find change with id {id:?}")))?;
        record.ready.subscribe()
    };
    let wait = ready.wait_for(|ready| *ready);
    let waited = match timeout.filter(|t| !t.is_zero()) {
        Some(limit) => tokio::time::timeout(limit, wait)
            .await
            .map_err(|_| ApiError {
                status: 504,
                message: format!("timed out waiting for change after {}", GoDuration(limit)),
                kind: None,
            })?,
        None => wait.await,
    };
    if waited.is_err() {
        return Err(ApiError {
            status: 500,
            message: "change was dropped".into(),
            kind: None,
        });
    }
    get_change(shared, id)
}

fn get_checks(shared: &Shared, query: &[(String, String)]) -> Reply {
    let level = first(query, "level").filter(|l| !l.is_empty());
    if let Some(level) = level
        && level != "alive"
        && level != "ready"
    {
        return Err(ApiError::bad_request(r#"level must be "alive" or "ready""#));
    }
    let names = list(query, "names");
    sync(lock(shared)?.check_infos(level, &names))
}

#[derive(Deserialize)]
struct ChecksPayload {
    #[serde(default)]
    action: String,
    #[serde(default)]
    checks: Vec<String>,
}

async fn post_checks(shared: &Shared, request: http::Request<Incoming>) -> Reply {
    let payload: ChecksPayload = json_body(request).await?;
    let changed = lock(shared)?.checks_action(&payload.action, &payload.checks)?;
    sync(json!({ "changed": changed }))
}

fn get_notices(shared: &Shared, query: &[(String, String)]) -> Reply {
    let types = list(query, "types");
    let keys = list(query, "keys");
    let after = first(query, "after").filter(|a| !a.is_empty());
    let state = lock(shared)?;
    let mut notices: Vec<_> = state
        .notices
        .iter()
        .filter(|n| types.is_empty() || types.iter().any(|t| t == n.notice_type.as_str()))
        .filter(|n| keys.is_empty() || keys.contains(&n.key))
        .filter(|n| after.is_none_or(|a| n.last_repeated.as_str() > a))
        .collect();
    notices.sort_by(|a, b| a.last_repeated.cmp(&b.last_repeated));
    sync(Value::Array(notices.iter().map(|n| n.to_json()).collect()))
}

fn get_notice(shared: &Shared, id: &str) -> Reply {
    let state = lock(shared)?;
    let notice = state
        .notices
        .iter()
        .find(|n| n.id.to_string() == id)
        .ok_or_else(|| ApiError::not_found(format!("cannot find notice with ID {id:?}")))?;
    sync(notice.to_json())
}

#[derive(Deserialize)]
struct NoticePayload {
    #[serde(default)]
    action: String,
    #[serde(rename = "type", default)]
    notice_type: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    data: BTreeMap<String, String>,
}

async fn post_notices(shared: &Shared, request: http::Request<Incoming>) -> Reply {
    let payload: NoticePayload = json_body(request).await?;
    if payload.action != "add" {
        return Err(ApiError::bad_request(format!(
            "invalid action {:?}",
            payload.action
        )));
    }
    if payload.notice_type != "custom" {
        return Err(ApiError::bad_request(format!(
            "invalid type {:?} (can only add \"custom\" notices)",
            payload.notice_type
        )));
    }
    if !valid_custom_key(&payload.key) {
        return Err(ApiError::bad_request(format!(
            "invalid key {:?} (must be in \"domain.com/key\" format)",
            payload.key
        )));
    }
    let id = lock(shared)?.add_notice(NoticeType::Custom, &payload.key, payload.data);
    sync(json!({"id": id.to_string()}))
}

async fn get_files(
    shared: &Arc<Shared>,
    request: http::Request<Incoming>,
    query: &[(String, String)],
) -> Reply {
    match first(query, "action").unwrap_or_default() {
        "list" => {
            let path = first(query, "path").unwrap_or_default();
            if path.is_empty() {
                return Err(ApiError::bad_request("must specify path"));
            }
            let itself = match first(query, "itself").unwrap_or_default() {
                "true" => true,
                "false" | "" => false,
                _ => {
                    return Err(ApiError::bad_request(
                        r#"itself parameter must be "true" or "false""#,
                    ));
                }
            };
            let pattern = first(query, "pattern").filter(|p| !p.is_empty());
            shared
                .fs
                .list(path, pattern, itself)
                .map_err(failure_to_api)
                .and_then(sync)
        }
        "read" => {
            let paths: Vec<String> = query
                .iter()
                .filter(|(k, _)| k == "path")
                .map(|(_, v)| v.clone())
                .collect();
            if paths.is_empty() {
                return Err(ApiError::bad_request("must specify one or more paths"));
            }
            let accept = request
                .headers()
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok());
            if accept != Some("multipart/form-data") {
                return Err(ApiError::bad_request("must accept multipart/form-data"));
            }
            read_files(shared, paths).await
        }
        other => Err(ApiError::bad_request(format!("invalid action {other:?}"))),
    }
}

fn failure_to_api(failure: PathFailure) -> ApiError {
    ApiError {
        status: failure.status(),
        message: failure.message,
        kind: Some(failure.kind),
    }
}

/// Streams each readable file as a `files` part, then the `response` part with the results.
async fn read_files(shared: &Shared, paths: Vec<String>) -> Reply {
    let boundary = new_boundary();
    let mut parts: Vec<futures::stream::BoxStream<'static, io::Result<Bytes>>> = Vec::new();
    let mut outcomes = Vec::new();
    let mut first_part = true;
    for path in paths {
        match shared.fs.open_for_read(&path).await {
            Ok(file) => {
                let header = part_header(
                    &boundary,
                    first_part,
                    "application/octet-stream",
                    "files",
                    Some(&path),
                );
                first_part = false;
                parts.push(stream::once(async move { Ok(Bytes::from(header)) }).boxed());
                parts.push(ReaderStream::with_capacity(file, 64 * 1024).boxed());
                outcomes.push((path, Ok(())));
            }
            Err(failure) => outcomes.push((path, Err(failure))),
        }
    }
    let response = json!({
        "type": "sync",
        "status-code": 200,
        "status": "OK",
        "result": results(outcomes),
    });
    let tail = format!(
        "{}{response}{}",
        part_header(&boundary, first_part, "application/json", "response", None),
        closing(&boundary)
    );
    parts.push(stream::once(async move { Ok(Bytes::from(tail)) }).boxed());
    let body = StreamBody::new(stream::iter(parts).flatten().map_ok(Frame::data)).boxed_unsync();
    let mut reply = Response::new(body);
    reply.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
    );
    Ok(reply)
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct WriteItem {
    path: String,
    #[serde(default)]
    make_dirs: bool,
    #[serde(default)]
    permissions: Option<String>,
    #[serde(flatten)]
    owner: Owner,
}

#[derive(Deserialize)]
struct WritePayload {
    #[serde(default)]
    action: String,
    #[serde(default)]
    files: Vec<WriteItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct DirItem {
    path: String,
    #[serde(default)]
    make_parents: bool,
    #[serde(default)]
    permissions: Option<String>,
    #[serde(flatten)]
    owner: Owner,
}

#[derive(Deserialize)]
struct RemoveItem {
    path: String,
    #[serde(default)]
    recursive: bool,
}

#[derive(Deserialize)]
struct FilesPayload {
    #[serde(default)]
    action: String,
    #[serde(default)]
    dirs: Vec<DirItem>,
    #[serde(default)]
    paths: Vec<RemoveItem>,
}

async fn post_files(shared: &Shared, request: http::Request<Incoming>) -> Reply {
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    match media_type {
        "multipart/form-data" => {
            let boundary = multer::parse_boundary(&content_type).map_err(|_| {
                ApiError::bad_request(format!("invalid Content-Type {content_type:?}"))
            })?;
            if boundary.len() < 32 {
                return Err(ApiError::bad_request(format!(
                    "invalid boundary {boundary:?}"
                )));
            }
            write_files(shared, request, boundary).await
        }
        "application/json" => {
            let payload: FilesPayload = json_body(request).await?;
            match payload.action.as_str() {
                "make-dirs" => {
                    let mut outcomes = Vec::new();
                    for dir in payload.dirs {
                        let outcome = shared
                            .fs
                            .make_dir(
                                &dir.path,
                                dir.make_parents,
                                dir.permissions.as_deref(),
                                &dir.owner,
                            )
                            .await;
                        outcomes.push((dir.path, outcome));
                    }
                    sync(results(outcomes))
                }
                "remove" => {
                    let mut outcomes = Vec::new();
                    for item in payload.paths {
                        let outcome = shared.fs.remove(&item.path, item.recursive).await;
                        outcomes.push((item.path, outcome));
                    }
                    sync(results(outcomes))
                }
                "write" => Err(ApiError::bad_request(
                    r#"must use multipart with "write" action"#,
                )),
                other => Err(ApiError::bad_request(format!("invalid action {other:?}"))),
            }
        }
        other => Err(ApiError::bad_request(format!(
            "invalid media type {other:?}"
        ))),
    }
}

/// Reads the `request` part, then streams each `files` part into place.
async fn write_files(shared: &Shared, request: http::Request<Incoming>, boundary: String) -> Reply {
    let mut multipart = multer::Multipart::new(BodyDataStream::new(request.into_body()), boundary);
    let bad =
        |what: &str, e: multer::Error| ApiError::bad_request(format!("cannot read {what}: {e}"));
    let metadata = multipart
        .next_field()
        .await
        .map_err(|e| bad("request metadata", e))?
        .ok_or_else(|| ApiError::bad_request("cannot read request metadata: no parts"))?;
    if metadata.name() != Some("request") {
        return Err(ApiError::bad_request(format!(
            "metadata field name must be \"request\", got {:?}",
            metadata.name().unwrap_or_default()
        )));
    }
    let bytes = metadata
        .bytes()
        .await
        .map_err(|e| bad("request metadata", e))?;
    let payload: WritePayload = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("cannot decode request metadata: {e}")))?;
    if payload.action != "write" {
        return Err(ApiError::bad_request(format!(
            "multipart action must be \"write\", got {:?}",
            payload.action
        )));
    }
    if payload.files.is_empty() {
        return Err(ApiError::bad_request("must specify one or more files"));
    }
    let mut outcomes: BTreeMap<String, Result<(), PathFailure>> = BTreeMap::new();
    let mut index = 0;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(&format!("file part {index}"), e))?
    {
        index += 1;
        if field.name() != Some("files") {
            return Err(ApiError::bad_request(format!(
                "field name must be \"files\", got {:?}",
                field.name().unwrap_or_default()
            )));
        }
        let path = field.file_name().unwrap_or_default().to_string();
        let item = payload
            .files
            .iter()
            .find(|f| f.path == path)
            .ok_or_else(|| ApiError::bad_request(format!("no metadata for path {path:?}")))?;
        let outcome = match shared
            .fs
            .start_write(&path, item.make_dirs, item.permissions.as_deref())
            .await
        {
            Err(failure) => {
                // Drain the part so the next one can be read.
                while let Some(_chunk) = field.chunk().await.map_err(|e| bad("file content", e))? {}
                Err(failure)
            }
            Ok((mut file, temp, mode)) => {
                let mut copy_error = None;
                loop {
                    let chunk = match field.chunk().await {
                        Ok(Some(chunk)) => chunk,
                        Ok(None) => break,
                        Err(e) => {
                            // A broken upload leaves nothing behind.
                            drop(file);
                            let _ = tokio::fs::remove_file(&temp).await;
                            return Err(bad("file content", e));
                        }
                    };
                    if copy_error.is_none()
                        && let Err(e) = file.write_all(&chunk).await
                    {
                        copy_error = Some(e);
                    }
                }
                let flushed = file.flush().await;
                drop(file);
                match copy_error.or(flushed.err()) {
                    Some(e) => {
                        let _ = tokio::fs::remove_file(&temp).await;
                        Err(PathFailure {
                            kind: "generic-file-error",
                            message: format!("write {path}: {e}"),
                        })
                    }
                    None => {
                        shared
                            .fs
                            .finish_write(&path, &temp, mode, &item.owner)
                            .await
                    }
                }
            }
        };
        outcomes.insert(path, outcome);
    }
    let ordered = payload
        .files
        .iter()
        .map(|f| {
            let outcome = outcomes.remove(&f.path).unwrap_or_else(|| {
                Err(PathFailure {
                    kind: "generic-file-error",
                    message: format!("no file content for path {:?}", f.path),
                })
            });
            (f.path.clone(), outcome)
        })
        .collect();
    sync(results(ordered))
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ExecPayload {
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    service_context: Option<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    split_stderr: bool,
}

async fn post_exec(shared: &Arc<Shared>, request: http::Request<Incoming>) -> Reply {
    let payload: ExecPayload = json_body(request).await?;
    let Some(program) = payload.command.first().cloned() else {
        return Err(ApiError::bad_request("must specify command"));
    };
    let timeout: Option<Duration> = match payload.timeout.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => Some(
            text.parse::<GoDuration>()
                .map_err(|e| ApiError::bad_request(format!("invalid timeout: {e}")))?
                .0,
        ),
    };
    let runner = shared
        .exec_runner(&payload.command)
        .ok_or_else(|| ApiError::bad_request(format!("cannot find executable {program:?}")))?;
    if let Some(dir) = &payload.working_dir
        && !shared.fs.host_path(dir).is_dir()
    {
        return Err(ApiError::bad_request(format!(
            "cannot find working directory {dir:?}"
        )));
    }
    let mut environment = BTreeMap::new();
    let mut working_dir = None;
    let mut user = None;
    let mut group = None;
    if let Some(context) = payload.service_context.as_deref().filter(|c| !c.is_empty()) {
        let state = lock(shared)?;
        let service = state.plan.services.get(context).ok_or_else(|| {
            ApiError::bad_request(format!("context service {context:?} not found"))
        })?;
        environment.clone_from(&service.environment);
        working_dir.clone_from(&service.working_dir);
        user.clone_from(&service.user);
        group.clone_from(&service.group);
    }
    environment.extend(payload.environment);
    let invocation = ExecInvocation {
        command: payload.command,
        environment,
        working_dir: payload.working_dir.or(working_dir),
        user: payload.user.or(user),
        group: payload.group.or(group),
        stdin: Vec::new(),
    };
    let (sender, sockets) = mpsc::channel(4);
    let (change_id, task_id) = {
        let mut state = lock(shared)?;
        let task_id = state.new_task_id();
        let now = clock::now();
        let summary = format!("Execute command {program:?}");
        let info = json!({
            "kind": "exec",
            "summary": summary,
            "status": "Doing",
            "ready": false,
            "spawn-time": now,
            "tasks": [{
                "id": task_id.to_string(), "kind": "exec", "summary": summary, "status": "Doing",
                "progress": {"label": "", "done": 0, "total": 1}, "spawn-time": now,
            }],
        });
        let (ready, _) = tokio::sync::watch::channel(false);
        (state.insert_change(info, ready), task_id)
    };
    if let Ok(mut sessions) = shared.exec_sessions.lock() {
        sessions.insert(task_id.to_string(), sender);
    }
    let pending = PendingExec {
        change_id,
        invocation,
        timeout,
        split_stderr: payload.split_stderr,
        runner,
        sockets,
    };
    let runner_shared = Arc::clone(shared);
    tokio::spawn(async move {
        super::exec::run(Arc::clone(&runner_shared), pending).await;
        if let Ok(mut sessions) = runner_shared.exec_sessions.lock() {
            sessions.remove(&task_id.to_string());
        }
    });
    accepted(
        change_id,
        json!({"task-id": task_id.to_string(), "environment": {}, "working-dir": ""}),
    )
}

/// Upgrades to a websocket and hands it to the exec waiting for it.
fn task_websocket(
    shared: &Shared,
    request: http::Request<Incoming>,
    task: &str,
    name: &str,
) -> Reply {
    if !matches!(name, "control" | "stdio" | "stderr") {
        return Err(ApiError::not_found(format!(
            "invalid websocket ID {name:?}"
        )));
    }
    let sender = shared
        .exec_sessions
        .lock()
        .ok()
        .and_then(|s| s.get(task).cloned())
        .ok_or_else(|| ApiError::not_found(format!("cannot find task with id {task:?}")))?;
    let key = request
        .headers()
        .get("sec-websocket-key")
        .ok_or_else(|| ApiError::bad_request("not a websocket request"))?;
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let name = name.to_string();
    tokio::spawn(async move {
        match hyper::upgrade::on(request).await {
            Ok(upgraded) => {
                let socket =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                let _ = sender.send((name, socket)).await;
            }
            Err(e) => tracing::debug!("fake Pebble websocket upgrade failed: {e}"),
        }
    });
    let mut response = Response::new(full(Vec::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("Upgrade"),
    );
    headers.insert(
        http::header::UPGRADE,
        http::HeaderValue::from_static("websocket"),
    );
    headers.insert(
        "sec-websocket-accept",
        http::HeaderValue::from_str(&accept).map_err(|e| ApiError::bad_request(e.to_string()))?,
    );
    Ok(response)
}
