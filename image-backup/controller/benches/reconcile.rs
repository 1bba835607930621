//! Reconcile throughput and memory with many workloads (default 5000; `BENCH_WORKLOADS=N`).
//!
//! The whole controller (`run_with`) runs against the in-process API server of
//! `tests/support` over loopback HTTP, with the in-memory copier. N Deployments (one image
//! each, in 50 namespaces) exist before it starts; once it is ready they all become ready at
//! once, and the bench measures, per workload, the time from its ready status being written to
//! its `ImageBackup` being created; then the time until every backup is Done; then one more
//! workload becoming ready on its own. The controller runs in a child process (this binary
//! again, with `BENCH_CONTROLLER_URL` set), so its RSS, read from /proc, is its own.
//!
//! Run: `cargo bench -p image-backup-controller --bench reconcile`.

#[path = "../tests/support/fake_api.rs"]
mod fake_api;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_api::FakeApi;
use image_backup_controller::ControllerConfig;
use image_backup_controller::copier::InMemoryCopier;
use image_backup_controller::image::ImageRef;
use image_backup_controller::naming::object_name;
use image_backup_controller::run::run_with;
use serde_json::json;

fn rss_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn deployment(i: usize, ready: i32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("app-{i}"), "namespace": format!("team-{}", i % 50), "labels": {"app": format!("app-{i}")}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": format!("app-{i}")}},
            "template": {
                "metadata": {"labels": {"app": format!("app-{i}")}},
                "spec": {"containers": [{"name": "main", "image": image(i), "ports": [{"containerPort": 8080}],
                                         "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}
            }
        },
        "status": {"replicas": 2, "readyReplicas": ready, "observedGeneration": 1}
    })
}

fn image(i: usize) -> String {
    format!("registry.example.com/team-{}/app-{i}:1.{i}", i % 50)
}

fn backup_name(i: usize) -> String {
    object_name(&ImageRef::parse(&image(i)).unwrap())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn wait_ready(port: u16) {
    loop {
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let _ = s
                .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await;
            let mut response = String::new();
            let _ = s.read_to_string(&mut response).await;
            if response.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The controller side: `run_with` against the parent's API server until the parent kills it.
fn controller_child(url: String) {
    let metrics = std::env::var("BENCH_METRICS_ADDR").unwrap_or_default();
    let grpc = std::env::var("BENCH_GRPC_ADDR").unwrap_or_default();
    let argv = [
        "bench",
        "--backup-registry",
        "backup.local:5000/mirror",
        "--no-leader-election",
        "--metrics-addr",
        &metrics,
        "--grpc-addr",
        &grpc,
    ];
    let config = ControllerConfig::from_argv(argv).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let copier = Arc::new(InMemoryCopier::default());
        run_with(client, config, copier, std::future::pending::<()>())
            .await
            .unwrap();
    });
}

fn main() {
    if let Ok(url) = std::env::var("BENCH_CONTROLLER_URL") {
        return controller_child(url);
    }
    let n: usize = std::env::var("BENCH_WORKLOADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench(n));
}

async fn bench(n: usize) {
    let fake = FakeApi::default();
    let url = fake.serve().await;
    for i in 0..n {
        fake.put(&fake_api::deployments(), deployment(i, 0));
    }

    let metrics_port = free_port();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env("BENCH_CONTROLLER_URL", &url)
        .env("BENCH_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
        .env("BENCH_GRPC_ADDR", format!("127.0.0.1:{}", free_port()))
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = Instant::now();
    wait_ready(metrics_port).await;
    // Let the workload watches deliver their initial lists too.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_synced = rss_mb(pid, "VmRSS:");
    println!(
        "controller ready after {:.2?} with {n} unready Deployments cached",
        started.elapsed()
    );

    // Burst: every workload becomes ready at once.
    let mut ready_at = Vec::with_capacity(n);
    let burst = Instant::now();
    for i in 0..n {
        ready_at.push(Instant::now());
        fake.put(&fake_api::deployments(), deployment(i, 2));
    }
    let mut latencies = Vec::with_capacity(n);
    let backups = fake_api::imagebackups();
    let deadline = Instant::now() + Duration::from_secs(600);
    for (i, ready) in ready_at.iter().enumerate() {
        let created = loop {
            if let Some(t) = fake.created_at(&backups, "image-backup", &backup_name(i)) {
                break t;
            }
            assert!(
                Instant::now() < deadline,
                "ImageBackup of workload {i} never appeared"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        latencies.push(created.saturating_duration_since(*ready));
    }
    let all_created = burst.elapsed();
    loop {
        let done = fake
            .list(&backups)
            .iter()
            .filter(|b| b["status"]["phase"] == "Done")
            .count();
        if done == n {
            break;
        }
        assert!(Instant::now() < deadline, "only {done} of {n} backups Done");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all_done = burst.elapsed();
    let rss_after_burst = rss_mb(pid, "VmRSS:");

    // One more workload, alone: the latency a single change sees on a loaded cache.
    fake.put(&fake_api::deployments(), deployment(n, 0));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let single_ready = Instant::now();
    fake.put(&fake_api::deployments(), deployment(n, 2));
    let single = loop {
        if let Some(t) = fake.created_at(&backups, "image-backup", &backup_name(n)) {
            break t.saturating_duration_since(single_ready);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };

    latencies.sort();
    println!("workloads: {n} Deployments, 1 image each; default reconcile concurrency (4)");
    println!(
        "ready -> ImageBackup created (burst of {n}): p50 {:.2?}  p95 {:.2?}  max {:.2?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        percentile(&latencies, 1.0)
    );
    println!(
        "all {n} ImageBackups created in {all_created:.2?} ({:.0} workloads/s); all Done in {all_done:.2?} ({:.0} backups/s)",
        n as f64 / all_created.as_secs_f64(),
        n as f64 / all_done.as_secs_f64()
    );
    println!("ready -> ImageBackup created (single workload afterwards): {single:.2?}");
    println!(
        "controller RSS: {rss_synced:.1} MB synced with {n} Deployments; {rss_after_burst:.1} MB with {n} Deployments \
         and {n} Done ImageBackups; peak {:.1} MB",
        rss_mb(pid, "VmHWM:")
    );
    println!("API requests served: {}", fake.requests());
    let _ = child.kill();
    let _ = child.wait();
}
