//! The controller through API server outages, against the in-process API server over real
//! HTTP on loopback (`support::fake_api`), with short lease timings from the configuration:
//!
//! - `run()` itself (client from a kubeconfig file, real registry copier): an outage longer
//!   than the renew deadline (no answers, refused connections, 500s, 429s) makes it return
//!   `LostLeadership` without touching the lease again, and a fresh process leads after it.
//! - `run_with` (in-memory copier): shorter outages cost nothing; the watches resume and a
//!   workload created after the outage gets its backup; a copy in flight when the lease is lost
//!   is cancelled and the next leader resumes it at once, as the same attempt.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use image_backup_controller::ControllerConfig;
use image_backup_controller::copier::InMemoryCopier;
use image_backup_controller::lease::LeaseLost;
use image_backup_controller::run::{RunError, kube_client, run, run_with};
use serde_json::Value;
use support::fake_api::{self, FakeApi, Outage};
use support::objects::{deployment, eventually};

/// Lease 2 s, renew deadline 1 s, retry every 200 ms: an outage of a few seconds loses it.
const SHORT_LEASE: [&str; 6] = [
    "--lease-duration",
    "2s",
    "--lease-renew-deadline",
    "1s",
    "--lease-retry-period",
    "200ms",
];
/// Lease 60 s, renew deadline 40 s: the outages of the watch tests do not lose it.
const LONG_LEASE: [&str; 6] = [
    "--lease-duration",
    "60s",
    "--lease-renew-deadline",
    "40s",
    "--lease-retry-period",
    "500ms",
];

fn config(kubeconfig: &Path, identity: &str, lease: &[&str]) -> ControllerConfig {
    let mut argv = vec![
        "test",
        "--backup-registry",
        "backup.local:5000/mirror",
        "--metrics-addr",
        "127.0.0.1:0",
        "--grpc-addr",
        "127.0.0.1:0",
        "--identity",
        identity,
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ];
    argv.extend_from_slice(lease);
    let mut config = ControllerConfig::from_argv(argv).unwrap();
    // A silent watch is given up after 2 s + 5 s instead of 60 s + 5 s.
    config.watch_timeout = Duration::from_secs(2);
    config
}

fn holder(fake: &FakeApi) -> Option<String> {
    let lease = fake.get(
        &("/apis/coordination.k8s.io/v1".into(), "leases".into()),
        "image-backup",
        "image-backup-controller",
    )?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_string)
}

async fn leads(fake: &FakeApi, identity: &str) {
    eventually(
        &format!("{identity} to hold the lease"),
        Duration::from_secs(20),
        || (holder(fake).as_deref() == Some(identity)).then_some(()),
    )
    .await;
}

fn backup_of(fake: &FakeApi, image: &str) -> Option<Value> {
    fake.list(&fake_api::imagebackups())
        .into_iter()
        .find(|b| b["spec"]["image"] == image)
}

/// `run()` leads, the API server goes away for longer than the renew deadline: `run()` must
/// return `LostLeadership` (servers stopped) within a bounded time, leave the lease alone,
/// and a fresh process must lead once the server is back.
async fn run_gives_up_the_lease_during(outage: Outage) {
    let fake = FakeApi::default();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig).await;

    let first = tokio::spawn(run(config(&kubeconfig, "first", &SHORT_LEASE)));
    leads(&fake, "first").await;
    fake.outage(outage);
    let ended = tokio::time::timeout(Duration::from_secs(15), first)
        .await
        .unwrap_or_else(|_| panic!("run() still running 15 s into a {outage:?} outage"));
    let error = ended.unwrap().unwrap_err();
    assert!(
        matches!(error, RunError::LostLeadership(LeaseLost::NotRenewed(_))),
        "{error}"
    );
    assert!(
        error.to_string().contains("lost the leader lease"),
        "{error}"
    );

    fake.recover().await;
    assert_eq!(
        holder(&fake).as_deref(),
        Some("first"),
        "a process that lost the lease must not write it (not even to release it)"
    );
    let second = tokio::spawn(run(config(&kubeconfig, "second", &SHORT_LEASE)));
    leads(&fake, "second").await;
    second.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_returns_lost_leadership_when_the_api_server_stops_answering() {
    run_gives_up_the_lease_during(Outage::Hang).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_returns_lost_leadership_when_the_api_server_refuses_connections() {
    run_gives_up_the_lease_during(Outage::Refuse).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_returns_lost_leadership_when_the_api_server_answers_500() {
    run_gives_up_the_lease_during(Outage::Status(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_returns_lost_leadership_when_the_api_server_answers_429() {
    run_gives_up_the_lease_during(Outage::Status(429)).await;
}

/// The controller (`run_with`, in-memory copier) keeps leading through `outage`, then a
/// workload created after it gets its backup, and it still stops cleanly.
async fn watches_resume_after<F: Future<Output = ()>>(outage: impl FnOnce(FakeApi) -> F) {
    let fake = FakeApi::default();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig).await;
    let config = config(&kubeconfig, "survivor", &LONG_LEASE);
    let client = kube_client(&config).await.unwrap();
    let copier = InMemoryCopier::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(run_with(client, config, Arc::new(copier.clone()), async {
        let _ = stopped.await;
    }));
    leads(&fake, "survivor").await;
    fake.put(
        &fake_api::deployments(),
        deployment("shop", "before", None, "nginx:1.14.2", 1),
    );
    eventually(
        "the backup of the first workload",
        Duration::from_secs(30),
        || {
            backup_of(&fake, "docker.io/library/nginx:1.14.2")
                .filter(|b| b["status"]["phase"] == "Done")
        },
    )
    .await;

    outage(fake.clone()).await;

    fake.put(
        &fake_api::deployments(),
        deployment("shop", "after", None, "redis:7", 1),
    );
    let backup = eventually(
        "the backup of a workload created after the outage (30 s from ready)",
        Duration::from_secs(30),
        || backup_of(&fake, "docker.io/library/redis:7").filter(|b| b["status"]["phase"] == "Done"),
    )
    .await;
    assert_eq!(backup["status"]["attempts"], 1);
    assert_eq!(holder(&fake).as_deref(), Some("survivor"));

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), controller)
        .await
        .expect("stops after SIGTERM")
        .unwrap()
        .unwrap();
    assert_eq!(holder(&fake), None, "a clean stop releases the lease");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_resume_after_3_s_of_refused_connections() {
    watches_resume_after(|fake| async move {
        fake.outage(Outage::Refuse);
        tokio::time::sleep(Duration::from_secs(3)).await;
        fake.recover().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_resume_after_12_s_without_answers() {
    // Longer than the watch backoff's cap; the open watches stay dead after recovery and
    // are dropped for their silence.
    watches_resume_after(|fake| async move {
        fake.outage(Outage::Hang);
        tokio::time::sleep(Duration::from_secs(12)).await;
        fake.recover().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_resume_after_5_s_of_500_and_429() {
    watches_resume_after(|fake| async move {
        fake.outage(Outage::Status(500));
        tokio::time::sleep(Duration::from_secs(3)).await;
        fake.outage(Outage::Status(429));
        tokio::time::sleep(Duration::from_secs(2)).await;
        fake.recover().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_resume_after_a_restart_that_forgot_the_watch_history() {
    watches_resume_after(|fake| async move { fake.restart(Duration::from_secs(2)).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_in_flight_is_cancelled_with_the_lease_and_resumed_at_once_by_the_next_leader() {
    let fake = FakeApi::default();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig).await;
    let image = "docker.io/library/nginx:1.14.2";

    // The first leader's copy never finishes on its own.
    let stuck = InMemoryCopier::default();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    stuck.gate(gate.clone());
    let first_config = config(&kubeconfig, "first", &SHORT_LEASE);
    let first = tokio::spawn(run_with(
        kube_client(&first_config).await.unwrap(),
        first_config,
        Arc::new(stuck.clone()),
        std::future::pending(),
    ));
    leads(&fake, "first").await;
    fake.put(
        &fake_api::deployments(),
        deployment("shop", "web", None, "nginx:1.14.2", 1),
    );
    eventually("the copy to start", Duration::from_secs(20), || {
        backup_of(&fake, image).filter(|b| {
            b["status"]["phase"] == "Running"
                && b["status"]["holder"] == "first"
                && !stuck.copies().is_empty()
        })
    })
    .await;
    // Held by the test, the copier, and the copy in flight.
    assert_eq!(Arc::strong_count(&gate), 3);

    fake.outage(Outage::Refuse);
    let error = tokio::time::timeout(Duration::from_secs(15), first)
        .await
        .expect("run_with returns once the lease is lost")
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, RunError::LostLeadership(_)), "{error}");
    assert_eq!(
        Arc::strong_count(&gate),
        2,
        "the copy in flight was dropped"
    );
    fake.recover().await;

    let copier = InMemoryCopier::default();
    let second_config = config(&kubeconfig, "second", &SHORT_LEASE);
    let second = tokio::spawn(run_with(
        kube_client(&second_config).await.unwrap(),
        second_config,
        Arc::new(copier.clone()),
        std::future::pending(),
    ));
    // The lease expires 2 s after the first leader's last renewal; the copy it left Running
    // (its heartbeat fresh) is resumed at once, not after the heartbeat goes stale.
    let done = eventually(
        "the next leader to finish the copy",
        Duration::from_secs(20),
        || backup_of(&fake, image).filter(|b| b["status"]["phase"] == "Done"),
    )
    .await;
    assert_eq!(
        done["status"]["attempts"], 1,
        "a resume is the same attempt"
    );
    assert_eq!(copier.copies(), [image]);
    second.abort();
}
