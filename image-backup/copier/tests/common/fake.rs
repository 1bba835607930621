//! Small HTTP servers standing in for registries that misbehave, which a real registry will
//! not do on demand: one serving a fixed image with corrupted or failing blobs, and a
//! bearer-token gateway in front of a real registry.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use image_backup_copier::Digest;
use image_backup_copier::testing::TestImage;

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr.to_string()
}

fn response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r
}

/// How the fake upstream misbehaves.
#[derive(Default, Clone)]
pub struct Behaviour {
    /// Blobs served with one byte flipped (same length).
    pub corrupt: Vec<Digest>,
    /// Answer this many blob GETs with this status before serving them properly.
    pub fail_blob_gets: usize,
    pub fail_status: u16,
    /// Send `Retry-After: 0` with failures.
    pub retry_after: bool,
}

/// A read-only registry serving one image under `<any repo>:<any tag>`.
pub struct FakeUpstream {
    pub host: String,
    pub blob_gets: Arc<AtomicUsize>,
}

impl FakeUpstream {
    pub async fn start(image: &TestImage, behaviour: Behaviour) -> FakeUpstream {
        let blobs: HashMap<String, Bytes> = image
            .blobs()
            .into_iter()
            .map(|(d, b)| (d.to_string(), b))
            .collect();
        let manifest = image.manifest.clone();
        let blob_gets = Arc::new(AtomicUsize::new(0));
        let gets = blob_gets.clone();
        let behaviour = Arc::new(behaviour);
        let app = axum::Router::new().fallback(move |req: Request| {
            let blobs = blobs.clone();
            let manifest = manifest.clone();
            let gets = gets.clone();
            let behaviour = behaviour.clone();
            async move {
                let path = req.uri().path().to_owned();
                let head = req.method() == Method::HEAD;
                if path == "/v2/" {
                    return response(StatusCode::OK, "{}");
                }
                if path.contains("/manifests/") {
                    let mut r = response(
                        StatusCode::OK,
                        if head {
                            Bytes::new()
                        } else {
                            manifest.bytes.clone()
                        },
                    );
                    let h = r.headers_mut();
                    h.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_str(&manifest.media_type).unwrap(),
                    );
                    h.insert(
                        "docker-content-digest",
                        HeaderValue::from_str(&manifest.digest.to_string()).unwrap(),
                    );
                    h.insert(header::CONTENT_LENGTH, manifest.bytes.len().into());
                    return r;
                }
                if let Some((_, digest)) = path.split_once("/blobs/") {
                    let Some(blob) = blobs.get(digest) else {
                        return response(StatusCode::NOT_FOUND, "");
                    };
                    if !head {
                        let n = gets.fetch_add(1, Ordering::SeqCst);
                        if n < behaviour.fail_blob_gets {
                            let mut r = response(
                                StatusCode::from_u16(behaviour.fail_status).unwrap(),
                                "try later",
                            );
                            if behaviour.retry_after {
                                r.headers_mut().insert(header::RETRY_AFTER, 0.into());
                            }
                            return r;
                        }
                    }
                    let mut data = blob.to_vec();
                    if behaviour.corrupt.iter().any(|d| d.to_string() == digest) {
                        let last = data.len() - 1;
                        data[last] ^= 0xff;
                    }
                    let len = data.len();
                    let mut r = response(StatusCode::OK, if head { Vec::new() } else { data });
                    r.headers_mut().insert(header::CONTENT_LENGTH, len.into());
                    return r;
                }
                response(StatusCode::NOT_FOUND, "")
            }
        });
        FakeUpstream {
            host: serve(app).await,
            blob_gets,
        }
    }
}

/// A bearer-token gateway in front of a real registry: `/v2/...` needs
/// `Authorization: Bearer <token>` whose scopes cover the request, tokens come from
/// `/token` against basic credentials, as Docker Hub's auth service does.
pub struct BearerGateway {
    pub host: String,
    /// The `scope` parameters of every token request, in order.
    pub token_requests: Arc<Mutex<Vec<Vec<String>>>>,
}

impl BearerGateway {
    pub async fn start(upstream: String, username: &str, password: &str) -> BearerGateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let expected_basic = format!(
            "Basic {}",
            base64_encode(format!("{username}:{password}").as_bytes())
        );
        let token_requests = Arc::new(Mutex::new(Vec::new()));
        let requests = token_requests.clone();
        image_backup_copier::registry::install_crypto_provider();
        let http = reqwest::Client::new();
        let gateway_host = host.clone();
        let app = axum::Router::new().fallback(move |req: Request| {
            let (expected_basic, requests, http, upstream, gateway_host) = (
                expected_basic.clone(),
                requests.clone(),
                http.clone(),
                upstream.clone(),
                gateway_host.clone(),
            );
            async move {
                let auth = req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                if req.uri().path() == "/token" {
                    if auth != expected_basic {
                        return response(StatusCode::UNAUTHORIZED, "bad credentials");
                    }
                    let scopes: Vec<String> = req
                        .uri()
                        .query()
                        .unwrap_or_default()
                        .split('&')
                        .filter_map(|kv| kv.strip_prefix("scope="))
                        .map(|s| s.replace("%3A", ":").replace("%2F", "/").replace("%2C", ","))
                        .collect();
                    requests.lock().unwrap().push(scopes.clone());
                    let token = format!("tok|{}", scopes.join("|"));
                    return response(
                        StatusCode::OK,
                        serde_json::json!({"token": token, "expires_in": 300}).to_string(),
                    );
                }
                let path = req.uri().path().to_owned();
                let repo = repo_of(&path);
                let push = !matches!(*req.method(), Method::GET | Method::HEAD);
                let needed = format!(
                    "repository:{}:{}",
                    repo.unwrap_or_default(),
                    if push { "pull,push" } else { "pull" }
                );
                let granted = auth
                    .strip_prefix("Bearer tok|")
                    .is_some_and(|t| t.split('|').any(|s| s == needed || (!push && s == format!("repository:{}:pull,push", repo.unwrap_or_default()))));
                if repo.is_some() && !granted {
                    let mut r = response(StatusCode::UNAUTHORIZED, "token needed");
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_str(&format!(
                            r#"Bearer realm="http://{gateway_host}/token",service="gateway",scope="{needed}""#
                        ))
                        .unwrap(),
                    );
                    return r;
                }
                forward(&http, &upstream, &gateway_host, req).await
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        BearerGateway {
            host,
            token_requests,
        }
    }
}

fn repo_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v2/")?;
    ["/manifests/", "/blobs/"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()
        .map(|i| &rest[..i])
}

async fn forward(http: &reqwest::Client, upstream: &str, gateway: &str, req: Request) -> Response {
    let url = format!(
        "http://{upstream}{}",
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let method = req.method().clone();
    let mut headers = req.headers().clone();
    headers.remove(header::AUTHORIZATION);
    headers.remove(header::HOST);
    let body = reqwest::Body::wrap_stream(req.into_body().into_data_stream());
    let upstream_response = match http
        .request(method, url)
        .headers(headers)
        .body(body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return response(StatusCode::BAD_GATEWAY, e.to_string()),
    };
    let mut r = Response::new(Body::empty());
    *r.status_mut() = upstream_response.status();
    for (name, value) in upstream_response.headers() {
        if name == header::TRANSFER_ENCODING || name == header::CONNECTION {
            continue;
        }
        let value = if name == header::LOCATION {
            HeaderValue::from_str(
                &value
                    .to_str()
                    .unwrap_or_default()
                    .replace(upstream, gateway),
            )
            .unwrap()
        } else {
            value.clone()
        };
        r.headers_mut().append(name.clone(), value);
    }
    *r.body_mut() = Body::from_stream(upstream_response.bytes_stream());
    r
}

fn base64_encode(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}
