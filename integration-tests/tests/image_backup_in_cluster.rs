//! image-backup as users live it: the controller running IN the cluster `KUBECONFIG` names,
//! from the image `cargo xtask image --debug --push` builds (the same builder, in a target
//! directory of its own), with no permission beyond the committed `deploy/crd.yaml` and
//! `deploy/rbac.yaml`.
//!
//! 1. A workload whose pods really run from a source registry (its init container too) gets
//!    every image backed up, with the same digest (the controller's status, checked against
//!    `skopeo inspect` of the copy).
//! 2. `--rollout` switches it to the backups, and its pods come back running them.
//! 3. The source registry stops; pods recreated with `imagePullPolicy: Always` still start,
//!    pulled from the backup registry.
//! 4. `--restore-originals` (the source back up) puts the original images back.
//! 5. Throughout, the controller's pod never restarts, and it serves `/metrics`.
//!
//! The cluster must run pods (a Ready node) and pull from `TEST_CLUSTER_REGISTRY` (the
//! controller's image goes there) and, for the workload, from the test's own registries on
//! `127.0.0.1:<port>`: a single-node cluster on this host, whose containerd pulls plain HTTP
//! from loopback registries (microk8s does). The controller pod uses `hostNetwork: true` to
//! reach those registries on the host's loopback, and its `/metrics` port is the host's.
//! It acts only on the test's namespace (every other one is excluded): with `--rollout` it
//! would otherwise switch the cluster's own workloads to the test's registry.
//!
//! Where pods cannot run (a bare API server, or no `TEST_CLUSTER_REGISTRY`) the committed
//! manifests are applied to the API server and removed again, and one `SKIPPED` line says
//! what was not checked. The namespace `image-backup`, the CRD and the RBAC are cluster-wide:
//! the test holds the `image-backup` cluster lock, refuses to touch them when no test made
//! them, and deletes them when done, waiting until they are gone.
//!
//! ```sh
//! KUBECONFIG=~/.kube/config TEST_CLUSTER_REGISTRY=localhost:32000 \
//!     cargo test -p integration-tests --test image_backup_in_cluster -- --nocapture
//! ```

use std::io::{Read, Write};
use std::time::Duration;

use image_backup_copier::testing::TestRegistry;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use kube_testing::images::{self, EXIT_ARG, Pushed, Registry};
use kube_testing::manifests::{self, Objects};
use kube_testing::namespace::{self, DELETION_LIMIT};
use kube_testing::{PodRunner, TestCluster, labels, pods, wait};
use serde_json::{Value, json};

const TEST: &str = "image-backup in-cluster";
/// The namespace `deploy/rbac.yaml` is written for.
const NS: &str = "image-backup";
const CONTROLLER: &str = "image-backup-controller";
const SELECTOR: &str = "app=image-backup-controller";
const APPS_PREFIX: &str = "ib-incluster-";
/// Pulls from a registry on this host, pods starting, the controller's first sync.
const LIMIT: Duration = Duration::from_secs(240);

const CRD_YAML: &str = include_str!("../../image-backup/controller/deploy/crd.yaml");
const RBAC_YAML: &str = include_str!("../../image-backup/controller/deploy/rbac.yaml");

#[test]
fn the_controller_in_the_cluster_keeps_workloads_running_from_backups() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(story());
}

async fn story() {
    let Some(cluster) = TestCluster::connect(TEST, "image-backup running in the cluster").await
    else {
        return;
    };
    let client = cluster.client.clone();
    let mut committed = manifests::parse(CRD_YAML).unwrap();
    committed.extend(manifests::parse(RBAC_YAML).unwrap());
    let committed = Objects::resolve(&client, committed).await.unwrap();
    let runner = cluster.pod_runner().await;

    // Everything slow happens before the lock: the musl builds and the pushes.
    let prepared = match &runner {
        Ok(runner) => Ok(Prepared::new(runner).await),
        Err(why) => Err(why.clone()),
    };
    let _lock = cluster.lock("image-backup").await;
    // Earlier versions of the controller's cluster test applied the CRD unlabelled.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    labels::adopt(&crds, "imagebackups.k8slab.io", &["image-backup-it"], TEST)
        .await
        .unwrap();
    if let Some(refusal) = foreign(&client, &committed).await {
        cluster.skipped("image-backup running in the cluster", &refusal);
        return;
    }
    namespace::delete_debris(&client, APPS_PREFIX)
        .await
        .unwrap();
    namespace::fresh(&client, NS, TEST).await.unwrap();
    committed.apply(TEST).await.unwrap();
    manifests::wait_established(&client, "imagebackups.k8slab.io", LIMIT)
        .await
        .unwrap();

    match prepared {
        Ok(prepared) => prepared.run(&cluster).await,
        Err(why) => cluster.skipped(
            "the controller running in the cluster (the committed CRD and RBAC were applied \
             and removed only)",
            &why,
        ),
    }

    namespace::delete_and_wait(&client, NS, DELETION_LIMIT)
        .await
        .unwrap();
    committed.delete(Duration::from_secs(120)).await.unwrap();
}

/// Why the test must not touch the cluster-wide objects, if it must not.
async fn foreign(client: &Client, committed: &Objects) -> Option<String> {
    let mut foreign = committed.foreign().await.unwrap();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    if let Some(ns) = namespaces.get_opt(NS).await.unwrap()
        && !labels::made_by_a_test(&ns)
    {
        foreign.push(format!("Namespace {NS}"));
    }
    (!foreign.is_empty()).then(|| {
        format!(
            "{} exist and no test made them (a real installation?); refusing to touch them",
            foreign.join(", ")
        )
    })
}

/// What the story needs, made before taking the lock.
struct Prepared {
    controller_image: Pushed,
    source: TestRegistry,
    backup: TestRegistry,
    app: Pushed,
    init: Pushed,
    metrics_port: u16,
}

impl Prepared {
    async fn new(runner: &PodRunner) -> Prepared {
        let image =
            tokio::task::spawn_blocking(|| images::static_image("image-backup", "image-backup"))
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("the controller's image: {e}"));
        let controller_image = runner
            .registry
            .push("image-backup-controller", &image)
            .await
            .unwrap_or_else(|e| panic!("pushing the controller's image: {e}"));
        let source = TestRegistry::start();
        let backup = TestRegistry::start();
        let to_source = Registry::new(&source.host()).unwrap();
        let app = to_source.push_pause("ib-web").await.unwrap();
        let init = to_source.push_pause("ib-init").await.unwrap();
        Prepared {
            controller_image,
            source,
            backup,
            app,
            init,
            metrics_port: free_port(),
        }
    }

    async fn run(mut self, cluster: &TestCluster) {
        let client = &cluster.client;
        let apps = format!("{APPS_PREFIX}{}", std::process::id());
        namespace::fresh(client, &apps, TEST).await.unwrap();
        let others = namespace::all_but(client, &[apps.as_str()]).await.unwrap();

        cluster.say("the controller runs in the cluster from its image");
        let controllers: Api<Deployment> = Api::namespaced(client.clone(), NS);
        let apply = PatchParams::apply(labels::FIELD_MANAGER).force();
        let rollout = self.controller(&others, Mode::Rollout);
        controllers
            .patch(CONTROLLER, &apply, &Patch::Apply(&rollout))
            .await
            .unwrap();
        pods::wait_rolled_out(client, NS, CONTROLLER, LIMIT)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        cluster.say("a workload running from the source registry, init container too");
        let workloads: Api<Deployment> = Api::namespaced(client.clone(), &apps);
        workloads
            .patch("web", &apply, &Patch::Apply(&self.workload()))
            .await
            .unwrap();
        pods::wait_rolled_out(client, &apps, "web", LIMIT)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        cluster.say("every image backed up with the same digest");
        let backups: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            NS,
            &kube::discovery::ApiResource {
                group: "k8slab.io".into(),
                version: "v1alpha1".into(),
                api_version: "k8slab.io/v1alpha1".into(),
                kind: "ImageBackup".into(),
                plural: "imagebackups".into(),
            },
        );
        for pushed in [&self.app, &self.init] {
            let status = wait_backup_done(&backups, &pushed.reference).await;
            assert_eq!(status["sourceDigest"], pushed.digest.as_str(), "{status}");
            assert_eq!(status["backupDigest"], pushed.digest.as_str(), "{status}");
            let copy = status["backupImage"].as_str().unwrap_or_default();
            assert_eq!(skopeo_digest(copy), pushed.digest, "skopeo inspect {copy}");
        }

        cluster.say("--rollout: the pods come back on the backup images");
        let backup_host = self.backup.host();
        wait_images(
            &workloads,
            "the workload switched to the backups",
            |image| image.starts_with(&backup_host),
        )
        .await;
        pods::wait_rolled_out(client, &apps, "web", LIMIT)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.assert_pods_run_the_digests(client, &apps).await;

        cluster.say("the source registry stops; recreated pods start from the backups");
        self.source.kill();
        let workload_pods: Api<Pod> = Api::namespaced(client.clone(), &apps);
        let before = pod_names(&workload_pods).await;
        workload_pods
            .delete_collection(
                &DeleteParams::default(),
                &ListParams::default().labels("app=web"),
            )
            .await
            .unwrap();
        wait::until(
            "new pods of the workload",
            LIMIT,
            Duration::from_secs(1),
            || {
                let workload_pods = workload_pods.clone();
                let before = before.clone();
                async move {
                    let now = pod_names(&workload_pods).await;
                    if !now.is_empty() && now.iter().all(|p| !before.contains(p)) {
                        Ok(())
                    } else {
                        Err(format!("pods {now:?}, before {before:?}"))
                    }
                }
            },
        )
        .await
        .unwrap();
        pods::wait_rolled_out(client, &apps, "web", LIMIT)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.assert_pods_run_the_digests(client, &apps).await;

        self.assert_controller_healthy(client).await;

        cluster.say("--restore-originals: the original images come back");
        self.source.restart();
        let restore = self.controller(&others, Mode::RestoreOriginals);
        controllers
            .patch(CONTROLLER, &apply, &Patch::Apply(&restore))
            .await
            .unwrap();
        pods::wait_rolled_out(client, NS, CONTROLLER, LIMIT)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let originals = [self.app.reference.clone(), self.init.reference.clone()];
        wait_images(&workloads, "the original images back", |image| {
            originals.iter().any(|o| o == image)
        })
        .await;
        pods::wait_rolled_out(client, &apps, "web", LIMIT)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.assert_controller_healthy(client).await;

        namespace::delete_and_wait(client, &apps, DELETION_LIMIT)
            .await
            .unwrap();
    }

    /// The controller's Deployment, built here (the committed manifests hold only the CRD and
    /// RBAC): the committed service account, the host's network to reach the test's loopback
    /// registries, everything but the test's namespace excluded.
    fn controller(&self, excluded: &[String], mode: Mode) -> Value {
        let mut env = vec![
            json!({"name": "IMAGE_BACKUP_BACKUP_REGISTRY", "value": format!("{}/mirror", self.backup.host())}),
            json!({"name": "IMAGE_BACKUP_NAMESPACE", "value": NS}),
            json!({"name": "IMAGE_BACKUP_EXCLUDE_NAMESPACES", "value": excluded.join(",")}),
            json!({"name": "IMAGE_BACKUP_METRICS_ADDR", "value": format!("0.0.0.0:{}", self.metrics_port)}),
            json!({"name": "IMAGE_BACKUP_GRPC_ADDR", "value": format!("127.0.0.1:{}", free_port())}),
            json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
        ];
        env.push(match mode {
            Mode::Rollout => json!({"name": "IMAGE_BACKUP_ROLLOUT", "value": "true"}),
            Mode::RestoreOriginals => {
                json!({"name": "IMAGE_BACKUP_RESTORE_ORIGINALS", "value": "true"})
            }
        });
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": CONTROLLER, "namespace": NS, "labels": labels::labels(TEST)},
            "spec": {
                "replicas": 1,
                // The pod binds ports of the host: the old one must be gone before the new
                // one starts.
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": {"app": CONTROLLER}},
                "template": {
                    "metadata": {"labels": {"app": CONTROLLER}},
                    "spec": {
                        "serviceAccountName": CONTROLLER,
                        "hostNetwork": true,
                        "dnsPolicy": "ClusterFirstWithHostNet",
                        "terminationGracePeriodSeconds": 10,
                        "containers": [{
                            "name": "controller",
                            "image": self.controller_image.reference,
                            "imagePullPolicy": "Always",
                            "args": ["controller", "run"],
                            "env": env,
                            "readinessProbe": {
                                "httpGet": {"path": "/readyz", "port": self.metrics_port},
                                "periodSeconds": 2,
                            },
                        }],
                    },
                },
            },
        })
    }

    /// The workload: an init container and a main container from the source registry,
    /// pulled every time a pod starts.
    fn workload(&self) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": labels::labels(TEST)},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "terminationGracePeriodSeconds": 5,
                        "initContainers": [{
                            "name": "init", "image": self.init.reference,
                            "imagePullPolicy": "Always", "args": [EXIT_ARG],
                        }],
                        "containers": [{
                            "name": "main", "image": self.app.reference,
                            "imagePullPolicy": "Always",
                        }],
                    },
                },
            },
        })
    }

    /// Every container of the workload's pods runs the image the source had: the same
    /// digest, wherever it was pulled from.
    async fn assert_pods_run_the_digests(&self, client: &Client, apps: &str) {
        let workload_pods: Api<Pod> = Api::namespaced(client.clone(), apps);
        let list = workload_pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .unwrap();
        for pod in &list.items {
            for c in pods::container_statuses(pod) {
                let want = if c.name == "init" {
                    &self.init
                } else {
                    &self.app
                };
                assert!(
                    c.image_id.ends_with(&want.digest),
                    "container {} of {:?} runs {} ({}), not digest {}",
                    c.name,
                    pod.metadata.name,
                    c.image,
                    c.image_id,
                    want.digest
                );
            }
        }
    }

    /// The controller's pod never restarted, and serves `/metrics` on the host.
    async fn assert_controller_healthy(&self, client: &Client) {
        let restarts = pods::restarts(client, NS, SELECTOR).await.unwrap();
        assert_eq!(
            restarts,
            0,
            "the controller restarted\n{}",
            pods::describe(client, NS, SELECTOR).await
        );
        let metrics = http_get(self.metrics_port, "/metrics");
        assert!(
            metrics.starts_with("HTTP/1.1 200") && metrics.contains("image_backup_backups"),
            "GET /metrics: {metrics}"
        );
    }
}

enum Mode {
    Rollout,
    RestoreOriginals,
}

/// The status of the Done backup of `image`; the timeout names what was seen.
async fn wait_backup_done(backups: &Api<DynamicObject>, image: &str) -> Value {
    let what = format!("the backup of {image} to be Done");
    wait::until(&what, LIMIT, Duration::from_secs(1), || {
        let backups = backups.clone();
        async move {
            let list = backups
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            let mine = list
                .items
                .into_iter()
                .find(|b| b.data["spec"]["image"] == image)
                .ok_or("no ImageBackup for it")?;
            let status = mine.data["status"].clone();
            if status["phase"] == "Done" {
                Ok(status)
            } else {
                Err(format!("status {status}"))
            }
        }
    })
    .await
    .unwrap()
}

/// Waits until every image of the workload's template passes `wanted`.
async fn wait_images(workloads: &Api<Deployment>, what: &str, wanted: impl Fn(&str) -> bool) {
    let wanted = &wanted;
    wait::until(what, LIMIT, Duration::from_secs(1), || async move {
        let web = workloads.get("web").await.map_err(|e| e.to_string())?;
        let spec = web.spec.and_then(|s| s.template.spec).unwrap_or_default();
        let images: Vec<String> = spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
            .filter_map(|c| c.image.clone())
            .collect();
        if images.iter().all(|i| wanted(i)) {
            Ok(())
        } else {
            Err(format!("images {images:?}"))
        }
    })
    .await
    .unwrap();
}

async fn pod_names(api: &Api<Pod>) -> Vec<String> {
    api.list(&ListParams::default().labels("app=web"))
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter_map(|p| p.metadata.name)
                .collect()
        })
        .unwrap_or_default()
}

/// The manifest digest of `reference` as skopeo (an independent client) reads it.
fn skopeo_digest(reference: &str) -> String {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo is needed for this test: apt-get install -y skopeo");
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A plain HTTP/1.1 GET on the host's loopback: status line, headers and body.
fn http_get(port: u16, path: &str) -> String {
    let attempt = || -> std::io::Result<String> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    };
    attempt().unwrap_or_else(|e| format!("no answer from 127.0.0.1:{port}: {e}"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
