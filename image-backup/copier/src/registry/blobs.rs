//! Blob calls: HEAD, streamed GET, cross-repository mount, upload sessions (monolithic or
//! chunked, always closed by `PUT ?digest=`), abort.

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderMap, LOCATION};
use reqwest::{Method, Response, StatusCode, Url};

use super::{Activity, Client, Repository, Scope};

/// Chunks go out in pieces of this size, each one a sign of progress.
const PIECE: usize = 64 << 10;
use crate::digest::Digest;
use crate::error::Error;

/// How blob bytes are sent to the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UploadMode {
    /// One `PUT ?digest=` streaming the whole blob: fewest requests.
    #[default]
    Monolithic,
    /// `PATCH` chunks of at most this many bytes (each buffered), then `PUT ?digest=`; for
    /// registries or proxies that limit request sizes.
    Chunked { chunk_size: usize },
}

/// An open upload: where to send the bytes.
#[derive(Clone, Debug)]
pub struct UploadSession {
    pub repo: Repository,
    pub location: Url,
}

/// What a mount request did.
#[derive(Debug)]
pub enum MountOutcome {
    Mounted,
    /// The registry could not mount and opened an ordinary upload instead.
    Upload(UploadSession),
}

impl Client {
    /// The blob's size if the repository has it.
    pub async fn blob_exists(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<Option<u64>, Error> {
        let url = self.url(repo, &format!("blobs/{digest}"))?;
        let response = self
            .head(repo, url, HeaderMap::new(), &format!("blob {digest}"))
            .await?;
        Ok(response.map(|r| r.content_length().unwrap_or(0)))
    }

    /// Starts a GET of a blob; the stream yields its bytes as they arrive (unverified: wrap
    /// it in [`super::Verified`]). Redirects (to object storage) are followed.
    pub async fn get_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<impl Stream<Item = Result<Bytes, Error>> + Send + Unpin + 'static, Error> {
        let url = self.url(repo, &format!("blobs/{digest}"))?;
        let response = self
            .send_ok(
                repo,
                &Scope::pull(&repo.name),
                Method::GET,
                url.clone(),
                HeaderMap::new(),
                None,
                &format!("blob {digest}"),
            )
            .await?;
        let timeouts = self.inner.timeouts;
        Ok(response
            .bytes_stream()
            .map_err(move |source| Error::transport("GET", &url, source, timeouts)))
    }

    /// Asks the registry to mount `digest` from repository `from` of the same registry.
    pub async fn mount_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        from: &str,
    ) -> Result<MountOutcome, Error> {
        let mut url = self.url(repo, "blobs/uploads/")?;
        url.query_pairs_mut()
            .append_pair("mount", &digest.to_string())
            .append_pair("from", from);
        let response = self
            .send_ok(
                repo,
                &Scope::mount(&repo.name, from),
                Method::POST,
                url.clone(),
                empty_body_headers(),
                Some(Bytes::new()),
                &format!("upload endpoint for {digest}"),
            )
            .await?;
        if response.status() == StatusCode::CREATED {
            return Ok(MountOutcome::Mounted);
        }
        // 202: the registry could not mount and opened an upload instead.
        Ok(MountOutcome::Upload(self.session(repo, &url, &response)?))
    }

    /// Opens an upload session.
    pub async fn start_upload(&self, repo: &Repository) -> Result<UploadSession, Error> {
        let url = self.url(repo, "blobs/uploads/")?;
        let response = self
            .send_ok(
                repo,
                &Scope::push(&repo.name),
                Method::POST,
                url.clone(),
                empty_body_headers(),
                Some(Bytes::new()),
                "upload endpoint",
            )
            .await?;
        self.session(repo, &url, &response)
    }

    fn session(
        &self,
        repo: &Repository,
        url: &Url,
        response: &Response,
    ) -> Result<UploadSession, Error> {
        Ok(UploadSession {
            repo: repo.clone(),
            location: next_location(url, response)?,
        })
    }

    /// Sends `size` bytes from `body` into `session` and commits them as `digest`. The stream
    /// should be [`super::Verified`], so a wrong digest fails the upload before the registry
    /// can commit; the registry checks `?digest=` too. Not retried: on error, abort the
    /// session and start over.
    pub async fn upload<S>(
        &self,
        session: UploadSession,
        digest: &Digest,
        size: u64,
        body: S,
        mode: UploadMode,
    ) -> Result<(), (Error, UploadSession)>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin + 'static,
    {
        match mode {
            UploadMode::Monolithic => {
                let url = with_digest(&session.location, digest);
                let activity = Activity::new();
                let request = self
                    .inner
                    .upload_http
                    .put(url.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, size)
                    .body(reqwest::Body::wrap_stream(activity.track(body)));
                self.finish_upload(&session, url, request, &activity)
                    .await
                    .map_err(|e| (e, session))
            }
            UploadMode::Chunked { chunk_size } => {
                self.upload_chunked(session, digest, body, chunk_size.max(1))
                    .await
            }
        }
    }

    async fn upload_chunked<S>(
        &self,
        mut session: UploadSession,
        digest: &Digest,
        mut body: S,
        chunk_size: usize,
    ) -> Result<(), (Error, UploadSession)>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin + 'static,
    {
        let scope = Scope::push(&session.repo.name);
        let mut offset = 0u64;
        let mut buffer = BytesMut::with_capacity(chunk_size.min(16 << 20));
        let mut source_done = false;
        loop {
            while !source_done && buffer.len() < chunk_size {
                match body.next().await {
                    Some(Ok(bytes)) => buffer.extend_from_slice(&bytes),
                    Some(Err(e)) => {
                        let error = Error::Upload {
                            repository: session.repo.to_string(),
                            reason: format!("blob source failed: {e}"),
                        };
                        return Err((error, session));
                    }
                    None => source_done = true,
                }
            }
            if buffer.is_empty() {
                break;
            }
            let chunk = buffer.split_to(buffer.len().min(chunk_size)).freeze();
            let end = offset + chunk.len() as u64 - 1;
            let url = session.location.clone();
            let length = chunk.len();
            // In pieces, so that the watchdog sees the chunk move.
            let pieces = (0..length)
                .step_by(PIECE)
                .map(move |at| Ok::<_, std::io::Error>(chunk.slice(at..(at + PIECE).min(length))));
            let activity = Activity::new();
            let request = self
                .inner
                .upload_http
                .patch(url.clone())
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_RANGE, format!("{offset}-{end}"))
                .header(CONTENT_LENGTH, length)
                .body(reqwest::Body::wrap_stream(
                    activity.track(futures::stream::iter(pieces)),
                ));
            let response = match self
                .send_once(&session.repo, &scope, ("PATCH", &url), request, &activity)
                .await
            {
                Ok(r) => r,
                Err(error) => return Err((error, session)),
            };
            if response.status() != StatusCode::ACCEPTED {
                let error = self
                    .unexpected(
                        &session.repo,
                        &Method::PATCH,
                        &url,
                        response,
                        "upload session",
                    )
                    .await;
                return Err((error, session));
            }
            match next_location(&url, &response) {
                Ok(location) => session.location = location,
                Err(e) => return Err((e, session)),
            }
            offset = end + 1;
            if source_done && buffer.is_empty() {
                break;
            }
        }
        let url = with_digest(&session.location, digest);
        let request = self
            .inner
            .upload_http
            .put(url.clone())
            .header(CONTENT_LENGTH, 0)
            .body(Bytes::new());
        self.finish_upload(&session, url, request, &Activity::new())
            .await
            .map_err(|e| (e, session))
    }

    async fn finish_upload(
        &self,
        session: &UploadSession,
        url: Url,
        request: reqwest::RequestBuilder,
        activity: &Activity,
    ) -> Result<(), Error> {
        let scope = Scope::push(&session.repo.name);
        let response = self
            .send_once(&session.repo, &scope, ("PUT", &url), request, activity)
            .await?;
        if response.status() == StatusCode::CREATED {
            return Ok(());
        }
        Err(self
            .unexpected(
                &session.repo,
                &Method::PUT,
                &url,
                response,
                "upload session",
            )
            .await)
    }

    /// Cancels an upload session. Best effort: registries expire abandoned sessions anyway.
    pub async fn abort_upload(&self, session: &UploadSession) {
        let url = session.location.clone();
        let request = self.inner.upload_http.delete(url.clone());
        let scope = Scope::push(&session.repo.name);
        match self
            .send_once(
                &session.repo,
                &scope,
                ("DELETE", &url),
                request,
                &Activity::new(),
            )
            .await
        {
            Ok(r) if r.status().is_success() || r.status() == StatusCode::NOT_FOUND => {}
            Ok(r) => tracing::debug!(status = %r.status(), "aborting upload failed"),
            Err(e) => tracing::debug!(error = %e, "aborting upload failed"),
        }
    }

    /// Uploads an in-memory blob (unless present) and returns its digest. For small blobs
    /// such as configs and test data.
    pub async fn push_blob(&self, repo: &Repository, data: Bytes) -> Result<Digest, Error> {
        let digest = Digest::sha256(&data);
        if self.blob_exists(repo, &digest).await?.is_some() {
            return Ok(digest);
        }
        let session = self.start_upload(repo).await?;
        let size = data.len() as u64;
        let body = futures::stream::iter([Ok::<_, std::io::Error>(data)]);
        match self
            .upload(session, &digest, size, body, UploadMode::Monolithic)
            .await
        {
            Ok(()) => Ok(digest),
            Err((error, session)) => {
                self.abort_upload(&session).await;
                Err(error)
            }
        }
    }
}

fn empty_body_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_LENGTH, 0.into());
    headers
}

/// The upload `Location` of a response, resolved against the request URL (it may be
/// relative).
fn next_location(request_url: &Url, response: &Response) -> Result<Url, Error> {
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::Status {
            method: "POST".into(),
            url: request_url.to_string(),
            status: response.status().as_u16(),
            body: "upload response without a Location header".into(),
        })?;
    request_url.join(location).map_err(|e| Error::Status {
        method: "POST".into(),
        url: request_url.to_string(),
        status: response.status().as_u16(),
        body: format!("invalid upload Location {location:?}: {e}"),
    })
}

/// `location` with `digest=` added to its query (keeping the registry's own parameters).
fn with_digest(location: &Url, digest: &Digest) -> Url {
    let mut url = location.clone();
    url.query_pairs_mut()
        .append_pair("digest", &digest.to_string());
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_appended_to_existing_query() {
        let d = Digest::sha256(b"x");
        let u = with_digest(
            &Url::parse("http://r/v2/a/blobs/uploads/u1?_state=abc").unwrap(),
            &d,
        );
        assert_eq!(
            u.as_str(),
            format!(
                "http://r/v2/a/blobs/uploads/u1?_state=abc&digest=sha256%3A{}",
                d.hex()
            )
        );
    }
}
