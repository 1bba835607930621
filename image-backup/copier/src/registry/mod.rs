//! A client for the OCI distribution (registry v2) HTTP API: exactly the calls a copy needs.
//!
//! Every request goes through one loop that adds authentication (learning each registry's
//! scheme from its first 401, fetching bearer tokens per scope) and retries transient failures
//! with bounded backoff. Requests with a streamed body cannot be replayed; they are sent once,
//! after a replayable request to the same scope has settled authentication, and the caller
//! retries the whole operation.

mod blobs;
mod challenge;
mod manifests;
mod token;
mod verify;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::header::{AUTHORIZATION, HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode, Url};

pub use blobs::{MountOutcome, UploadMode, UploadSession};
pub use manifests::ManifestHead;
pub use token::Scope;
pub use verify::{Failure, OnBytes, Verified};

use crate::auth::CredentialStore;
use crate::error::{Error, Timeouts};
use crate::reference::{DOCKER_HUB, Reference};
use crate::retry::RetryPolicy;

/// Docker Hub's API lives on another host than its image names say.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A repository in a registry: what registry requests address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Repository {
    pub registry: String,
    pub name: String,
}

impl From<&Reference> for Repository {
    fn from(r: &Reference) -> Self {
        Repository {
            registry: r.registry().to_owned(),
            name: r.repository().to_owned(),
        }
    }
}

impl std::fmt::Display for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.name)
    }
}

/// How to reach registries.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub credentials: CredentialStore,
    /// Registries (`host[:port]`) spoken to over plain HTTP. Loopback registries always are.
    pub insecure_registries: Vec<String>,
    pub retry: RetryPolicy,
    pub user_agent: String,
    /// Longest a TCP (and TLS) connection may take to open.
    pub connect_timeout: Duration,
    /// Longest silence on a connection before a request fails: waiting for the first byte of
    /// an answer, or for more of a body. Each network step is bounded, never a whole copy (a
    /// large blob may take an hour and be fine); a timed-out step is not retried in place.
    pub read_timeout: Duration,
    /// Extra PEM CA certificates trusted besides the system's.
    pub extra_root_certificates: Vec<Vec<u8>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            credentials: CredentialStore::new(),
            insecure_registries: Vec::new(),
            retry: RetryPolicy::default(),
            user_agent: concat!("image-backup/", env!("CARGO_PKG_VERSION")).to_owned(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            extra_root_certificates: Vec::new(),
        }
    }
}

/// A registry client; cheap to clone, shares connections and tokens between clones.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// For requests with a body that may take long to send; see [`Client::send_once`].
    upload_http: reqwest::Client,
    auth: token::AuthState,
    insecure: HashSet<String>,
    retry: RetryPolicy,
    timeouts: Timeouts,
}

/// Installs rustls' ring provider as the process default unless one is installed already.
/// reqwest is built without a provider of its own (see the crate docs).
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: a provider is installed either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

impl Client {
    pub fn new(options: ClientOptions) -> Result<Self, Error> {
        install_crypto_provider();
        let mut certificates = Vec::new();
        for pem in &options.extra_root_certificates {
            certificates.push(
                reqwest::Certificate::from_pem(pem)
                    .map_err(|e| Error::Client(format!("invalid CA certificate: {e}")))?,
            );
        }
        let timeouts = Timeouts {
            connect: options.connect_timeout,
            read: options.read_timeout,
        };
        let builder = |read_timeout: Option<Duration>| {
            let builder = reqwest::Client::builder()
                .user_agent(options.user_agent.clone())
                .connect_timeout(options.connect_timeout)
                .tcp_nodelay(true)
                .tls_certs_merge(certificates.clone());
            match read_timeout {
                Some(timeout) => builder.read_timeout(timeout),
                None => builder,
            }
            .build()
            .map_err(|e| Error::Client(e.to_string()))
        };
        let http = builder(Some(options.read_timeout))?;
        // reqwest's read timeout runs from the start of a request to its response headers,
        // which for an upload includes sending the whole blob: uploads are bounded by an idle
        // watchdog instead ([`Client::send_once`]).
        let upload_http = builder(None)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                upload_http,
                auth: token::AuthState::new(options.credentials, timeouts),
                insecure: options.insecure_registries.into_iter().collect(),
                retry: options.retry,
                timeouts,
            }),
        })
    }

    /// Whether requests to `registry` use plain HTTP.
    pub fn is_plain_http(&self, registry: &str) -> bool {
        self.inner.insecure.contains(registry) || is_loopback(registry)
    }

    /// `https://host/v2/` (or `http://` for insecure and loopback registries).
    pub fn base_url(&self, registry: &str) -> Result<Url, Error> {
        let host = api_host(registry);
        let scheme = if self.is_plain_http(registry) {
            "http"
        } else {
            "https"
        };
        Url::parse(&format!("{scheme}://{host}/v2/"))
            .map_err(|e| Error::InvalidInput(format!("registry {registry:?}: {e}")))
    }

    fn url(&self, repo: &Repository, path: &str) -> Result<Url, Error> {
        let base = self.base_url(&repo.registry)?;
        base.join(&format!("{}/{path}", repo.name))
            .map_err(|e| Error::InvalidInput(format!("repository {repo}: {e}")))
    }

    /// Sends a replayable request with authentication and retries; the response may have any
    /// status but 401 (turned into [`Error::Auth`]).
    async fn send(
        &self,
        repo: &Repository,
        scope: &Scope,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<Response, Error> {
        let started = Instant::now();
        let mut attempt = 0;
        let mut auth_rounds = 0;
        loop {
            attempt += 1;
            let auth = self.authorization(repo, scope).await?;
            let mut request = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(value) = &auth {
                request = request.header(AUTHORIZATION, value);
            }
            if let Some(body) = &body {
                request = request.body(body.clone());
            }
            count_request();
            let (error, delay) = match request.send().await {
                Ok(response) if response.status() == StatusCode::UNAUTHORIZED => {
                    if auth_rounds >= 2 || (auth_rounds >= 1 && auth.is_some()) {
                        return Err(self.refused(repo, response, auth.is_some()).await);
                    }
                    auth_rounds += 1;
                    let challenges: Vec<&str> = response
                        .headers()
                        .get_all(WWW_AUTHENTICATE)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .collect();
                    self.inner
                        .auth
                        .unauthorized(&repo.registry, scope, challenges)
                        .await?;
                    // Basic auth without credentials: asking again cannot succeed.
                    if self.authorization(repo, scope).await?.is_none() {
                        return Err(self.refused(repo, response, false).await);
                    }
                    // Learning the scheme is not a failed try.
                    attempt -= 1;
                    continue;
                }
                Ok(response) if is_transient_status(response.status()) => {
                    let retry_after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok())
                        .map(Duration::from_secs);
                    let status = response.status().as_u16();
                    let body = body_excerpt(response).await;
                    let error = Error::Status {
                        method: method.to_string(),
                        url: url.to_string(),
                        status,
                        body,
                    };
                    match self.inner.retry.next_delay(attempt, started, retry_after) {
                        Some(delay) => (error, delay),
                        None => return Err(error),
                    }
                }
                Ok(response) => return Ok(response),
                Err(source) => {
                    let error = self.transport(method.as_str(), &url, source);
                    match (error.is_transient() && !error.is_timeout())
                        .then(|| self.inner.retry.next_delay(attempt, started, None))
                        .flatten()
                    {
                        Some(delay) => (error, delay),
                        None => return Err(error),
                    }
                }
            };
            tracing::debug!(%error, ?delay, attempt, "retrying registry request");
            tokio::time::sleep(delay).await;
        }
    }

    /// [`Client::send`], then any status but 2xx becomes an error naming `what`.
    #[allow(clippy::too_many_arguments)]
    async fn send_ok(
        &self,
        repo: &Repository,
        scope: &Scope,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Option<Bytes>,
        what: &str,
    ) -> Result<Response, Error> {
        let response = self
            .send(repo, scope, method.clone(), url.clone(), headers, body)
            .await?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.unexpected(repo, &method, &url, response, what).await)
    }

    /// A HEAD with pull access: `None` on 404.
    async fn head(
        &self,
        repo: &Repository,
        url: Url,
        headers: HeaderMap,
        what: &str,
    ) -> Result<Option<Response>, Error> {
        let scope = Scope::pull(&repo.name);
        match self
            .send_ok(repo, &scope, Method::HEAD, url, headers, None, what)
            .await
        {
            Ok(response) => Ok(Some(response)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends a request whose body cannot be replayed (built on `upload_http`): once, no
    /// retries. It fails once neither body bytes nor an answer have moved for the read timeout
    /// (the registry stopped reading, or does not answer), however long the whole upload takes.
    async fn send_once(
        &self,
        repo: &Repository,
        scope: &Scope,
        (method, url): (&str, &Url),
        request: reqwest::RequestBuilder,
        activity: &Activity,
    ) -> Result<Response, Error> {
        let auth = self.authorization(repo, scope).await.ok().flatten();
        let request = match auth {
            Some(value) => request.header(AUTHORIZATION, value),
            None => request,
        };
        count_request();
        activity.touch();
        let limit = self.inner.timeouts.read;
        tokio::select! {
            result = request.send() => result.map_err(|source| self.transport(method, url, source)),
            () = activity.idle(limit) => Err(Error::Stalled {
                method: method.to_owned(),
                url: url.to_string(),
                after: limit,
            }),
        }
    }

    async fn authorization(
        &self,
        repo: &Repository,
        scope: &Scope,
    ) -> Result<Option<String>, Error> {
        self.inner
            .auth
            .header(&self.inner.http, &repo.registry, scope)
            .await
    }

    async fn refused(&self, repo: &Repository, response: Response, sent_auth: bool) -> Error {
        let body = body_excerpt(response).await;
        let detail = if !self.inner.auth.has_credentials(&repo.registry) {
            format!(
                "the registry requires authentication and no credentials are configured for it ({body})"
            )
        } else if sent_auth {
            format!("credentials rejected for {}: {body}", repo.name)
        } else {
            format!("unauthorized for {}: {body}", repo.name)
        };
        Error::Auth {
            registry: repo.registry.clone(),
            detail,
        }
    }

    /// A failed request, saying why.
    pub(crate) fn transport(&self, method: &str, url: &Url, source: reqwest::Error) -> Error {
        Error::transport(method, url, source, self.inner.timeouts)
    }

    /// Turns an unexpected response into an error; `what` names the object for 404s.
    async fn unexpected(
        &self,
        repo: &Repository,
        method: &Method,
        url: &Url,
        response: Response,
        what: &str,
    ) -> Error {
        let status = response.status();
        match status {
            StatusCode::NOT_FOUND => Error::NotFound {
                registry: repo.registry.clone(),
                repository: repo.name.clone(),
                what: what.to_owned(),
            },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::Auth {
                registry: repo.registry.clone(),
                detail: format!(
                    "access to {} denied: {}",
                    repo.name,
                    body_excerpt(response).await
                ),
            },
            _ => Error::Status {
                method: method.to_string(),
                url: url.to_string(),
                status: status.as_u16(),
                body: body_excerpt(response).await,
            },
        }
    }
}

/// The `host[:port]` that serves `registry`'s API (what [`Error::host`] reports).
pub fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_API
    } else {
        registry
    }
}

fn is_transient_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// `localhost`, `127.0.0.0/8` and `[::1]`, with or without port.
fn is_loopback(registry: &str) -> bool {
    let host = if let Some(v6) = registry.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        registry.split(':').next().unwrap_or_default()
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The start of an error body, for messages: the registry's error codes when it sent some.
pub(crate) async fn body_excerpt(response: Response) -> String {
    let mut text = crate::error::registry_errors(response.text().await.unwrap_or_default().trim());
    if text.len() > 300 {
        let mut cut = 300;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text.trim().to_owned()
}

/// When an upload last moved bytes.
#[derive(Clone, Debug)]
pub(crate) struct Activity(Arc<std::sync::Mutex<tokio::time::Instant>>);

impl Activity {
    pub(crate) fn new() -> Self {
        Activity(Arc::new(std::sync::Mutex::new(tokio::time::Instant::now())))
    }

    pub(crate) fn touch(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = tokio::time::Instant::now();
    }

    /// Completes once nothing has moved for `limit`.
    async fn idle(&self, limit: Duration) {
        loop {
            let last = *self.0.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() >= limit {
                return;
            }
            tokio::time::sleep_until(last + limit).await;
        }
    }

    /// `body`, touching this on every piece the HTTP client takes from it.
    pub(crate) fn track<S, T, E>(
        &self,
        body: S,
    ) -> impl Stream<Item = Result<T, E>> + Send + 'static
    where
        S: Stream<Item = Result<T, E>> + Send + 'static,
    {
        let activity = self.clone();
        body.inspect(move |_| activity.touch())
    }
}

tokio::task_local! {
    static REQUESTS: Arc<AtomicU64>;
}

/// Counts one HTTP request for the copy running in this task, if any.
pub(crate) fn count_request() {
    let _ = REQUESTS.try_with(|c| c.fetch_add(1, Ordering::Relaxed));
}

/// Runs `future`, counting the registry requests it makes (token requests included) into
/// `counter`. Works across `join`/`buffer_unordered`, not across spawned tasks.
pub async fn count_requests<F: Future>(counter: Arc<AtomicU64>, future: F) -> F::Output {
    REQUESTS.scope(counter, future).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_insecure() {
        let client = Client::new(ClientOptions {
            insecure_registries: vec!["reg.lan:5000".into()],
            ..ClientOptions::default()
        })
        .unwrap();
        for (registry, url) in [
            ("docker.io", "https://registry-1.docker.io/v2/"),
            ("quay.io", "https://quay.io/v2/"),
            ("reg.lan:5000", "http://reg.lan:5000/v2/"),
            ("reg.lan", "https://reg.lan/v2/"),
            ("127.0.0.1:5000", "http://127.0.0.1:5000/v2/"),
            ("127.9.9.9", "http://127.9.9.9/v2/"),
            ("localhost:1", "http://localhost:1/v2/"),
            ("[::1]:5000", "http://[::1]:5000/v2/"),
            ("128.0.0.1", "https://128.0.0.1/v2/"),
        ] {
            assert_eq!(
                client.base_url(registry).unwrap().as_str(),
                url,
                "{registry}"
            );
        }
        let repo = Repository {
            registry: "quay.io".into(),
            name: "a/b".into(),
        };
        assert_eq!(
            client.url(&repo, "manifests/v1").unwrap().as_str(),
            "https://quay.io/v2/a/b/manifests/v1"
        );
    }
}
