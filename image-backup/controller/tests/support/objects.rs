//! Objects and waits shared by the in-process tests.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::json;

/// A Deployment running `image` (and `init` as an init container, if given), with
/// `readyReplicas: ready` as a kubelet would report.
pub fn deployment(
    namespace: &str,
    name: &str,
    init: Option<&str>,
    image: &str,
    ready: i32,
) -> serde_json::Value {
    let init: Vec<serde_json::Value> = init
        .map(|i| json!({"name": "init", "image": i}))
        .into_iter()
        .collect();
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "initContainers": init,
                    "containers": [{"name": "main", "image": image}]
                }
            }
        },
        "status": {"replicas": 1, "readyReplicas": ready}
    })
}

/// Polls `check` every 50 ms until it returns a value; panics naming `what` after `limit`.
pub async fn eventually<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
