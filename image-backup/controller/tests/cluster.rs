//! Integration test against the cluster named by `KUBECONFIG` (kind, k3s, microk8s, or a bare
//! API server without nodes) and real local registries (`docker-registry`).
//!
//! The controller runs in this process (`run_with` with the real `RegistryCopier`), so it
//! reaches the loopback registries; the cluster only stores objects. No pod has to run: the
//! test writes the Deployment's status itself through the status subresource, which is all the
//! controller looks at. Without `KUBECONFIG` the test prints that it was skipped and passes.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use image_backup_controller::copier::RegistryCopier;
use image_backup_controller::crd::{ImageBackup, Phase};
use image_backup_controller::run::run_with;
use image_backup_controller::{Args, ControllerConfig};
use image_backup_copier::CopyOptions;
use image_backup_copier::testing::{
    TestImage, TestRegistry, push_image, test_client, test_client_options,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt};
use serde_json::json;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

async fn cluster() -> Option<Client> {
    if std::env::var_os("KUBECONFIG").is_none() {
        // Straight to stderr: the test harness captures eprintln! of passing tests.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED cluster integration test: KUBECONFIG is not set. Point it at a cluster \
             (kind, k3s, microk8s, or a bare kube-apiserver) to run it."
        );
        return None;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    Some(
        Client::try_default()
            .await
            .expect("KUBECONFIG is set but no client could be built from it"),
    )
}

async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backs_up_a_ready_deployment_and_rolls_it_out() {
    let Some(client) = cluster().await else {
        return;
    };
    let suffix = format!("{}-{}", std::process::id(), rand_suffix());
    let (controller_ns, apps_ns) = (format!("ib-it-{suffix}"), format!("ib-it-apps-{suffix}"));

    // CRD (server-side apply, idempotent) and namespaces.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "imagebackups.k8slab.io",
        &PatchParams::apply("image-backup-it").force(),
        &Patch::Apply(ImageBackup::crd()),
    )
    .await
    .unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in [&controller_ns, &apps_ns] {
        let object: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
    }
    let backups: Api<ImageBackup> = Api::namespaced(client.clone(), &controller_ns);
    eventually("the CRD to be served", || {
        let backups = backups.clone();
        async move { backups.list(&Default::default()).await.ok() }
    })
    .await;

    // Real registries: the source holds an image, the backup one receives it.
    let source = TestRegistry::start();
    let backup = TestRegistry::start();
    let image = TestImage::random(&[200_000, 3_000], None);
    let source_ref = source.reference("team/app:1.0");
    push_image(&test_client(&[&source]), &source_ref, &image)
        .await
        .unwrap();

    let metrics = format!("127.0.0.1:{}", free_port());
    let grpc = format!("127.0.0.1:{}", free_port());
    let argv = [
        "it",
        "--backup-registry",
        &format!("{}/mirror", backup.host()),
        "--namespace",
        &controller_ns,
        "--rollout",
        "--metrics-addr",
        &metrics,
        "--grpc-addr",
        &grpc,
        "--identity",
        "it-controller",
    ];
    let config = ControllerConfig::try_from(Cli::try_parse_from(argv).unwrap().args).unwrap();
    let copier = RegistryCopier::new(CopyOptions {
        client: test_client_options(&[]),
        ..CopyOptions::default()
    })
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(run_with(client.clone(), config, Arc::new(copier), async {
        let _ = stopped.await;
    }));

    // A Deployment running the source image; ready because we say so in its status.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &apps_ns);
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "main", "image": source_ref.to_string()}]}}
        }
    }))
    .unwrap();
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    let status = json!({"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}});
    deployments
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();

    let done = eventually("the backup to be Done", || {
        let backups = backups.clone();
        async move {
            let list = backups.list(&Default::default()).await.ok()?;
            list.items.into_iter().find(|b| b.phase() == Phase::Done)
        }
    })
    .await;
    let status = done.status.clone().unwrap();
    assert_eq!(done.spec.image, source_ref.to_string());
    assert_eq!(
        status.backup_digest.as_deref(),
        Some(image.manifest.digest.to_string().as_str())
    );
    assert_eq!(status.source_digest, status.backup_digest);

    let backup_host = backup.host();
    let web = eventually("the rollout", || {
        let deployments = deployments.clone();
        let backup_host = backup_host.clone();
        async move {
            let web = deployments.get("web").await.ok()?;
            let image = web.spec.as_ref()?.template.spec.as_ref()?.containers[0]
                .image
                .clone()?;
            image.starts_with(&backup_host).then_some(web)
        }
    })
    .await;
    let annotations = web.metadata.annotations.unwrap_or_default();
    assert!(annotations["k8slab.io/original-images"].contains(&source_ref.to_string()));

    stop.send(()).ok();
    let _ = tokio::time::timeout(Duration::from_secs(15), controller).await;
    for ns in [&controller_ns, &apps_ns] {
        let _ = namespaces.delete(ns, &DeleteParams::default()).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn rand_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!("{:x}", nanos % 0xfffff)
}
