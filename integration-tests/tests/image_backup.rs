//! image-backup end to end: the packed charm as a Kubernetes unit under the simulator, a fake
//! Pebble serving its `controller` container, and a fake controller
//! (`image_backup_charm::testing::FakeController`, the real gRPC service over in-memory
//! backups) that the hooks reach at the address the test passes (see
//! `integration_tests::image_backup`: the one difference from the production binary).
//!
//! Related: a script-charm requirer asking for an image, and cloudcasa over its optional
//! `image-backup` endpoint, whose status then says how its agent image's backup stands.
//!
//! Every scenario runs under each [`Schedule`] (queue order, every hook twice, shuffled orders
//! Juju allows) and must end the same: statuses, the Pebble plan, the credentials file, the
//! relation bags.
//!
//! Without `KUBECONFIG` the leader cannot apply the controller's CRD and RBAC, and says so in
//! its status (Blocked "cannot reach Kubernetes", tried again every hook, as `status.rs` decides)
//! while every hook succeeds.
//! With `KUBECONFIG` (passed to the charm's hooks) one more test applies them to that cluster
//! and removes the bindings with the application, under the `image-backup` cluster lock
//! (`kube-testing`), deleting what it made when done:
//!
//! ```sh
//! KUBECONFIG=~/.kube/config cargo test -p integration-tests --test image_backup -- --nocapture
//! ```

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use base64::Engine;
use charm_core::contract::BagCodec;
use charm_core::pebble::Service;
use charm_core::pebble::fake::FakePebble;
use image_backup_charm::config::{RecheckInterval, Settings};
use image_backup_charm::testing::{ControllerServer, DIGEST, FakeController, backup};
use image_backup_charm::workload::{self, CONTAINER, CREDENTIALS_PATH, SERVICE, WorkloadSpec};
use integration_tests::fixture::ScriptCharm;
use integration_tests::image_backup::CONTROLLER_API_ENV;
use integration_tests::model::ActionStatus;
use integration_tests::{Deploy, Model, Schedule, same_end_state};
use proto::image_backup::v1::{BackupPhase, ImageBackupProviderData};
use serde_json::json;

mod common;
use common::cloudcasa;

const APP: &str = "image-backup";
const UNIT: &str = "image-backup/0";
const REGISTRY: &str = "registry.example.com:5000/backups";
const IMAGE: &str = "docker.io/library/nginx:1.27";
const USERNAME: &str = "robot";
const PASSWORD: &str = "first-Pa55word";

/// In order, every hook twice, and two shuffled orders: each test takes other seeds.
fn schedules(seed: u64) -> Vec<Schedule> {
    Schedule::all([seed, seed + 1])
}

fn charm() -> PathBuf {
    common::pack(
        "../image-backup/charm",
        env!("CARGO_BIN_EXE_charm-image-backup"),
    )
}

fn say(line: &str) {
    common::say("image-backup", line);
}

/// A model with image-backup deployed (not configured) and a fake controller its hooks reach.
struct Bench {
    model: Model,
    controller: FakeController,
    _server: ControllerServer,
}

impl Bench {
    fn new(schedule: Schedule) -> Bench {
        Bench::with_env(schedule, &[])
    }

    fn with_env(schedule: Schedule, env: &[(&str, &str)]) -> Bench {
        let mut model = Model::new(env!("CARGO_BIN_EXE_juju-sim")).unwrap();
        model.set_schedule(schedule);
        let controller = FakeController::default();
        let server = controller.serve();
        let resource = integration_tests::resource::oci_image(
            model.dir(),
            "controller-image",
            "ghcr.io/example/image-backup:1.0",
        )
        .unwrap();
        let mut spec = Deploy::new(charm())
            .resource("controller-image", resource)
            .env(CONTROLLER_API_ENV, &server.address);
        for (k, v) in env {
            spec = spec.env(k, v);
        }
        model.deploy(APP, spec).unwrap();
        Bench {
            model,
            controller,
            _server: server,
        }
    }

    /// A registry-credentials secret granted to the application; returns its URI.
    fn add_credentials(&mut self) -> String {
        let uri = self
            .model
            .add_secret(&[("username", USERNAME), ("password", PASSWORD)])
            .unwrap();
        self.model.grant_secret(&uri, APP).unwrap();
        uri
    }

    /// `juju config image-backup backup-registry=... registry-credentials=<new secret>`.
    fn configure(&mut self) -> String {
        let uri = self.add_credentials();
        self.model
            .config_set(
                APP,
                &[
                    ("backup-registry", REGISTRY),
                    ("registry-credentials", &uri),
                ],
            )
            .unwrap();
        uri
    }

    /// The unit's status, the model's temporary directory written `$MODEL`.
    fn status(&self, unit: &str) -> (String, String) {
        let s = self.model.unit_status(unit).unwrap();
        let dir = self.model.dir().to_str().unwrap();
        (s.status, s.message.replace(dir, "$MODEL"))
    }

    fn pebble(&self, unit: &str) -> &FakePebble {
        self.model
            .pebble(unit, CONTAINER)
            .expect("a Pebble for the controller container")
    }

    /// The controller service in the unit's plan.
    fn service(&self, unit: &str) -> Option<Service> {
        self.pebble(unit).plan().services.get(SERVICE).cloned()
    }

    /// The credentials file in the container: its mode and the `user:password` it holds.
    fn credentials(&self, unit: &str) -> Option<(u32, String)> {
        let path = self.pebble(unit).host_path(CREDENTIALS_PATH);
        let bytes = std::fs::read(&path).ok()?;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let config: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let host = REGISTRY.split_once('/').unwrap().0;
        let auth = config["auths"][host]["auth"].as_str().unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .unwrap();
        Some((mode, String::from_utf8(decoded).unwrap()))
    }

    /// Neither the plan, nor any layer added, nor the logs hold the password.
    fn assert_password_hidden(&self, unit: &str, password: &str) {
        let pebble = self.pebble(unit);
        let plan = serde_json::to_string(&pebble.plan()).unwrap();
        let layers = format!("{:?}", pebble.layers());
        let logs = format!("{:?}", self.model.logs(unit).unwrap());
        for (what, text) in [("plan", plan), ("layers", layers), ("logs", logs)] {
            assert!(!text.contains(password), "the {what} hold the password");
        }
    }
}

/// The controller service `workload::layer` builds for the test's settings.
fn expected_service(with_credentials: bool) -> Service {
    let settings = Settings {
        backup_registry: REGISTRY.into(),
        credentials_secret: None,
        exclude_namespaces: vec!["kube-system".into()],
        rollout: false,
        concurrency: 4,
        recheck_interval: RecheckInterval::parse("1h").unwrap(),
    };
    let layer = workload::layer(&WorkloadSpec {
        settings: &settings,
        namespace: "sim",
        with_credentials,
    });
    layer.services[SERVICE].clone()
}

/// What the leader says when it could not apply the CRD and RBAC for want of a cluster.
fn no_cluster(status: &(String, String)) -> bool {
    status.0 == "blocked"
        && status
            .1
            .starts_with("cannot reach Kubernetes: no Kubernetes client")
}

/// Deploy: Blocked naming `backup-registry`, no layer. Configure: the controller's layer as
/// `workload::layer` builds it, the credentials from the secret in a 0600 file and nowhere
/// else, and without a cluster the leader says so instead of failing hooks.
#[test]
fn deploy_then_configure_runs_the_controller() {
    same_end_state(&schedules(31), |schedule| {
        let mut b = Bench::new(schedule);
        let (kind, message) = b.status(UNIT);
        assert_eq!(kind, "blocked");
        assert!(
            message.starts_with("invalid config: backup-registry: not set"),
            "{message}"
        );
        assert_eq!(b.service(UNIT), None);

        b.configure();
        let service = b.service(UNIT).expect("the controller service");
        assert_eq!(service, expected_service(true));
        assert_eq!(
            service.command.as_deref(),
            Some("/usr/bin/image-backup controller run")
        );
        assert_eq!(
            service.environment["IMAGE_BACKUP_BACKUP_REGISTRY"],
            REGISTRY
        );
        assert_eq!(
            b.credentials(UNIT),
            Some((0o600, format!("{USERNAME}:{PASSWORD}")))
        );
        b.assert_password_hidden(UNIT, PASSWORD);
        let status = b.status(UNIT);
        assert!(no_cluster(&status), "{status:?}");

        b.model.update_status().unwrap();
        (b.status(UNIT), b.service(UNIT), b.credentials(UNIT))
    });
}

/// A bad value: Blocked saying which option and why, the running controller's layer and
/// credentials untouched; fixing it brings back the status it had.
#[test]
fn bad_config_leaves_the_controller_alone() {
    same_end_state(&schedules(33), |schedule| {
        let mut b = Bench::new(schedule);
        b.configure();
        let good = b.status(UNIT);
        let plan = b.pebble(UNIT).plan();
        let layers = b.pebble(UNIT).layers().len();

        for (option, value, why) in [
            (
                "concurrency",
                "0",
                "invalid config: concurrency: 0 is not between 1 and 64",
            ),
            (
                "backup-registry",
                "bad host!/x",
                "invalid config: backup-registry: \"bad host!/x\"",
            ),
        ] {
            b.model.config_set(APP, &[(option, value)]).unwrap();
            let (kind, message) = b.status(UNIT);
            assert_eq!(kind, "blocked");
            assert!(message.starts_with(why), "{message}");
            assert_eq!(b.pebble(UNIT).plan(), plan);
            assert_eq!(b.pebble(UNIT).layers().len(), layers);
            assert_eq!(
                b.credentials(UNIT),
                Some((0o600, format!("{USERNAME}:{PASSWORD}")))
            );
        }
        b.model
            .config_set(APP, &[("concurrency", "4"), ("backup-registry", REGISTRY)])
            .unwrap();
        assert_eq!(b.status(UNIT), good);
        assert_eq!(b.pebble(UNIT).plan(), plan);
        b.status(UNIT)
    });
}

/// `juju update-secret`: `secret-changed` brings the new revision into the file and restarts
/// the controller to read it; the layer does not change.
#[test]
fn secret_changed_reaches_the_controller() {
    same_end_state(&schedules(35), |schedule| {
        let mut b = Bench::new(schedule);
        let uri = b.configure();
        let plan = b.pebble(UNIT).plan();
        let seen = b.pebble(UNIT).requests().len();
        let hooks = b.model.hook_names(UNIT).len();

        let new_password = "second-Pa55word";
        b.model
            .update_secret(&uri, &[("username", USERNAME), ("password", new_password)])
            .unwrap();
        let names = b.model.hook_names(UNIT);
        assert!(
            names[hooks..].iter().any(|n| n == "secret-changed"),
            "{names:?}"
        );
        assert_eq!(
            b.credentials(UNIT),
            Some((0o600, format!("{USERNAME}:{new_password}")))
        );
        let restarts = b.pebble(UNIT).requests()[seen..]
            .iter()
            .filter(|r| r.starts_with("POST /v1/services"))
            .count();
        assert!(restarts > 0, "{:?}", b.pebble(UNIT).requests());
        assert_eq!(b.pebble(UNIT).plan(), plan);
        b.assert_password_hidden(UNIT, new_password);
        (b.status(UNIT), b.credentials(UNIT))
    });
}

/// Scale to two units, move leadership, refresh (new pods, fresh Pebbles), remove: every hook
/// succeeds; only the leader tries the cluster, so only it says it cannot reach one.
#[test]
fn scale_leader_change_upgrade_and_remove() {
    same_end_state(&schedules(37), |schedule| {
        let mut b = Bench::new(schedule);
        b.configure();
        let second = b.model.add_unit(APP).unwrap();
        assert_eq!(b.service(&second), Some(expected_service(true)));
        assert_eq!(
            b.credentials(&second),
            Some((0o600, format!("{USERNAME}:{PASSWORD}")))
        );
        assert!(no_cluster(&b.status(UNIT)), "{:?}", b.status(UNIT));
        assert_eq!(
            b.status(&second),
            ("active".to_owned(), format!("backing up to {REGISTRY}"))
        );

        b.model.set_leader(&second).unwrap();
        assert!(no_cluster(&b.status(&second)), "{:?}", b.status(&second));
        assert_eq!(
            b.status(UNIT),
            ("active".to_owned(), format!("backing up to {REGISTRY}"))
        );

        b.model.upgrade(APP, charm()).unwrap();
        for unit in [UNIT, second.as_str()] {
            assert_eq!(b.service(unit), Some(expected_service(true)), "{unit}");
            assert!(b.credentials(unit).is_some(), "{unit}");
        }

        b.model.remove_unit(UNIT).unwrap();
        assert_eq!(b.model.units(APP).unwrap(), [second.as_str()]);
        let after_scale_down = b.status(&second);
        // The last unit: `remove` cannot reach a cluster to delete the bindings; it says so
        // in the log and lets the application go.
        b.model.remove_unit(&second).unwrap();
        assert!(b.model.units(APP).unwrap().is_empty());
        let logs: Vec<String> = b
            .model
            .logs(&second)
            .unwrap()
            .into_iter()
            .map(|l| l.message)
            .collect();
        assert!(
            logs.iter()
                .any(|l| l.contains("cannot remove the controller's RBAC")),
            "{logs:?}"
        );
        after_scale_down
    });
}

/// `list-backups` and `backup-now` against the fake controller; a bad image fails the action
/// without calling it.
#[test]
fn actions_call_the_controller() {
    same_end_state(&schedules(39), |schedule| {
        let mut b = Bench::new(schedule);
        b.configure();
        b.controller.put(backup(IMAGE, BackupPhase::Done));

        let listed = b.model.run_action(UNIT, "list-backups", json!({})).unwrap();
        assert_eq!(listed.status, ActionStatus::Completed, "{listed:?}");
        assert_eq!(listed.results["count"], "1");
        let table = listed.results["backups"].as_str().unwrap().to_owned();
        assert!(table.starts_with("SOURCE"), "{table}");
        assert!(
            table.contains(IMAGE) && table.contains(DIGEST) && table.contains("Done"),
            "{table}"
        );

        let image = "ghcr.io/acme/app:2";
        let now = b
            .model
            .run_action(UNIT, "backup-now", json!({ "image": image }))
            .unwrap();
        assert_eq!(now.status, ActionStatus::Completed, "{now:?}");
        assert_eq!(now.results["source"], image);
        assert_eq!(now.results["phase"], "Pending");
        assert_eq!(now.results["created"], "true");
        assert!(
            b.controller
                .calls()
                .contains(&format!("BackupNow {image} force=false")),
            "{:?}",
            b.controller.calls()
        );

        let calls = b.controller.calls().len();
        let bad = b
            .model
            .run_action(UNIT, "backup-now", json!({ "image": "Not An Image" }))
            .unwrap();
        assert_eq!(bad.status, ActionStatus::Failed);
        assert_eq!(b.controller.calls().len(), calls);
        (listed.results, now.results, bad.message, b.status(UNIT).0)
    });
}

/// A requirer (a script charm) asks for an image: the provider answers with the registry and
/// its API address and no backup while the controller works on it, then the backup's
/// reference and digest once the controller reports it Done (the next hook, here
/// `update-status`, publishes it).
#[test]
fn requirer_gets_the_backup_once_done() {
    same_end_state(&schedules(41), |schedule| {
        let mut b = Bench::new(schedule);
        b.configure();
        let requirer = requirer_charm(&[IMAGE]);
        b.model
            .deploy("protected", Deploy::new(requirer.path()))
            .unwrap();
        let rel = b.model.relate(APP, "protected").unwrap();

        let pending = provider_bag(&b, rel);
        assert_eq!(pending.registry, REGISTRY);
        assert_eq!(
            pending.api_address,
            "http://image-backup.sim.svc.cluster.local:50051"
        );
        assert!(pending.backups.is_empty(), "{pending:?}");
        assert!(
            b.controller
                .calls()
                .contains(&format!("BackupNow {IMAGE} force=false")),
            "{:?}",
            b.controller.calls()
        );

        b.controller.put(backup(IMAGE, BackupPhase::Done));
        b.model.update_status().unwrap();
        let done = provider_bag(&b, rel);
        assert_eq!(done.backups.len(), 1, "{done:?}");
        assert_eq!(done.backups[0].source, IMAGE);
        assert_eq!(
            done.backups[0].reference,
            format!("{}/{IMAGE}", image_backup_charm::testing::BACKUP_REGISTRY)
        );
        assert_eq!(done.backups[0].digest, DIGEST);
        (b.model.app_bag(rel, APP).unwrap(), b.status(UNIT))
    });
}

/// A requirer that asks, from its leader, for `images` on every hook of the relation.
fn requirer_charm(images: &[&str]) -> ScriptCharm {
    let images = serde_json::to_string(images).unwrap();
    let script = format!(
        "if [ -n \"$JUJU_RELATION_ID\" ] && [ \"$(is-leader)\" = True ]; then\n  \
         relation-set --app images='{images}'\nfi\n"
    );
    ScriptCharm::new("name: protected\nrequires:\n  image-backup:\n    interface: image-backup\n")
        .unwrap()
        .on("any", &script)
        .unwrap()
}

/// image-backup's bag in `rel`, decoded with the interface's own codec.
fn provider_bag(b: &Bench, rel: u32) -> ImageBackupProviderData {
    let bag: BTreeMap<String, String> = b.model.app_bag(rel, APP).unwrap();
    ImageBackupProviderData::from_bag(&bag.into_iter().collect()).unwrap()
}

/// cloudcasa (without a cluster, so Blocked saying it cannot reach Kubernetes) related to
/// image-backup over its optional `image-backup` endpoint: its status adds that the agent
/// image's backup is pending, then where the backup is once the controller reports it Done.
/// Without the relation, before or after, its status is exactly what it is on its own.
#[test]
fn cloudcasa_shows_its_agent_image_backup() {
    same_end_state(&schedules(43), |schedule| {
        let mut b = Bench::new(schedule);
        b.configure();
        cloudcasa::deploy(&mut b.model, &[]).unwrap();
        let alone = b.status(cloudcasa::UNIT);
        assert_eq!(alone.0, "blocked");
        assert!(
            alone.1.starts_with("cannot reach Kubernetes") && !alone.1.contains("image"),
            "{alone:?}"
        );

        let rel = b
            .model
            .relate(
                &format!("{}:image-backup", cloudcasa::APP),
                &format!("{APP}:image-backup"),
            )
            .unwrap();
        let pending = b.status(cloudcasa::UNIT);
        assert_eq!(
            pending,
            (
                alone.0.clone(),
                format!("{}; image backup to {REGISTRY} pending", alone.1)
            )
        );
        assert!(
            b.controller
                .calls()
                .contains(&format!("BackupNow {} force=false", cloudcasa::IMAGE)),
            "{:?}",
            b.controller.calls()
        );

        b.controller
            .put(backup(cloudcasa::IMAGE, BackupPhase::Done));
        b.model.update_status().unwrap();
        let reference = format!(
            "{}/{}",
            image_backup_charm::testing::BACKUP_REGISTRY,
            cloudcasa::IMAGE
        );
        let protected = b.status(cloudcasa::UNIT);
        assert_eq!(
            protected,
            (
                alone.0.clone(),
                format!("{}; image backed up as {reference}", alone.1)
            )
        );

        b.model.unrelate(rel).unwrap();
        assert_eq!(b.status(cloudcasa::UNIT), alone);
        (alone, pending, protected)
    });
}

/// The CRD and RBAC applied to the cluster in `KUBECONFIG`, the bindings removed with the
/// application and the CRD kept. Under the `image-backup` cluster lock; the CRD (unless a
/// test made it, it is a user's: then the test says it skipped) and the model's namespace are
/// made and labelled by the test, and deleted when it is done.
#[test]
fn crd_and_rbac_on_the_kubeconfig_cluster() {
    let Some(cluster) = live::Cluster::connect() else {
        return;
    };
    if let Some(refusal) = cluster.foreign_objects() {
        say(&format!("SKIPPED the CRD and RBAC apply: {refusal}"));
        return;
    }
    cluster.prepare();
    let kubeconfig = std::env::var("KUBECONFIG").expect("KUBECONFIG is set");

    let mut b = Bench::with_env(Schedule::InOrder, &[("KUBECONFIG", kubeconfig.as_str())]);
    b.configure();
    let status = b.status(UNIT);
    assert!(!no_cluster(&status), "{status:?}");
    assert!(
        cluster.crd_applied_by_the_charm(),
        "the charm did not apply the CRD"
    );
    let missing = cluster.missing_rbac();
    assert!(missing.is_empty(), "not applied: {missing:?}");

    b.model.remove_unit(UNIT).unwrap();
    assert!(
        cluster.crd_applied_by_the_charm(),
        "removing the application deleted the CRD"
    );
    let left = cluster.present_rbac();
    assert!(left.is_empty(), "left behind: {left:?}");
    cluster.clean_up();
}

/// The cluster as the test sees it, with its own client; the objects it expects are the ones
/// the charm's `cluster::Desired` computes for application `image-backup` in model `sim`.
mod live {
    use std::time::Duration;

    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::{Api, Resource, ResourceExt};
    use kube_testing::manifests::{self, Objects};
    use kube_testing::namespace::{self, DELETION_LIMIT};
    use kube_testing::{ClusterLock, TestCluster, labels};

    use image_backup_charm::cluster::{Desired, FIELD_MANAGER, Owner};

    const TEST: &str = "image-backup e2e";
    const CRD: &str = "imagebackups.k8slab.io";
    /// The simulator's model: also the namespace of the namespaced objects.
    const MODEL: &str = "sim";
    const LABEL_APP: &str = "app.juju.is/created-by";
    const LABEL_MODEL: &str = "model.juju.is/name";

    type Labels = std::collections::BTreeMap<String, String>;

    pub struct Cluster {
        runtime: tokio::runtime::Runtime,
        cluster: TestCluster,
        desired: Desired,
        crd: Objects,
        _lock: ClusterLock,
    }

    impl Cluster {
        /// Connected and holding the `image-backup` lock; `None` (after a `SKIPPED` line)
        /// without `KUBECONFIG`.
        pub fn connect() -> Option<Cluster> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let cluster = runtime.block_on(TestCluster::connect(TEST, "the CRD and RBAC apply"))?;
            let lock = runtime.block_on(cluster.lock("image-backup"));
            // Earlier versions of the cluster tests left these unlabelled.
            let crds: Api<CustomResourceDefinition> = Api::all(cluster.client.clone());
            let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
            runtime
                .block_on(labels::adopt(&crds, CRD, &["image-backup-it"], TEST))
                .unwrap();
            runtime
                .block_on(labels::adopt(
                    &namespaces,
                    MODEL,
                    &["image-backup-e2e"],
                    TEST,
                ))
                .unwrap();
            let owner = Owner {
                model: MODEL.into(),
                app: super::APP.into(),
            };
            let desired = Desired::new(&owner, false).expect("the controller's manifests");
            let crd = runtime
                .block_on(Objects::resolve(
                    &cluster.client,
                    vec![manifests::dynamic(&desired.crd).unwrap()],
                ))
                .unwrap();
            Some(Cluster {
                runtime,
                cluster,
                desired,
                crd,
                _lock: lock,
            })
        }

        fn get<K>(&self, api: Api<K>, name: &str) -> Option<K>
        where
            K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
        {
            self.runtime.block_on(api.get_opt(name)).unwrap()
        }

        /// Why the test must not touch the cluster, if it must not. The CRD is cluster-wide: one
        /// no test made (no `kube-testing` label) belongs to a real installation. Roles and
        /// bindings carry the model and application in their names and labels.
        pub fn foreign_objects(&self) -> Option<String> {
            let foreign = self.runtime.block_on(self.crd.foreign()).unwrap();
            if !foreign.is_empty() {
                return Some(format!("{} exists and no test made it", foreign.join(", ")));
            }
            let ours = |labels: &Labels| {
                let label = |key: &str| labels.get(key).map(String::as_str);
                label(LABEL_MODEL) == Some(MODEL) && label(LABEL_APP) == Some(super::APP)
            };
            let foreign: Vec<String> = self
                .rbac()
                .into_iter()
                .filter(|(_, labels)| labels.as_ref().is_some_and(|l| !ours(l)))
                .map(|(object, _)| object)
                .collect();
            (!foreign.is_empty()).then(|| {
                format!(
                    "{} exist and were not made by this test",
                    foreign.join(", ")
                )
            })
        }

        /// The model's namespace, as Juju would have made it, and the CRD, both labelled as
        /// the test's (so that the charm's apply of the CRD is an update a later run
        /// recognises, and the test may delete it).
        pub fn prepare(&self) {
            let client = &self.cluster.client;
            self.runtime
                .block_on(namespace::fresh(client, MODEL, TEST))
                .unwrap_or_else(|e| panic!("{e}"));
            self.runtime.block_on(self.crd.apply(TEST)).unwrap();
        }

        /// Deletes the CRD and the model's namespace, waiting until they are gone.
        pub fn clean_up(&self) {
            let client = &self.cluster.client;
            self.runtime
                .block_on(namespace::delete_and_wait(client, MODEL, DELETION_LIMIT))
                .unwrap_or_else(|e| panic!("{e}"));
            self.runtime
                .block_on(self.crd.delete(Duration::from_secs(120)))
                .unwrap();
        }

        /// Whether the CRD exists and the charm applied it (server-side, its field manager).
        pub fn crd_applied_by_the_charm(&self) -> bool {
            let name = self.desired.crd.name_any();
            self.get::<CustomResourceDefinition>(Api::all(self.cluster.client.clone()), &name)
                .is_some_and(|crd| {
                    crd.managed_fields().iter().any(|m| {
                        m.manager.as_deref() == Some(FIELD_MANAGER)
                            && m.operation.as_deref() == Some("Apply")
                    })
                })
        }

        /// `Kind name` of each of `objects`, with its labels if it exists in `api`.
        fn lookup<K>(&self, api: &Api<K>, objects: &[K]) -> Vec<(String, Option<Labels>)>
        where
            K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
        {
            objects
                .iter()
                .map(|o| {
                    let name = o.name_any();
                    let found = self.get(api.clone(), &name).map(|f| f.labels().clone());
                    (format!("{} {name}", K::kind(&())), found)
                })
                .collect()
        }

        /// The roles and bindings the charm applies, with their labels where they exist.
        fn rbac(&self) -> Vec<(String, Option<Labels>)> {
            let (c, d) = (&self.cluster.client, &self.desired);
            let mut out = self.lookup(&Api::all(c.clone()), &d.cluster_roles);
            out.extend(self.lookup(&Api::all(c.clone()), &d.cluster_role_bindings));
            out.extend(self.lookup(&Api::namespaced(c.clone(), MODEL), &d.roles));
            out.extend(self.lookup(&Api::namespaced(c.clone(), MODEL), &d.role_bindings));
            out
        }

        pub fn missing_rbac(&self) -> Vec<String> {
            self.rbac()
                .into_iter()
                .filter_map(|(name, found)| found.is_none().then_some(name))
                .collect()
        }

        pub fn present_rbac(&self) -> Vec<String> {
            self.rbac()
                .into_iter()
                .filter_map(|(name, found)| found.map(|_| name))
                .collect()
        }
    }
}
