//! The admission webhook over real HTTPS (its own CA, a client that trusts only that CA), with
//! AdmissionReview bodies as the API server sends them, against a real registry
//! (`docker-registry`) that is up, then stopped, and a registry that accepts connections and
//! never answers. Certificates are kept in the in-process API server of `tests/support`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use image_backup_controller::admission::availability::Limits;
use image_backup_controller::admission::certs::{self, CertKeeper};
use image_backup_controller::admission::{self, Journal, Mode};
use image_backup_controller::admission::{tls, webhook};
use image_backup_controller::context::Context;
use image_backup_controller::copier::InMemoryCopier;
use image_backup_controller::crd::{ImageBackup, Phase};
use image_backup_controller::metrics::Metrics;
use image_backup_copier::testing::{TestImage, TestRegistry, push_image, test_client};
use k8s_openapi::ByteString;
use k8s_openapi::jiff::{Span, Timestamp};
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use serde_json::{Value, json};
use support::admission::*;
use support::fake_api::{self, FakeApi};

fn short_ttls() -> Limits {
    Limits {
        available_ttl: Duration::from_millis(300),
        unavailable_ttl: Duration::from_millis(300),
        ..Limits::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_keeps_available_images_and_pins_backups_once_the_source_is_down() {
    let mut source = TestRegistry::start();
    let image = TestImage::random(&[2_000], None);
    let digest = image.manifest.digest.to_string();
    let tagged = source.reference("team/app:1.0").to_string();
    let by_digest = format!("{}/team/app@{digest}", source.host());
    push_image(
        &test_client(&[&source]),
        &source.reference("team/app:1.0"),
        &image,
    )
    .await
    .unwrap();
    let mut h = Harness::start("failover", short_ttls()).await;
    h.cache(done(&tagged, &digest));
    h.cache(done(&by_digest, &digest));
    // A Pending backup and no backup at all: never rewritten, whatever the source does.
    let pending_image = format!("{}/team/other:2", source.host());
    let mut pending = done(&pending_image, &digest);
    pending.status.as_mut().unwrap().phase = Phase::Pending;
    h.cache(pending);
    let unknown = format!("{}/team/unknown:3", source.host());

    let pod = replicaset_pod("apps", &by_digest, &tagged, Some(&unknown));
    let (response, admitted) = h.admit(&pod).await;
    assert!(
        response["patch"].is_null(),
        "source up: untouched, got {response}"
    );
    assert_eq!(admitted, pod);
    let (response, _) = h
        .admit(&replicaset_pod("apps", &pending_image, &unknown, None))
        .await;
    assert!(response["patch"].is_null());

    source.kill();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (response, admitted) = h.admit(&pod).await;
    assert!(!response["patch"].is_null(), "source down: {response}");
    assert_eq!(image_of(&admitted, "containers"), pinned(&tagged, &digest));
    assert_eq!(
        image_of(&admitted, "initContainers"),
        pinned(&by_digest, &digest)
    );
    assert_eq!(
        image_of(&admitted, "ephemeralContainers"),
        unknown,
        "no backup: untouched"
    );
    let originals: Value = serde_json::from_str(
        admitted["metadata"]["annotations"]["image-backup.k8slab.io/original-images"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        originals,
        json!({"containers/main": tagged, "initContainers/init": by_digest})
    );
    assert_eq!(
        admitted["spec"]["imagePullSecrets"],
        json!([{"name": "backup-pull"}])
    );
    // Nothing but those fields changed.
    let mut expected = pod.clone();
    expected["spec"]["containers"][0]["image"] = admitted["spec"]["containers"][0]["image"].clone();
    expected["spec"]["initContainers"][0]["image"] =
        admitted["spec"]["initContainers"][0]["image"].clone();
    expected["spec"]["imagePullSecrets"] = admitted["spec"]["imagePullSecrets"].clone();
    expected["metadata"]["annotations"] = admitted["metadata"]["annotations"].clone();
    assert_eq!(admitted, expected);

    // A pending backup still does not help.
    let (response, _) = h
        .admit(&replicaset_pod("apps", &pending_image, &unknown, None))
        .await;
    assert!(response["patch"].is_null());

    let recent = h.journal.recent(0);
    assert!(
        recent.iter().any(|e| e.rewritten
            && e.reason == "unavailable: unreachable"
            && e.pod == "web-7d9f8b6c5d-"
            && e.container == "main"),
        "{recent:?}"
    );
    assert!(
        recent
            .iter()
            .any(|e| !e.rewritten && e.reason == "available")
    );
    let metrics = h.metrics();
    for line in [
        r#"image_backup_admissions_total{outcome="rewritten"} 1"#,
        r#"image_backup_admission_rewrites_total{reason="unreachable"} 2"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line} in\n{metrics}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_registry_costs_one_budget_not_one_per_pod() {
    // Accepts connections and never says a word.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_port = hang.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = hang.accept().await {
            held.push(stream);
        }
    });
    let limits = Limits::default();
    let mut h = Harness::start("failover", limits).await;
    let digest = format!("sha256:{}", "ab".repeat(32));
    let hung = format!("127.0.0.1:{hang_port}/team/app:1.0");
    h.cache(done(&hung, &digest));

    let started = std::time::Instant::now();
    let pods: Vec<Value> = (0..10)
        .map(|_| replicaset_pod("apps", &hung, &hung, None))
        .collect();
    let answers = futures::future::join_all(pods.iter().map(|p| h.admit(p))).await;
    let first = started.elapsed();
    for (_, admitted) in &answers {
        assert_eq!(image_of(admitted, "containers"), pinned(&hung, &digest));
    }
    assert!(
        first >= limits.budget - Duration::from_millis(100)
            && first < limits.budget + Duration::from_millis(800),
        "ten concurrent admissions answered after {first:?}; the budget is {:?}",
        limits.budget
    );
    // The timeout is cached: the next pod is answered at once.
    let again = std::time::Instant::now();
    let (_, admitted) = h.admit(&replicaset_pod("apps", &hung, &hung, None)).await;
    assert_eq!(image_of(&admitted, "containers"), pinned(&hung, &digest));
    assert!(
        again.elapsed() < Duration::from_millis(500),
        "{:?}",
        again.elapsed()
    );
    assert!(h.journal.recent(1)[0].reason == "unavailable: timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_rewrites_done_backups_and_leaves_alone_what_is_not_ours() {
    let mut h = Harness::start("always", Limits::default()).await;
    let digest = format!("sha256:{}", "cd".repeat(32));
    h.cache(done("nginx:1.27", &digest));
    let want = pinned("nginx:1.27", &digest);

    // No registry is ever asked in this mode (docker.io is not reachable here).
    let (_, admitted) = h
        .admit(&replicaset_pod("apps", "busybox", "nginx:1.27", None))
        .await;
    assert_eq!(image_of(&admitted, "containers"), want);
    assert_eq!(image_of(&admitted, "initContainers"), "busybox");

    // A named pod with its own pull secret gets ours added after it.
    let mut named = replicaset_pod("apps", "busybox", "docker.io/library/nginx:1.27", None);
    named["metadata"]["name"] = json!("web-0");
    named["metadata"]["annotations"] = json!({"team": "a"});
    named["spec"]["imagePullSecrets"] = json!([{"name": "mine"}]);
    let (_, admitted) = h.admit(&named).await;
    assert_eq!(image_of(&admitted, "containers"), want);
    assert_eq!(
        admitted["spec"]["imagePullSecrets"],
        json!([{"name": "mine"}, {"name": "backup-pull"}])
    );
    assert_eq!(admitted["metadata"]["annotations"]["team"], "a");

    // Not ours: the controller's namespace, kube-system, an opted-out pod, other operations.
    let mut opted_out = replicaset_pod("apps", "busybox", "nginx:1.27", None);
    opted_out["metadata"]["labels"]["image-backup.k8slab.io/admission"] = json!("disabled");
    let mut update = review(
        "u-update",
        &replicaset_pod("apps", "busybox", "nginx:1.27", None),
    );
    update["request"]["operation"] = json!("UPDATE");
    update["request"]["oldObject"] = update["request"]["object"].clone();
    for body in [
        review(
            "u1",
            &replicaset_pod(NAMESPACE, "busybox", "nginx:1.27", None),
        ),
        review(
            "u2",
            &replicaset_pod("kube-system", "busybox", "nginx:1.27", None),
        ),
        review("u3", &opted_out),
        update,
    ] {
        let answer: Value = h.post(&body).await.json().await.unwrap();
        assert_eq!(answer["response"]["allowed"], true, "{body}");
        assert!(answer["response"]["patch"].is_null(), "{body}");
    }

    // Anything that is not a review is refused at the HTTP level (the API server then
    // applies failurePolicy: Ignore); other paths and methods are not served.
    let url = format!("https://{HOST}:{}", h.port);
    let garbage = h
        .client
        .post(format!("{url}{}", webhook::PATH))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    assert_eq!(
        h.client
            .get(format!("{url}{}", webhook::PATH))
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
    assert_eq!(
        h.client
            .post(format!("{url}/other"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let metrics = h.metrics();
    for line in [
        r#"image_backup_admissions_total{outcome="rewritten"} 2"#,
        r#"image_backup_admissions_total{outcome="skipped"} 4"#,
        r#"image_backup_admissions_total{outcome="invalid"} 1"#,
        r#"image_backup_admission_rewrites_total{reason="always"} 2"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line} in\n{metrics}"
        );
    }
    // Skipped pods are not counted as admitted: only pods the webhook looked into.
    assert_eq!(h.journal.totals(), (2, 2));
}

/// The serving certificate a fresh TLS handshake gets.
async fn served_certificate(ca: &[u8], port: u16) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(ca).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from(HOST).unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_shared_by_replicas_renewed_in_place_and_reloaded() {
    let h = Harness::start("always", Limits::default()).await;
    let now = Timestamp::now();
    let secret_of = |fake: &FakeApi| {
        fake.get(&fake_api::secrets(), NAMESPACE, "image-backup-webhook-tls")
            .unwrap()
    };
    let ca_bundle = |fake: &FakeApi| {
        fake.get(
            &fake_api::mutating_webhook_configurations(),
            "",
            "image-backup",
        )
        .unwrap()["webhooks"][0]["clientConfig"]["caBundle"]
            .clone()
    };
    let first = secret_of(&h.fake);
    let ca: ByteString = serde_json::from_value(ca_bundle(&h.fake)).unwrap();
    assert_eq!(ca.0, ca_of(&h.fake), "the caBundle is the Secret's CA");

    // A second replica (and a third, racing) find the Secret and keep it.
    let (a, b) = tokio::join!(h.keeper.sync(now), h.keeper.sync(now));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(!a.wrote_secret && !b.wrote_secret);
    assert_eq!(a.wrote_ca_bundle, Some(false));
    assert_eq!(
        secret_of(&h.fake)["metadata"]["resourceVersion"],
        first["metadata"]["resourceVersion"]
    );

    // Replicas racing to create it: one creates, the others use its bundle.
    let fresh = FakeApi::default();
    let client = fresh.client().await;
    let keeper = CertKeeper {
        client,
        ..h.keeper.clone()
    };
    let results = futures::future::join_all((0..4).map(|_| keeper.sync(now))).await;
    let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(results.iter().filter(|r| r.wrote_secret).count(), 1);
    assert!(results.iter().all(|r| r.bundle == results[0].bundle));
    assert!(
        results.iter().all(|r| r.wrote_ca_bundle.is_none()),
        "no configuration there"
    );

    // The Service is renamed: a new serving certificate from the same CA, and the running
    // server presents it on the next handshake, without a restart.
    let before = served_certificate(&ca.0, h.port).await;
    let mut renamed = h.keeper.clone();
    renamed.dns_names.push("renamed.image-backup.svc".into());
    let mut loaded = None;
    certs::round(&renamed, &h.serving, &mut loaded, now).await;
    let reissued = secret_of(&h.fake);
    assert_ne!(reissued["data"]["tls.crt"], first["data"]["tls.crt"]);
    assert_eq!(reissued["data"]["ca.crt"], first["data"]["ca.crt"]);
    let after = served_certificate(&ca.0, h.port).await;
    assert_ne!(
        before, after,
        "the new certificate is served without a restart"
    );

    // Eight months on, past two thirds of a year: renewed, same CA, caBundle untouched.
    let later = now.checked_add(Span::new().hours(24 * 250)).unwrap();
    let synced = h.keeper.sync(later).await.unwrap();
    assert!(synced.wrote_secret);
    assert_eq!(synced.wrote_ca_bundle, Some(false));
    let renewed = secret_of(&h.fake);
    assert_ne!(renewed["data"]["tls.crt"], reissued["data"]["tls.crt"]);
    assert_eq!(renewed["data"]["ca.crt"], first["data"]["ca.crt"]);
    let (from, _) = tls::validity(&synced.bundle.cert).unwrap();
    assert!(from > now, "issued for the later date");

    // Seven years on, the CA itself is renewed and the caBundle follows.
    let much_later = now.checked_add(Span::new().hours(24 * 365 * 7)).unwrap();
    let synced = h.keeper.sync(much_later).await.unwrap();
    assert!(synced.wrote_secret);
    assert_eq!(synced.wrote_ca_bundle, Some(true));
    assert_ne!(synced.bundle.ca_cert.as_bytes(), ca.0.as_slice());
    assert_eq!(
        serde_json::from_value::<ByteString>(ca_bundle(&h.fake))
            .unwrap()
            .0,
        synced.bundle.ca_cert.as_bytes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flags_alone_start_a_working_webhook() {
    image_backup_copier::registry::install_crypto_provider();
    let fake = FakeApi::default();
    fake.put(
        &fake_api::mutating_webhook_configurations(),
        webhook_configuration(),
    );
    let client = fake.client().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config = config(&["--admission", "always", "--webhook-addr", &addr]);
    let mut store = Writer::<ImageBackup>::default();
    let digest = format!("sha256:{}", "ef".repeat(32));
    store.apply_watcher_event(&watcher::Event::Apply(done("redis:7", &digest)));
    let ctx = Arc::new(Context::new(
        client,
        config.settings(),
        Arc::new(InMemoryCopier::default()),
        Arc::new(Metrics::default()),
        store.as_reader(),
    ));
    let journal = Arc::new(Journal::new(Mode::Always));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(admission::serve(ctx, &config, journal.clone(), async {
        let _ = stopped.await;
    }));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let ca = loop {
        if let Some(secret) = fake.get(&fake_api::secrets(), NAMESPACE, "image-backup-webhook-tls")
        {
            let ca: ByteString = serde_json::from_value(secret["data"]["ca.crt"].clone()).unwrap();
            break ca.0;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no certificate after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let client = https_client(&ca, port);
    let pod = replicaset_pod("apps", "busybox", "redis:7", None);
    let answer: Value = loop {
        // The server may still be loading its certificate.
        match client
            .post(format!("https://{HOST}:{port}{}", webhook::PATH))
            .json(&review("u", &pod))
            .send()
            .await
        {
            Ok(response) => break response.json().await.unwrap(),
            Err(error) => {
                assert!(std::time::Instant::now() < deadline, "{error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(answer["response"]["allowed"], true);
    assert!(!answer["response"]["patch"].is_null(), "{answer}");
    assert_eq!(journal.totals(), (1, 1));
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("the webhook stops when asked")
        .unwrap()
        .unwrap();
}
