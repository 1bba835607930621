//! The HTTP side of the client: connecting to the socket, Pebble's response envelope, and
//! mapping failures to [`Error`].

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use super::error::{Error, Result};
use super::ids::ChangeId;
use super::query;

pub(crate) use http::Method;

/// Request bodies: small JSON documents, or a streamed multipart upload.
pub(crate) type RequestBody = UnsyncBoxBody<Bytes, io::Error>;

/// Default time allowed for one ordinary request.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time to wait for a change (start, stop, replan ...), as in `ops`.
const DEFAULT_CHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// A client for one Pebble daemon, reached over its unix socket.
///
/// Cheap to clone. Every request opens its own connection, so a client made before Pebble
/// is up works as soon as it is.
#[derive(Debug, Clone)]
pub struct Client {
    socket: Arc<Path>,
    timeout: Duration,
    change_timeout: Duration,
}

/// What `GET /v1/system-info` reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SystemInfo {
    /// Pebble's version, e.g. `v1.10.2`.
    pub version: String,
    /// Changes on every boot of the container.
    #[serde(default)]
    pub boot_id: Option<String>,
}

/// Pebble's response envelope: `{"type", "status-code", "status", "result", "change"}`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Envelope {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "status-code", default)]
    pub status_code: u16,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub result: serde_json::Value,
    #[serde(default)]
    pub change: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct ErrorResult {
    #[serde(default)]
    message: String,
    #[serde(default)]
    kind: Option<String>,
}

impl Client {
    /// A client for the Pebble listening on `socket_path`.
    pub fn new(socket_path: impl Into<PathBuf>) -> Self {
        Self {
            socket: Arc::from(socket_path.into()),
            timeout: DEFAULT_TIMEOUT,
            change_timeout: DEFAULT_CHANGE_TIMEOUT,
        }
    }

    /// Sets the time allowed for one ordinary request (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how long service operations wait for their change to finish (default 30 s).
    pub fn with_change_timeout(mut self, timeout: Duration) -> Self {
        self.change_timeout = timeout;
        self
    }

    /// The socket this client talks to.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn change_timeout(&self) -> Duration {
        self.change_timeout
    }

    /// Whether Pebble answers: false when the socket is missing, refuses connections or
    /// Pebble returns an error. Charms check this before touching a container.
    pub async fn can_connect(&self) -> bool {
        match self.system_info().await {
            Ok(_) => true,
            Err(err) => {
                tracing::debug!(socket = %self.socket.display(), "cannot connect to Pebble: {err}");
                false
            }
        }
    }

    /// Pebble's version and boot id.
    pub async fn system_info(&self) -> Result<SystemInfo> {
        self.sync_json::<_, ()>(Method::GET, "/v1/system-info", &[], None)
            .await
    }

    pub(crate) fn connection_error(&self, message: impl Into<String>) -> Error {
        Error::Connection {
            socket: self.socket.to_path_buf(),
            message: message.into(),
        }
    }

    /// Opens a fresh connection to the socket.
    pub(crate) async fn connect(&self) -> Result<UnixStream> {
        UnixStream::connect(&*self.socket)
            .await
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => {
                    self.connection_error(format!("socket not found (is Pebble running?): {e}"))
                }
                io::ErrorKind::ConnectionRefused => {
                    self.connection_error(format!("connection refused: {e}"))
                }
                _ => self.connection_error(e.to_string()),
            })
    }

    /// Builds a request for `path?query` with an optional body.
    pub(crate) fn build_request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: RequestBody,
        content_type: Option<&str>,
    ) -> Result<Request<RequestBody>> {
        let uri = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", query::encode(query))
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(&uri)
            .header(http::header::HOST, "localhost");
        if let Some(content_type) = content_type {
            builder = builder.header(http::header::CONTENT_TYPE, content_type);
        }
        builder
            .body(body)
            .map_err(|e| Error::InvalidArgument(format!("cannot build request for {uri:?}: {e}")))
    }

    /// Sends a request on a new connection and returns the response head with a streaming body.
    pub(crate) async fn send(&self, request: Request<RequestBody>) -> Result<Response<Incoming>> {
        let stream = self.connect().await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.connection_error(format!("HTTP handshake failed: {e}")))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("Pebble connection ended: {e}");
            }
        });
        sender
            .send_request(request)
            .await
            .map_err(|e| self.connection_error(format!("request failed: {}", error_chain(&e))))
    }

    /// Sends a request and decodes Pebble's envelope, turning error responses into
    /// [`Error::Api`]. `timeout` bounds the whole exchange.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        json_body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Envelope> {
        let what = format!("{method} {path}");
        let (body, content_type) = match json_body {
            Some(bytes) => (full_body(bytes), Some("application/json")),
            None => (full_body(Vec::new()), None),
        };
        let request = self.build_request(method, path, query, body, content_type)?;
        let exchange = async {
            let response = self.send(request).await?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| self.connection_error(format!("cannot read response: {e}")))?
                .to_bytes();
            decode_envelope(&what, status, &bytes)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| Error::Timeout {
                what,
                after: timeout,
            })?
    }

    /// A synchronous request: JSON in, the `result` decoded as `T` out.
    pub(crate) async fn sync_json<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T> {
        let what = format!("{method} {path}");
        let body = body.map(to_json).transpose()?;
        let envelope = self.call(method, path, query, body, self.timeout).await?;
        if envelope.kind != "sync" {
            return Err(protocol(
                &what,
                format!("expected a sync response, got {:?}", envelope.kind),
            ));
        }
        decode_result(&what, envelope.result)
    }

    /// An asynchronous request: returns the id of the change Pebble started, and the result.
    pub(crate) async fn async_json<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<(ChangeId, serde_json::Value)> {
        let what = format!("{method} {path}");
        let envelope = self
            .call(method, path, &[], Some(to_json(body)?), self.timeout)
            .await?;
        if envelope.kind != "async" {
            return Err(protocol(
                &what,
                format!("expected an async response, got {:?}", envelope.kind),
            ));
        }
        let change = envelope
            .change
            .filter(|c| !c.is_empty())
            .ok_or_else(|| protocol(&what, "async response without a change id"))?;
        let id = ChangeId::new(change).map_err(|e| protocol(&what, e.to_string()))?;
        Ok((id, envelope.result))
    }
}

pub(crate) fn full_body(bytes: impl Into<Bytes>) -> RequestBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn to_json<B: Serialize>(body: &B) -> Result<Vec<u8>> {
    serde_json::to_vec(body)
        .map_err(|e| Error::InvalidArgument(format!("cannot encode request as JSON: {e}")))
}

pub(crate) fn protocol(request: &str, message: impl Into<String>) -> Error {
    Error::Protocol {
        request: request.to_string(),
        message: message.into(),
    }
}

pub(crate) fn decode_result<T: DeserializeOwned>(
    what: &str,
    result: serde_json::Value,
) -> Result<T> {
    serde_json::from_value(result).map_err(|e| protocol(what, format!("cannot decode result: {e}")))
}

/// Decodes Pebble's envelope from a response body.
pub(crate) fn decode_envelope(
    what: &str,
    status: http::StatusCode,
    bytes: &[u8],
) -> Result<Envelope> {
    let envelope: Envelope = match serde_json::from_slice(bytes) {
        Ok(envelope) => envelope,
        Err(e) if !status.is_success() => {
            // Not Pebble's JSON (a proxy, a crash): report the HTTP status and the text.
            return Err(Error::Api {
                status_code: status.as_u16(),
                status: status.canonical_reason().unwrap_or_default().to_string(),
                message: format!("{} (not a Pebble response: {e})", snippet(bytes)),
                kind: None,
            });
        }
        Err(e) => {
            return Err(protocol(
                what,
                format!("invalid JSON ({e}) in {}", snippet(bytes)),
            ));
        }
    };
    if envelope.kind == "error" {
        let result: ErrorResult = serde_json::from_value(envelope.result).unwrap_or_default();
        let status_code = if envelope.status_code == 0 {
            status.as_u16()
        } else {
            envelope.status_code
        };
        return Err(Error::Api {
            status_code,
            status: envelope.status,
            message: result.message,
            kind: result.kind.filter(|k| !k.is_empty()),
        });
    }
    Ok(envelope)
}

/// The start of a body, for error messages.
pub(crate) fn snippet(bytes: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]);
    if bytes.len() > MAX {
        format!("{text:?}...")
    } else {
        format!("{text:?}")
    }
}

/// An error with its sources, which hyper keeps separate.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelope_becomes_api_error() {
        let body = br#"{"type":"error","status-code":400,"status":"Bad Request","result":{"message":"cannot start services: service \"x\" does not exist"}}"#;
        let err =
            decode_envelope("POST /v1/services", http::StatusCode::BAD_REQUEST, body).unwrap_err();
        match err {
            Error::Api {
                status_code,
                status,
                message,
                kind,
            } => {
                assert_eq!(status_code, 400);
                assert_eq!(status, "Bad Request");
                assert!(message.contains("does not exist"));
                assert_eq!(kind, None);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        for (status, body) in [
            (http::StatusCode::OK, &b"not json"[..]),
            (http::StatusCode::OK, b"{\"result\": 1}"),
            (http::StatusCode::OK, b""),
            (http::StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>"),
        ] {
            let err = decode_envelope("GET /v1/x", status, body).unwrap_err();
            assert!(
                matches!(err, Error::Protocol { .. } | Error::Api { .. }),
                "{err:?}"
            );
        }
        let err: Result<SystemInfo> =
            decode_result("GET /v1/system-info", serde_json::json!({"no": "version"}));
        assert!(matches!(err, Err(Error::Protocol { .. })));
    }
}
