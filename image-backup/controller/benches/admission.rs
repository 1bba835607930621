//! Admission latency at a steady 200 admissions/s over real HTTPS (the webhook's own TLS, a
//! client trusting its CA, AdmissionReview bodies as the API server sends them), failover mode,
//! every pod's images backed up:
//! 1. warm caches, the source registry (a real `docker-registry`) up: the aim is p99 <= 20 ms;
//! 2. every source registry hanging (accepts connections, never answers): the aim is never
//!    past the 2 s budget, whatever the percentile.
//!
//! Requests are sent open-loop (one every 5 ms whether or not earlier ones have answered), so
//! a slow answer cannot hide behind the rate. The latency is the client's: from sending the
//! request to the end of the response body.
//!
//! Besides the client's figures it prints the webhook's own (its latency histogram, from
//! receiving a review to answering it) and the latency of admissions sent one at a time: when
//! the machine is short of CPU, open-loop requests queue up before the webhook sees them.
//!
//! Run: `cargo bench -p image-backup-controller --bench admission` (`BENCH_SECONDS=N` per
//! scenario, default 10).

// `tests/support/admission.rs` finds the fake API server as `super::fake_api`.
#[path = "../tests/support/admission.rs"]
mod admission_support;
#[path = "../tests/support/fake_api.rs"]
mod fake_api;

use std::time::Duration;

use admission_support::{HOST, Harness, done, replicaset_pod, review};
use bytes::Bytes;
use image_backup_controller::admission::availability::Limits;
use image_backup_controller::admission::webhook;
use image_backup_copier::testing::{TestImage, TestRegistry, push_image, test_client};
use serde_json::Value;
use tokio::time::Instant;

/// Admissions per second.
const RATE: u64 = 200;
/// Distinct images (each pod runs two of them).
const IMAGES: usize = 20;

fn seconds() -> u64 {
    std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

/// Pods over `images`, each with an init container and a container.
fn pods(images: &[String]) -> Vec<Value> {
    (0..images.len())
        .map(|i| replicaset_pod("apps", &images[i], &images[(i + 1) % images.len()], None))
        .collect()
}

/// Sends `RATE` reviews a second for `seconds()` and returns every latency.
async fn run(h: &Harness, pods: &[Value]) -> Vec<Duration> {
    let url = format!("https://{HOST}:{}{}", h.port, webhook::PATH);
    let total = RATE * seconds();
    let bodies: Vec<Bytes> = (0..total)
        .map(|i| {
            let pod = &pods[i as usize % pods.len()];
            Bytes::from(serde_json::to_vec(&review(&format!("uid-{i}"), pod)).unwrap())
        })
        .collect();
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(bodies.len());
    for (i, body) in bodies.into_iter().enumerate() {
        tokio::time::sleep_until(start + Duration::from_micros(i as u64 * 1_000_000 / RATE)).await;
        let (client, url) = (h.client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let response = client
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("the webhook answers");
            assert_eq!(response.status(), 200);
            response.bytes().await.expect("a whole response");
            sent.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for task in tasks {
        latencies.push(task.await.expect("request task"));
    }
    latencies
}

/// Upper bounds of the server-side p50 and p99 (from receiving a review to answering it) out
/// of the webhook's own histogram: what the admission costs apart from waiting for a CPU.
fn server_side(h: &Harness) -> String {
    let text = h.metrics();
    let buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("image_backup_admission_duration_seconds_bucket{le=\""))
        .filter_map(|l| {
            let (le, count) = l.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.trim().parse().ok()?))
        })
        .collect();
    let total = buckets.last().map_or(0.0, |b| b.1);
    let at = |q: f64| {
        buckets
            .iter()
            .find(|(_, count)| *count >= total * q)
            .map_or(f64::NAN, |(le, _)| le * 1000.0)
    };
    format!("server side: p50 <= {} ms, p99 <= {} ms", at(0.5), at(0.99))
}

/// One admission at a time: the latency of an admission with nothing queued before it.
async fn sequential(h: &Harness, pods: &[Value], n: usize) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        h.admit(&pods[i % pods.len()]).await;
        latencies.push(started.elapsed());
    }
    latencies
}

fn report(what: &str, latencies: &mut [Duration], aim: &str) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "admission latency, {what}: n={} at {RATE}/s  p50={:.2} ms  p99={:.2} ms  max={:.2} ms  ({aim})",
        latencies.len(),
        ms(at(0.50)),
        ms(at(0.99)),
        ms(latencies[latencies.len() - 1]),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let limits = Limits::default();

    // 1. Warm caches, source up.
    let registry = TestRegistry::start();
    let pusher = test_client(&[&registry]);
    let mut h = Harness::start("failover", limits).await;
    let mut images = Vec::new();
    for i in 0..IMAGES {
        let image = TestImage::random(&[512], None);
        let reference = registry.reference(&format!("team/app-{i}:1.0"));
        push_image(&pusher, &reference, &image)
            .await
            .expect("pushing a test image");
        h.cache(done(
            &reference.to_string(),
            &image.manifest.digest.to_string(),
        ));
        images.push(reference.to_string());
    }
    let warm_pods = pods(&images);
    for pod in &warm_pods {
        let (response, _) = h.admit(pod).await;
        assert!(response["patch"].is_null(), "source up: nothing rewritten");
    }
    let mut alone = sequential(&h, &warm_pods, 500).await;
    report("warm caches, one at a time", &mut alone, "no queueing");
    let mut warm = run(&h, &warm_pods).await;
    report("warm caches, registry up", &mut warm, "aim: p99 <= 20 ms");
    println!("  {}", server_side(&h));

    // 2. Every registry hanging.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let hang_port = hang.local_addr().expect("bound").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = hang.accept().await {
            held.push(stream);
        }
    });
    let mut h = Harness::start("failover", limits).await;
    let digest = format!("sha256:{}", "ab".repeat(32));
    let hung: Vec<String> = (0..IMAGES)
        .map(|i| format!("127.0.0.1:{hang_port}/team/app-{i}:1.0"))
        .collect();
    for image in &hung {
        h.cache(done(image, &digest));
    }
    let mut hanging = run(&h, &pods(&hung)).await;
    report(
        "every registry hanging",
        &mut hanging,
        &format!("budget {} ms: never past it", limits.budget.as_millis()),
    );
    println!("  {}", server_side(&h));
}
