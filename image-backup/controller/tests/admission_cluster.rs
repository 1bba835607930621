//! The admission webhook called by a real API server (the cluster named by `KUBECONFIG`: a bare
//! kube-apiserver or microk8s-like cluster whose API server runs on this host).
//!
//! The webhook runs in this process on `https://127.0.0.1:<port>`; a MutatingWebhookConfiguration
//! of the test's own (selecting only the test namespace, so the rest of the cluster is never
//! affected) points there by `clientConfig.url`, and the controller's certificate keeper fills
//! its caBundle. Then, through the API server:
//! - a pod whose source registry (a local `docker-registry`) is up is admitted untouched;
//! - once the registry is stopped, a pod is admitted with the digest-pinned backup;
//! - a Deployment running the same image keeps its generation and spec.
//!
//! Not checked here: that such pods *run* (a node would have to reach the backup registry:
//! `TEST_CLUSTER_REGISTRY`), nor clusters whose API server cannot reach this host's loopback
//! (kind). Without `KUBECONFIG` the test prints `SKIPPED ...` and passes.
//!
//! Through `kube-testing`: the test holds the `image-backup` cluster lock (the image-backup
//! tests' controllers and webhooks must not act on each other's namespaces), labels what it
//! creates, first deletes what a killed earlier run left, and waits (bounded) until its
//! namespaces are gone, standing in for the namespace controller a bare API server lacks.

mod support;

use std::sync::Arc;
use std::time::Duration;

use image_backup_controller::admission::availability::{Checker, Limits, RegistryProbe};
use image_backup_controller::admission::certs::CertKeeper;
use image_backup_controller::admission::tls::{self, ServingCert};
use image_backup_controller::admission::webhook::{self, Webhook};
use image_backup_controller::admission::{Journal, Mode};
use image_backup_controller::context::Context;
use image_backup_controller::copier::InMemoryCopier;
use image_backup_controller::crd::ImageBackup;
use image_backup_controller::metrics::Metrics;
use image_backup_copier::testing::{TestImage, TestRegistry, push_image, test_client};
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use kube::{Api, Client};
use kube_testing::namespace::{self, DELETION_LIMIT};
use kube_testing::{TestCluster, labels};
use serde_json::json;
use support::admission::{config, done, pinned, rand_suffix};

const TEST: &str = "image-backup-controller admission cluster";
/// Every namespace of this test starts so; its webhook configurations with [`CONFIGURATION`].
const PREFIX: &str = "ib-adm-";
const CONFIGURATION: &str = "ib-adm-it-";

fn bare_pod(name: &str, image: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels::labels(TEST)},
        "spec": {
            "automountServiceAccountToken": false,
            "containers": [{"name": "main", "image": image}]
        }
    }))
    .unwrap()
}

/// Removes what the test made, the webhook configuration first: it must never outlive the
/// test (its failurePolicy is Ignore, but a dangling URL still slows pod creation there).
/// Namespaces are waited for until gone.
struct Cleanup {
    client: Client,
    configuration: String,
    namespaces: Vec<String>,
}

impl Cleanup {
    async fn run(&self) -> Result<(), String> {
        delete_configuration(&self.client, &self.configuration).await?;
        let namespaces: Vec<&str> = self.namespaces.iter().map(String::as_str).collect();
        namespace::delete_all_and_wait(&self.client, &namespaces, DELETION_LIMIT).await
    }
}

/// Deletes what earlier runs of this test left (killed before their cleanup): test-made
/// webhook configurations and namespaces of this test's prefixes.
async fn delete_debris(client: &Client) -> Result<(), String> {
    let configs: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let made = configs
        .list(&ListParams::default().labels(&labels::any_test()))
        .await
        .map_err(|e| format!("listing test-made webhook configurations: {e}"))?;
    for name in made.items.into_iter().filter_map(|c| c.metadata.name) {
        if name.starts_with(CONFIGURATION) {
            delete_configuration(client, &name).await?;
        }
    }
    namespace::delete_debris(client, PREFIX).await
}

/// Deletes webhook configuration `name` if it exists (deleted at once: it has no finalizers).
async fn delete_configuration(client: &Client, name: &str) -> Result<(), String> {
    let configs: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    match configs.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(format!("deleting webhook configuration {name}: {e}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_admits_pods_through_the_webhook() {
    let what = "the admission webhook called by a real API server (one on this host: a bare \
                kube-apiserver, microk8s)";
    let Some(cluster) = TestCluster::connect(TEST, what).await else {
        return;
    };
    let client = cluster.client.clone();
    let _lock = cluster.lock("image-backup").await;
    delete_debris(&client)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let suffix = format!("{}-{}", std::process::id(), rand_suffix());
    let suffix = &suffix[suffix.len().saturating_sub(12)..];
    let (controller_ns, apps_ns) = (
        format!("{PREFIX}{suffix}"),
        format!("{PREFIX}apps-{suffix}"),
    );
    let configuration = format!("{CONFIGURATION}{suffix}");
    let cleanup = Cleanup {
        client: client.clone(),
        configuration: configuration.clone(),
        namespaces: vec![controller_ns.clone(), apps_ns.clone()],
    };
    for ns in [&controller_ns, &apps_ns] {
        namespace::fresh(&client, ns, TEST)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // A bare API server has no controller to make the default service account.
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &apps_ns);
    let account: ServiceAccount = serde_json::from_value(
        json!({"metadata": {"name": "default", "labels": labels::labels(TEST)}}),
    )
    .unwrap();
    let _ = accounts.create(&PostParams::default(), &account).await;

    // The source registry and the image's Done backup.
    let mut source = TestRegistry::start();
    let image = TestImage::random(&[1_000], None);
    let reference = source.reference("team/app:1.0");
    push_image(&test_client(&[&source]), &reference, &image)
        .await
        .unwrap();
    let digest = image.manifest.digest.to_string();
    let tagged = reference.to_string();

    // The webhook, as a replica runs it, on a loopback port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = config(&["--admission", "failover", "--namespace", &controller_ns]);
    let mut store = Writer::<ImageBackup>::default();
    let mut backup = done(&tagged, &digest);
    backup.metadata.namespace = Some(controller_ns.clone());
    store.apply_watcher_event(&watcher::Event::Apply(backup));
    let ctx = Arc::new(Context::new(
        client.clone(),
        config.settings(),
        Arc::new(InMemoryCopier::default()),
        Arc::new(Metrics::default()),
        store.as_reader(),
    ));
    let limits = Limits {
        available_ttl: Duration::from_millis(300),
        unavailable_ttl: Duration::from_millis(300),
        ..Limits::default()
    };
    let journal = Arc::new(Journal::new(Mode::Failover));
    let hook = Arc::new(Webhook::new(
        &ctx,
        Mode::Failover,
        Checker::new(
            Arc::new(RegistryProbe::new(ctx.clone(), vec![], limits.budget)),
            limits,
        ),
        journal.clone(),
        None,
    ));
    let serving = Arc::new(ServingCert::default());
    let tls_config = Arc::new(tls::server_config(serving.clone()).unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(webhook::serve(listener, tls_config, hook, async {
        let _ = stopped.await;
    }));

    // A configuration of our own, by URL, for the test namespace only.
    let configs: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let object: MutatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": configuration, "labels": labels::labels(TEST)},
        "webhooks": [{
            "name": "pods.image-backup.k8slab.io",
            "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "failurePolicy": "Ignore", "timeoutSeconds": 5, "reinvocationPolicy": "Never",
            "matchPolicy": "Equivalent",
            "clientConfig": {"url": format!("https://127.0.0.1:{port}{}", webhook::PATH)},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                       "resources": ["pods"], "scope": "Namespaced"}],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": apps_ns}}
        }]
    }))
    .unwrap();
    configs
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
    let keeper = CertKeeper {
        client: client.clone(),
        namespace: controller_ns.clone(),
        secret: config.admission.secret.clone(),
        configuration: configuration.clone(),
        dns_names: vec!["127.0.0.1".into()],
    };
    let synced = keeper.sync(Timestamp::now()).await.unwrap();
    assert_eq!(synced.wrote_ca_bundle, Some(true));
    serving.set(tls::certified_key(&synced.bundle).unwrap());

    let result = async {
        // A Deployment running the image: the webhook must never change it.
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &apps_ns);
        let deployment: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web", "labels": labels::labels(TEST)},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "main", "image": tagged}]}}
            }
        }))
        .unwrap();
        let created = deployments
            .create(&PostParams::default(), &deployment)
            .await
            .unwrap();

        // Source up: pods are admitted untouched. The API server may take a moment to call a
        // new configuration; the journal says when it has.
        let pods: Api<Pod> = Api::namespaced(client.clone(), &apps_ns);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut n = 0;
        let healthy = loop {
            n += 1;
            let name = format!("healthy-{n}");
            let pod = pods
                .create(&PostParams::default(), &bare_pod(&name, &tagged))
                .await
                .unwrap();
            if journal.recent(0).iter().any(|e| e.pod == name) {
                break pod;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the API server never called the webhook at https://127.0.0.1:{port} (is it on this host?)"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert_eq!(
            healthy.spec.as_ref().unwrap().containers[0]
                .image
                .as_deref(),
            Some(tagged.as_str())
        );
        assert!(healthy.metadata.annotations.unwrap_or_default().is_empty());

        // Source stopped: the next pod runs the backup, pinned by digest.
        source.kill();
        tokio::time::sleep(Duration::from_millis(400)).await;
        let failover = pods
            .create(&PostParams::default(), &bare_pod("failover", &tagged))
            .await
            .unwrap();
        let spec = failover.spec.as_ref().unwrap();
        assert_eq!(
            spec.containers[0].image.as_deref(),
            Some(pinned(&tagged, &digest).as_str())
        );
        assert_eq!(
            spec.image_pull_secrets.as_ref().unwrap()[0].name,
            "backup-pull"
        );
        let annotations = failover.metadata.annotations.unwrap_or_default();
        assert!(annotations["image-backup.k8slab.io/original-images"].contains(&tagged));

        let now = deployments.get("web").await.unwrap();
        assert_eq!(now.metadata.generation, created.metadata.generation);
        assert_eq!(now.spec, created.spec);
    };
    // Clean up whatever happened, then report.
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(result)).await;
    let cleaned = cleanup.run().await;
    let _ = stop.send(());
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    cleaned.unwrap_or_else(|e| panic!("{e}"));
}
