//! `/healthz`, `/readyz` and `/metrics`, served with axum.
//!
//! `/healthz` answers 200 unless a loop of the process is wedged ([`crate::health`]); then 503
//! naming it, so that a liveness probe restarts the process. `/readyz` answers 200 once the
//! controller's caches have synced for the first time (a standby replica that has synced its
//! read cache is ready too: it serves the gRPC API). `/metrics` is Prometheus text.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use kube::runtime::reflector::Store;

use crate::crd::ImageBackup;
use crate::health::Liveness;
use crate::metrics::Metrics;

/// Shared readiness flag: set once, after the first sync.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    pub backups: Store<ImageBackup>,
    pub readiness: Readiness,
    pub liveness: Liveness,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Serves until `shutdown` completes.
pub async fn serve(
    addr: SocketAddr,
    state: HttpState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn healthz(State(state): State<HttpState>) -> impl IntoResponse {
    match state.liveness.check() {
        Ok(()) => (StatusCode::OK, "ok".to_string()),
        Err(wedged) => (StatusCode::SERVICE_UNAVAILABLE, wedged),
    }
}

async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced yet")
    }
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    let backups = state.backups.state();
    let body = state.metrics.render(backups.iter().map(|b| b.as_ref()));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector::store::Writer;

    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let code = response[9..12].parse().unwrap();
        let body = response
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_string();
        (code, body)
    }

    #[tokio::test]
    async fn health_readiness_and_metrics_over_real_http() {
        let readiness = Readiness::default();
        let liveness = Liveness::default();
        let state = HttpState {
            metrics: Arc::new(Metrics::default()),
            backups: Writer::<ImageBackup>::default().as_reader(),
            readiness: readiness.clone(),
            liveness: liveness.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router(state)).await });

        assert_eq!(get(addr, "/healthz").await.0, 200);
        assert_eq!(get(addr, "/readyz").await.0, 503);
        readiness.set_ready();
        assert_eq!(get(addr, "/readyz").await.0, 200);
        let (code, body) = get(addr, "/metrics").await;
        assert_eq!(code, 200);
        assert!(
            body.contains(r#"image_backup_backups{phase="Pending"} 0"#),
            "{body}"
        );
        assert_eq!(get(addr, "/nope").await.0, 404);

        // A loop that stops beating turns /healthz red, naming it.
        liveness.watch(crate::health::Heartbeat::periodic(
            "leader election",
            std::time::Duration::ZERO,
        ));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let (code, body) = get(addr, "/healthz").await;
        assert_eq!(code, 503);
        assert!(body.contains("leader election made no progress"), "{body}");
    }
}
