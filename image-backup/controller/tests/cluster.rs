//! The controller against the cluster named by `KUBECONFIG` (microk8s, kind, k3s, or a bare API
//! server without nodes) and real registries (`docker-registry`).
//!
//! The controller runs in this process (`run_with` with the real `RegistryCopier`), so it
//! reaches the loopback registries; the cluster stores its objects, and, where it can run pods,
//! runs the workload. Nothing here writes a status a cluster controller owns.
//!
//! - Everywhere: the CRD as the controller generates it, an image backed up on request through
//!   the gRPC API (`BackupNow`) with the same digest, its `ImageBackup` status written through
//!   the real status subresource.
//! - Where pods run (a Ready node and `TEST_CLUSTER_REGISTRY`): a Deployment whose pod really
//!   runs from the cluster registry is discovered once ready, every image it runs (its init
//!   container's too) is backed up with the same digest, and `--rollout` switches it to the
//!   backups. Elsewhere one `SKIPPED` line says so.
//!
//! The controller acts on the test's namespace only (every other one is excluded): with
//! `--rollout` it would otherwise switch the cluster's own workloads to the test's registry.
//!
//! The CRD, a cluster-wide singleton, is shared with other tests: the test holds the
//! `image-backup` cluster lock, labels what it creates, removes an earlier run's debris, and
//! deletes the CRD and its namespaces when done (waiting until they are gone).
//!
//! ```sh
//! KUBECONFIG=~/.kube/config TEST_CLUSTER_REGISTRY=localhost:32000 \
//!     cargo test -p image-backup-controller --test cluster -- --nocapture
//! ```

use std::sync::Arc;
use std::time::Duration;

use image_backup_controller::ControllerConfig;
use image_backup_controller::copier::RegistryCopier;
use image_backup_controller::crd::{ImageBackup, Phase};
use image_backup_controller::run::run_with;
use image_backup_copier::CopyOptions;
use image_backup_copier::testing::{
    TestImage, TestRegistry, push_image, test_client, test_client_options,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::PostParams;
use kube::{Api, Client, CustomResourceExt};
use kube_testing::images::{EXIT_ARG, Pushed};
use kube_testing::manifests::{self, Objects};
use kube_testing::namespace::{self, DELETION_LIMIT};
use kube_testing::{PodRunner, TestCluster, labels, pods, wait};
use proto::image_backup::v1::BackupNowRequest;
use proto::image_backup::v1::image_backup_service_client::ImageBackupServiceClient;
use serde_json::json;

const TEST: &str = "image-backup-controller cluster";
/// Every test-made namespace of this test starts so.
const PREFIX: &str = "ib-it-";
const LIMIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backs_up_on_request_and_ready_deployments_and_rolls_them_out() {
    let Some(cluster) = TestCluster::connect(TEST, "the controller against a cluster").await else {
        return;
    };
    let client = cluster.client.clone();
    let runner = cluster.pod_runner().await;
    // Built and pushed before taking the lock: the first build takes a while.
    let workload = match &runner {
        Ok(runner) => Ok(push_workload_images(runner).await),
        Err(why) => Err(why.clone()),
    };
    let _lock = cluster.lock("image-backup").await;

    // Earlier versions of this test applied the CRD unlabelled, as `image-backup-it`.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    labels::adopt(&crds, "imagebackups.k8slab.io", &["image-backup-it"], TEST)
        .await
        .unwrap();
    let crd = Objects::resolve(
        &client,
        vec![manifests::dynamic(&ImageBackup::crd()).unwrap()],
    )
    .await
    .unwrap();
    let foreign = crd.foreign().await.unwrap();
    if !foreign.is_empty() {
        cluster.skipped(
            "the controller against a cluster",
            &format!(
                "{} exists and no test made it; refusing to touch it",
                foreign.join(", ")
            ),
        );
        return;
    }
    namespace::delete_debris(&client, PREFIX).await.unwrap();

    let suffix = format!("{}-{}", std::process::id(), rand_suffix());
    let (controller_ns, apps_ns) = (
        format!("{PREFIX}{suffix}"),
        format!("{PREFIX}apps-{suffix}"),
    );
    crd.apply(TEST).await.unwrap();
    manifests::wait_established(&client, "imagebackups.k8slab.io", LIMIT)
        .await
        .unwrap();
    for ns in [&controller_ns, &apps_ns] {
        namespace::fresh(&client, ns, TEST).await.unwrap();
    }

    // Real registries: the source holds an image, the backup one receives it.
    let source = TestRegistry::start();
    let backup = TestRegistry::start();
    let image = TestImage::random(&[200_000, 3_000], None);
    let source_ref = source.reference("team/app:1.0");
    push_image(&test_client(&[&source]), &source_ref, &image)
        .await
        .unwrap();

    let grpc = format!("127.0.0.1:{}", free_port());
    let mut argv = vec![
        "it".to_owned(),
        "--backup-registry".into(),
        format!("{}/mirror", backup.host()),
        "--namespace".into(),
        controller_ns.clone(),
        "--rollout".into(),
        "--metrics-addr".into(),
        format!("127.0.0.1:{}", free_port()),
        "--grpc-addr".into(),
        grpc.clone(),
        "--identity".into(),
        "it-controller".into(),
    ];
    // Only the test's workloads: `--rollout` must never switch the cluster's own.
    let others = namespace::all_but(&client, &[apps_ns.as_str()])
        .await
        .unwrap();
    argv.extend(["--exclude-namespaces".into(), others.join(",")]);
    if let Ok(runner) = &runner {
        // The cluster registry may be plain HTTP on a non-loopback address.
        argv.extend([
            "--insecure-registries".into(),
            runner.registry.host().to_owned(),
        ]);
    }
    let config = ControllerConfig::from_argv(argv).unwrap();
    let copier = RegistryCopier::new(CopyOptions {
        client: test_client_options(&[]),
        ..CopyOptions::default()
    })
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(run_with(client.clone(), config, Arc::new(copier), async {
        let _ = stopped.await;
    }));
    let backups: Api<ImageBackup> = Api::namespaced(client.clone(), &controller_ns);

    cluster.say("back up an image on request (gRPC BackupNow): same digest");
    backup_now(&grpc, &source_ref.to_string()).await;
    let done = wait_done(&backups, &source_ref.to_string()).await;
    assert_eq!(
        done.status.as_ref().and_then(|s| s.backup_digest.clone()),
        Some(image.manifest.digest.to_string())
    );

    match &workload {
        Ok((app, init)) => {
            cluster.say("a Deployment that really runs: discovered, backed up, rolled out");
            ready_deployment_is_backed_up_and_rolled_out(
                &client,
                &backups,
                &apps_ns,
                &backup.host(),
                app,
                init,
            )
            .await;
        }
        Err(why) => cluster.skipped(
            "a really ready Deployment discovered, backed up and rolled out",
            why,
        ),
    }

    stop.send(()).ok();
    let _ = tokio::time::timeout(Duration::from_secs(15), controller).await;
    namespace::delete_all_and_wait(&client, &[&*controller_ns, &*apps_ns], DELETION_LIMIT)
        .await
        .unwrap();
    crd.delete(LIMIT).await.unwrap();
}

/// The workload's images, pushed to the cluster registry: the main container's and the init
/// container's, each with its own digest.
async fn push_workload_images(runner: &PodRunner) -> (Pushed, Pushed) {
    let push = async |name: &str| {
        runner
            .registry
            .push_pause(name)
            .await
            .unwrap_or_else(|e| panic!("pushing test image {name}: {e}"))
    };
    (
        push("ib-controller-web").await,
        push("ib-controller-init").await,
    )
}

/// A Deployment that really runs (its pod pulls from the cluster registry) is backed up image
/// by image with the same digests, then switched to the backups.
async fn ready_deployment_is_backed_up_and_rolled_out(
    client: &Client,
    backups: &Api<ImageBackup>,
    apps_ns: &str,
    backup_host: &str,
    app: &Pushed,
    init: &Pushed,
) {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), apps_ns);
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "labels": labels::labels(TEST)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "initContainers": [{"name": "init", "image": init.reference, "args": [EXIT_ARG]}],
                    "containers": [{"name": "main", "image": app.reference}],
                }
            }
        }
    }))
    .unwrap();
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    pods::wait_rolled_out(client, apps_ns, "web", LIMIT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    for pushed in [app, init] {
        let done = wait_done(backups, &pushed.reference).await;
        let status = done.status.unwrap_or_default();
        assert_eq!(
            status.source_digest.as_deref(),
            Some(pushed.digest.as_str())
        );
        assert_eq!(
            status.backup_digest.as_deref(),
            Some(pushed.digest.as_str())
        );
    }

    let what = "the rollout to the backup images";
    let web = wait::until(what, LIMIT, Duration::from_millis(500), || {
        let deployments = deployments.clone();
        async move {
            let web = deployments.get("web").await.map_err(|e| e.to_string())?;
            let spec = web
                .spec
                .clone()
                .and_then(|s| s.template.spec)
                .unwrap_or_default();
            let images: Vec<String> = spec
                .init_containers
                .iter()
                .flatten()
                .chain(&spec.containers)
                .filter_map(|c| c.image.clone())
                .collect();
            if images.iter().all(|i| i.starts_with(backup_host)) {
                Ok(web)
            } else {
                Err(format!("images {images:?}"))
            }
        }
    })
    .await
    .unwrap();
    let annotations = web.metadata.annotations.unwrap_or_default();
    let originals = &annotations["k8slab.io/original-images"];
    for pushed in [app, init] {
        assert!(originals.contains(&pushed.reference), "{originals}");
    }
}

async fn backup_now(grpc: &str, source: &str) {
    let address = format!("http://{grpc}");
    wait::until(
        "the gRPC API to accept BackupNow",
        LIMIT,
        Duration::from_millis(500),
        || {
            let address = address.clone();
            async move {
                let mut api = ImageBackupServiceClient::connect(address)
                    .await
                    .map_err(|e| format!("connecting: {e}"))?;
                api.backup_now(BackupNowRequest {
                    source: source.to_owned(),
                    force: false,
                })
                .await
                .map(|_| ())
                .map_err(|status| format!("BackupNow: {status}"))
            }
        },
    )
    .await
    .unwrap();
}

/// The Done backup of `image`; the timeout names the phases seen.
async fn wait_done(backups: &Api<ImageBackup>, image: &str) -> ImageBackup {
    let what = format!("the backup of {image} to be Done");
    wait::until(&what, LIMIT, Duration::from_millis(500), || {
        let backups = backups.clone();
        async move {
            let list = backups
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?;
            let mine = list.items.into_iter().find(|b| b.spec.image == image);
            match mine {
                Some(b) if b.phase() == Phase::Done => Ok(b),
                Some(b) => Err(format!("phase {:?}, status {:?}", b.phase(), b.status)),
                None => Err("no ImageBackup for it".into()),
            }
        }
    })
    .await
    .unwrap()
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
