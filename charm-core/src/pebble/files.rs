//! Files in the workload container: streamed push and pull, listing, directories, removal.
//!
//! Push is `POST /v1/files` with a `multipart/form-data` body: a `request` part holding the
//! JSON metadata (`{"action": "write", "files": [...]}`), then one `files` part per file whose
//! filename is the destination path. Pull is `GET /v1/files?action=read&path=...` answered with
//! a multipart body: a `files` part with the content, then a `response` part holding the usual
//! JSON envelope with per-path errors. Both are streamed: file content passes through in
//! chunks and is never held in memory whole.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use http_body_util::{BodyDataStream, BodyExt, StreamBody};
use hyper::body::Frame;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use super::client::{Client, Method, RequestBody, decode_envelope, decode_result, protocol};
use super::error::{Error, PathErrorKind, Result};

string_enum! {
    /// The type of a file-system entry.
    pub enum FileType {
        /// A regular file.
        File = "file",
        /// A directory.
        Directory = "directory",
        /// A symbolic link.
        Symlink = "symlink",
        /// A unix socket.
        Socket = "socket",
        /// A named pipe.
        NamedPipe = "named-pipe",
        /// A device node.
        Device = "device",
        /// Anything else.
        Unknown = "unknown",
    }
}

/// A file-system entry (`GET /v1/files?action=list`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawFileInfo")]
pub struct FileInfo {
    /// Absolute path.
    pub path: String,
    /// Base name.
    pub name: String,
    /// Type.
    pub file_type: FileType,
    /// Size in bytes (regular files only).
    pub size: Option<u64>,
    /// Permission bits, e.g. `0o644`.
    pub permissions: u32,
    /// Modification time (RFC 3339).
    pub last_modified: String,
    /// Owner's user id.
    pub user_id: Option<u32>,
    /// Owner's user name, when it resolves.
    pub user: Option<String>,
    /// Owner's group id.
    pub group_id: Option<u32>,
    /// Owner's group name, when it resolves.
    pub group: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawFileInfo {
    path: String,
    name: String,
    #[serde(rename = "type")]
    file_type: FileType,
    #[serde(default)]
    size: Option<u64>,
    permissions: String,
    #[serde(default)]
    last_modified: String,
    #[serde(default)]
    user_id: Option<u32>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    group_id: Option<u32>,
    #[serde(default)]
    group: Option<String>,
}

impl TryFrom<RawFileInfo> for FileInfo {
    type Error = String;

    fn try_from(raw: RawFileInfo) -> Result<Self, String> {
        let permissions = u32::from_str_radix(&raw.permissions, 8).map_err(|_| {
            format!(
                "invalid permissions {:?} for {:?}",
                raw.permissions, raw.path
            )
        })?;
        Ok(Self {
            path: raw.path,
            name: raw.name,
            file_type: raw.file_type,
            size: raw.size,
            permissions,
            last_modified: raw.last_modified,
            user_id: raw.user_id,
            user: raw.user.filter(|u| !u.is_empty()),
            group_id: raw.group_id,
            group: raw.group.filter(|g| !g.is_empty()),
        })
    }
}

/// Who should own a pushed file or created directory. Pebble needs both a user and a group
/// (by id or name) to change ownership.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Owner {
    /// User id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u32>,
    /// User name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Group id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u32>,
    /// Group name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// Options for [`Client::push`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushOptions {
    /// Create missing parent directories.
    pub make_dirs: bool,
    /// Permission bits (default `0o644`).
    pub permissions: Option<u32>,
    /// Owner (default: Pebble's user).
    pub owner: Owner,
}

/// Options for [`Client::make_dir`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MakeDirOptions {
    /// Create missing parents, and succeed if the directory exists.
    pub make_parents: bool,
    /// Permission bits (default `0o755`).
    pub permissions: Option<u32>,
    /// Owner (default: Pebble's user).
    pub owner: Owner,
}

#[derive(Serialize)]
struct WriteRequest<'a> {
    action: &'static str,
    files: [WriteItem<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct WriteItem<'a> {
    path: &'a str,
    make_dirs: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<String>,
    #[serde(flatten)]
    owner: &'a Owner,
}

#[derive(Serialize)]
struct MakeDirsRequest<'a> {
    action: &'static str,
    dirs: [MakeDirItem<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct MakeDirItem<'a> {
    path: &'a str,
    make_parents: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<String>,
    #[serde(flatten)]
    owner: &'a Owner,
}

#[derive(Serialize)]
struct RemoveRequest<'a> {
    action: &'static str,
    paths: [RemoveItem<'a>; 1],
}

#[derive(Serialize)]
struct RemoveItem<'a> {
    path: &'a str,
    recursive: bool,
}

/// One entry of the per-path results of file operations.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct FileResult {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<FileError>,
}

/// A per-path error: `{"message": ..., "kind": ...}`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct FileError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub kind: String,
}

/// A multipart boundary: 32 hex digits of randomness after a fixed prefix (Pebble requires at
/// least 32 characters).
pub(crate) fn new_boundary() -> String {
    let mut hex = String::new();
    for _ in 0..2 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        hex.push_str(&format!("{:016x}", hasher.finish()));
    }
    format!("charm-core-pebble-{hex}")
}

/// Quotes a value for a `Content-Disposition` parameter.
pub(crate) fn quote_param(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A multipart part header followed by the blank line.
pub(crate) fn part_header(
    boundary: &str,
    first: bool,
    content_type: &str,
    name: &str,
    filename: Option<&str>,
) -> String {
    let lead = if first { "" } else { "\r\n" };
    let filename = filename
        .map(|f| format!("; filename={}", quote_param(f)))
        .unwrap_or_default();
    format!(
        "{lead}--{boundary}\r\nContent-Type: {content_type}\r\nContent-Disposition: form-data; name=\"{name}\"{filename}\r\n\r\n"
    )
}

/// The closing boundary.
pub(crate) fn closing(boundary: &str) -> String {
    format!("\r\n--{boundary}--\r\n")
}

fn check_path(path: &str) -> Result<()> {
    if !path.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "paths must be absolute, got {path:?}"
        )));
    }
    if path.contains(['\r', '\n', '\0']) {
        return Err(Error::InvalidArgument(format!(
            "path contains a control character: {path:?}"
        )));
    }
    Ok(())
}

fn permissions_text(permissions: Option<u32>) -> Result<Option<String>> {
    match permissions {
        Some(p) if p > 0o777 => Err(Error::InvalidArgument(format!(
            "permissions must be at most 0o777, got {p:#o}"
        ))),
        Some(p) => Ok(Some(format!("{p:03o}"))),
        None => Ok(None),
    }
}

/// Turns the per-path results of a file operation into the error for `path`, if any.
fn check_results(what: &str, path: &str, result: serde_json::Value) -> Result<()> {
    let results: Vec<FileResult> = decode_result(what, result)?;
    let entry = results
        .into_iter()
        .find(|r| r.path == path)
        .ok_or_else(|| protocol(what, format!("no result for path {path:?}")))?;
    match entry.error {
        Some(error) => Err(Error::Path {
            path: entry.path,
            kind: PathErrorKind::from_kind(&error.kind),
            message: error.message,
        }),
        None => Ok(()),
    }
}

/// Pebble reports list errors as API errors with a file kind; they are path errors.
fn api_to_path_error(path: &str, error: Error) -> Error {
    match error {
        Error::Api {
            message,
            kind: Some(kind),
            ..
        } if matches!(
            kind.as_str(),
            "not-found" | "permission-denied" | "generic-file-error"
        ) =>
        {
            Error::Path {
                path: path.to_string(),
                kind: PathErrorKind::from_kind(&kind),
                message,
            }
        }
        other => other,
    }
}

impl Client {
    /// Writes `source` to `path` in the container, streaming it in 64 KiB chunks. The whole
    /// upload is bounded by the client's timeout ([`Client::with_timeout`]). Pebble writes
    /// atomically: a failed push leaves any previous content in place.
    pub async fn push<R>(&self, path: &str, source: R, options: &PushOptions) -> Result<()>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        check_path(path)?;
        let metadata = WriteRequest {
            action: "write",
            files: [WriteItem {
                path,
                make_dirs: options.make_dirs,
                permissions: permissions_text(options.permissions)?,
                owner: &options.owner,
            }],
        };
        let metadata = serde_json::to_string(&metadata)
            .map_err(|e| Error::InvalidArgument(format!("cannot encode push request: {e}")))?;
        let boundary = new_boundary();
        let head = format!(
            "{}{metadata}{}",
            part_header(&boundary, true, "application/json", "request", None),
            part_header(
                &boundary,
                false,
                "application/octet-stream",
                "files",
                Some(path)
            ),
        );
        // Remember a failure of the local reader: hyper only reports that the body failed.
        let read_error: Arc<Mutex<Option<io::Error>>> = Arc::default();
        let slot = Arc::clone(&read_error);
        let content = ReaderStream::with_capacity(source, 64 * 1024).map_err(move |e| {
            if let Ok(mut slot) = slot.lock() {
                *slot = Some(io::Error::new(e.kind(), e.to_string()));
            }
            e
        });
        let tail = Bytes::from(closing(&boundary));
        let chunks = stream::once(async move { Ok(Bytes::from(head)) })
            .chain(content)
            .chain(stream::once(async move { Ok(tail) }));
        let body: RequestBody = StreamBody::new(chunks.map_ok(Frame::data)).boxed_unsync();
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let request =
            self.build_request(Method::POST, "/v1/files", &[], body, Some(&content_type))?;
        let what = "POST /v1/files (write)";
        let exchange = async {
            let response = self.send(request).await;
            let response = match response {
                Err(error) => {
                    let local = read_error.lock().ok().and_then(|mut slot| slot.take());
                    return Err(match local {
                        Some(source) => Error::LocalIo {
                            context: format!("reading the content to push to {path:?}"),
                            source,
                        },
                        None => error,
                    });
                }
                Ok(response) => response,
            };
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| self.connection_error(format!("cannot read response: {e}")))?
                .to_bytes();
            decode_envelope(what, status, &bytes)
        };
        let envelope = tokio::time::timeout(self.timeout(), exchange)
            .await
            .map_err(|_| Error::Timeout {
                what: format!("push to {path:?}"),
                after: self.timeout(),
            })??;
        check_results(what, path, envelope.result)
    }

    /// Writes `data` to `path` in the container.
    pub async fn push_bytes(
        &self,
        path: &str,
        data: impl Into<Bytes>,
        options: &PushOptions,
    ) -> Result<()> {
        let data: Bytes = data.into();
        self.push(path, io::Cursor::new(data), options).await
    }

    /// Streams the content of `path` in the container into `dest`; returns the byte count.
    pub async fn pull_to<W>(&self, path: &str, dest: &mut W) -> Result<u64>
    where
        W: AsyncWrite + Unpin,
    {
        check_path(path)?;
        let what = "GET /v1/files (read)";
        let mut request = self.build_request(
            Method::GET,
            "/v1/files",
            &[("action", "read".into()), ("path", path.into())],
            super::client::full_body(Vec::new()),
            None,
        )?;
        request.headers_mut().insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("multipart/form-data"),
        );
        let response = tokio::time::timeout(self.timeout(), self.send(request))
            .await
            .map_err(|_| Error::Timeout {
                what: format!("pull of {path:?}"),
                after: self.timeout(),
            })??;
        let status = response.status();
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let Ok(boundary) = multer::parse_boundary(&content_type) else {
            // Not multipart: an error envelope (or garbage).
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| self.connection_error(format!("cannot read response: {e}")))?
                .to_bytes();
            decode_envelope(what, status, &bytes)?;
            return Err(protocol(
                what,
                format!("expected a multipart response, got {content_type:?}"),
            ));
        };
        let mut multipart =
            multer::Multipart::new(BodyDataStream::new(response.into_body()), boundary);
        let multipart_error = |e: multer::Error| protocol(what, format!("bad multipart body: {e}"));
        let mut written = 0u64;
        let mut got_file = false;
        loop {
            let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? else {
                return Err(protocol(
                    what,
                    "multipart response has no \"response\" part",
                ));
            };
            match field.name() {
                Some("files") => {
                    if field.file_name() != Some(path) {
                        return Err(protocol(
                            what,
                            format!(
                                "got content for {:?}, asked for {path:?}",
                                field.file_name()
                            ),
                        ));
                    }
                    got_file = true;
                    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                        dest.write_all(&chunk)
                            .await
                            .map_err(|source| Error::LocalIo {
                                context: format!("writing the content pulled from {path:?}"),
                                source,
                            })?;
                        written += chunk.len() as u64;
                    }
                }
                Some("response") => {
                    let bytes = field.bytes().await.map_err(multipart_error)?;
                    let envelope = decode_envelope(what, status, &bytes)?;
                    check_results(what, path, envelope.result)?;
                    if !got_file {
                        return Err(protocol(what, format!("no content for {path:?}")));
                    }
                    dest.flush().await.map_err(|source| Error::LocalIo {
                        context: format!("writing the content pulled from {path:?}"),
                        source,
                    })?;
                    return Ok(written);
                }
                other => {
                    return Err(protocol(
                        what,
                        format!("unexpected multipart field {other:?}"),
                    ));
                }
            }
        }
    }

    /// The content of `path` in the container, in memory (for small files).
    pub async fn pull_bytes(&self, path: &str) -> Result<Vec<u8>> {
        let mut buffer = Vec::new();
        self.pull_to(path, &mut buffer).await?;
        Ok(buffer)
    }

    /// The content of `path` in the container as UTF-8 text.
    pub async fn pull_string(&self, path: &str) -> Result<String> {
        let bytes = self.pull_bytes(path).await?;
        String::from_utf8(bytes).map_err(|e| Error::LocalIo {
            context: format!("decoding {path:?} as UTF-8"),
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })
    }

    /// Lists a directory (entries matching the glob `pattern`, if given), or describes a
    /// single file. With `itself`, a directory is described rather than listed.
    pub async fn list_files(
        &self,
        path: &str,
        pattern: Option<&str>,
        itself: bool,
    ) -> Result<Vec<FileInfo>> {
        check_path(path)?;
        let mut query = vec![("action", "list".to_string()), ("path", path.to_string())];
        if let Some(pattern) = pattern {
            query.push(("pattern", pattern.to_string()));
        }
        if itself {
            query.push(("itself", "true".to_string()));
        }
        self.sync_json::<_, ()>(Method::GET, "/v1/files", &query, None)
            .await
            .map_err(|e| api_to_path_error(path, e))
    }

    /// Whether `path` exists in the container.
    pub async fn exists(&self, path: &str) -> Result<bool> {
        match self.list_files(path, None, true).await {
            Ok(entries) => Ok(!entries.is_empty()),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether `path` exists and is a directory.
    pub async fn is_dir(&self, path: &str) -> Result<bool> {
        match self.list_files(path, None, true).await {
            Ok(entries) => Ok(entries
                .first()
                .is_some_and(|e| e.file_type == FileType::Directory)),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates a directory.
    pub async fn make_dir(&self, path: &str, options: &MakeDirOptions) -> Result<()> {
        check_path(path)?;
        let body = MakeDirsRequest {
            action: "make-dirs",
            dirs: [MakeDirItem {
                path,
                make_parents: options.make_parents,
                permissions: permissions_text(options.permissions)?,
                owner: &options.owner,
            }],
        };
        let result: serde_json::Value = self
            .sync_json(Method::POST, "/v1/files", &[], Some(&body))
            .await?;
        check_results("POST /v1/files (make-dirs)", path, result)
    }

    /// Removes a file or empty directory, or with `recursive` a whole tree (succeeding if
    /// nothing is there, like `rm -rf`).
    pub async fn remove_path(&self, path: &str, recursive: bool) -> Result<()> {
        check_path(path)?;
        let body = RemoveRequest {
            action: "remove",
            paths: [RemoveItem { path, recursive }],
        };
        let result: serde_json::Value = self
            .sync_json(Method::POST, "/v1/files", &[], Some(&body))
            .await?;
        check_results("POST /v1/files (remove)", path, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_long_and_distinct() {
        let a = new_boundary();
        let b = new_boundary();
        assert!(a.len() >= 32);
        assert_ne!(a, b);
    }

    #[test]
    fn bad_arguments_are_refused_naming_the_value() {
        assert!(
            check_path("etc/x")
                .unwrap_err()
                .to_string()
                .contains("\"etc/x\"")
        );
        assert!(
            permissions_text(Some(0o1777))
                .unwrap_err()
                .to_string()
                .contains("0o1777")
        );
        assert_eq!(
            permissions_text(Some(0o600)).unwrap().as_deref(),
            Some("600")
        );
    }

    #[test]
    fn file_info_rejects_bad_permissions() {
        let raw = serde_json::json!({"path": "/a", "name": "a", "type": "file",
            "permissions": "rwx", "last-modified": "2024-01-01T00:00:00Z"});
        let err = serde_json::from_value::<FileInfo>(raw).unwrap_err();
        assert!(err.to_string().contains("\"rwx\""), "{err}");
    }
}
