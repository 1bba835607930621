//! image-backup's pod admission (the `admission` option) end to end: the packed charm under
//! the simulator, a fake Pebble for its `controller` container and a fake controller
//! (`image_backup_charm::testing::FakeController`) its hooks reach.
//!
//! Enable, switch modes, disable, a bad value, scale and remove: every unit's controller gets
//! (or loses) the webhook's flags, every hook succeeds, and the end state is the same under
//! every [`Schedule`]. `list-backups` shows what the controller's webhook did lately.
//!
//! Without `KUBECONFIG` the leader cannot apply anything and says so (Blocked "cannot reach
//! Kubernetes"). With `KUBECONFIG` (passed to the charm's hooks) one more test applies the
//! webhook's Service and MutatingWebhookConfiguration to that cluster, checks that a
//! `caBundle` written by the controller survives the charm's re-apply, and that disabling and
//! removing the application delete them; on a bare API server as on a real cluster. It holds
//! the `image-backup` cluster lock (`kube-testing`: the CRD and the charm's cluster-wide RBAC
//! and webhook configuration are shared with the other image-backup cluster tests), labels what
//! it and the charm create as test-made, deletes an earlier run's debris first and its own
//! objects (the model's namespace too, waited for) when done:
//!
//! ```sh
//! KUBECONFIG=~/.kube/config cargo test -p integration-tests --test image_backup_admission -- --nocapture
//! ```

use charm_core::pebble::Service;
use image_backup_charm::testing::{ControllerServer, DIGEST, FakeController, decision};
use image_backup_charm::workload::{self, CONTAINER, SERVICE};
use integration_tests::model::ActionStatus;
use integration_tests::{Model, Schedule, same_end_state};
use serde_json::json;

mod common;
use common::image_backup::{self as ib, APP, UNIT};

const REGISTRY: &str = "registry.example.com:5000/backups";
/// The webhook configuration's name for application `image-backup` in the simulator's model.
const CONFIGURATION: &str = "image-backup-sim-image-backup";

/// A self-signed CA certificate (EC P-256, valid until 2126) standing for the one the
/// controller makes: an API server may check that a caBundle parses.
const TEST_CA: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBnjCCAUOgAwIBAgIUPBgDnjlqyBLbgUqIBi1KlA3GbwIwCgYIKoZIzj0EAwIw\n\
IzEhMB8GA1UEAwwYaW1hZ2UtYmFja3VwLWUyZSB0ZXN0IENBMCAXDTI2MTIwNjEx\n\
NDk1MloYDzIxMjYxMTEyMTE0OTUyWjAjMSEwHwYDVQQDDBhpbWFnZS1iYWNrdXAt\n\
ZTJlIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATKpjB8+JxBKOyS\n\
aRXgJHxHIVjUtSKJBNv8oGZEkaQxEtLr4Hi04sPnDxRAxKKfyDVbuhuO5xXkR9jn\n\
LhS6Np9yo1MwUTAdBgNVHQ4EFgQUo24M1WbhHGJ0N21ruuxtlrPvrcIwHwYDVR0j\n\
BBgwFoAUo24M1WbhHGJ0N21ruuxtlrPvrcIwDwYDVR0TAQH/BAUwAwEB/zAKBggq\n\
hkjOPQQDAgNJADBGAiEA1Xa5ncbAYmBqBKuDUnS4G3sr74LX5yw0LYnc6MM8fRkC\n\
IQCBx+Pxji1e0i0PMMpD/cBvLpUpO8Qpf6FoQrc1Zf9T2Q==\n\
-----END CERTIFICATE-----\n\
";

fn schedules(seed: u64) -> Vec<Schedule> {
    Schedule::all([seed, seed + 1])
}

/// A model with image-backup deployed and configured (no credentials: admission does not
/// need them) and the fake controller its hooks reach.
struct Bench {
    model: Model,
    controller: FakeController,
    _server: ControllerServer,
}

impl Bench {
    fn new(schedule: Schedule, env: &[(&str, &str)]) -> Bench {
        let mut model = Model::new(env!("CARGO_BIN_EXE_juju-sim")).unwrap();
        model.set_schedule(schedule);
        let controller = FakeController::default();
        let server = ib::deploy(&mut model, &controller, env).unwrap();
        model
            .config_set(APP, &[("backup-registry", REGISTRY)])
            .unwrap();
        Bench {
            model,
            controller,
            _server: server,
        }
    }

    fn admission(&mut self, mode: &str) {
        self.model.config_set(APP, &[("admission", mode)]).unwrap();
    }

    /// The unit's status, the model's temporary directory written `$MODEL`.
    fn status(&self, unit: &str) -> (String, String) {
        let s = self.model.unit_status(unit).unwrap();
        let dir = self.model.dir().to_str().unwrap();
        (s.status, s.message.replace(dir, "$MODEL"))
    }

    fn service(&self, unit: &str) -> Service {
        let pebble = self.model.pebble(unit, CONTAINER).expect("a Pebble");
        pebble.plan().services[SERVICE].clone()
    }

    /// The controller's admission flags in `unit`'s plan, sorted.
    fn admission_env(&self, unit: &str) -> Vec<(String, String)> {
        self.service(unit)
            .environment
            .into_iter()
            .filter(|(k, _)| k == workload::ADMISSION_ENV || k.starts_with("IMAGE_BACKUP_WEBHOOK_"))
            .collect()
    }
}

fn webhook_env(mode: &str) -> Vec<(String, String)> {
    [
        ("IMAGE_BACKUP_ADMISSION", mode),
        ("IMAGE_BACKUP_WEBHOOK_ADDR", "0.0.0.0:9443"),
        ("IMAGE_BACKUP_WEBHOOK_CONFIGURATION", CONFIGURATION),
        ("IMAGE_BACKUP_WEBHOOK_SECRET", "image-backup-webhook-tls"),
        ("IMAGE_BACKUP_WEBHOOK_SERVICE", "image-backup-webhook"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .to_vec()
}

/// What the leader says when it has no cluster to apply to.
fn no_cluster(status: &(String, String)) -> bool {
    status.0 == "blocked" && status.1.starts_with("cannot reach Kubernetes")
}

/// Enable on two units, switch mode, a bad value (left alone), disable: every unit's controller
/// follows; only the leader tries the cluster.
#[test]
fn enable_switch_and_disable_reach_every_unit() {
    same_end_state(&schedules(51), |schedule| {
        let mut b = Bench::new(schedule, &[]);
        let second = b.model.add_unit(APP).unwrap();
        let units = [UNIT, second.as_str()];
        for unit in units {
            assert!(b.admission_env(unit).is_empty(), "{unit}: off by default");
        }
        let before = b.service(UNIT);

        b.admission("failover");
        for unit in units {
            assert_eq!(b.admission_env(unit), webhook_env("failover"), "{unit}");
        }
        let leader = b.model.leader(APP).unwrap().unwrap();
        let follower = units.into_iter().find(|u| *u != leader).unwrap();
        assert!(no_cluster(&b.status(&leader)), "{:?}", b.status(&leader));
        assert_eq!(
            b.status(follower),
            ("active".to_string(), format!("backing up to {REGISTRY}"))
        );

        b.admission("always");
        for unit in units {
            assert_eq!(b.admission_env(unit), webhook_env("always"), "{unit}");
        }

        b.admission("sometimes");
        for unit in units {
            let (kind, message) = b.status(unit);
            assert_eq!(kind, "blocked", "{unit}");
            assert_eq!(
                message,
                "invalid config: admission: \"sometimes\" is not one of off, failover, always"
            );
            assert_eq!(
                b.admission_env(unit),
                webhook_env("always"),
                "{unit}: left alone"
            );
        }

        b.admission("off");
        for unit in units {
            assert!(b.admission_env(unit).is_empty(), "{unit}");
            assert_eq!(b.service(unit), before, "{unit}: back to the layer it had");
        }
        (b.status(&leader), b.status(follower))
    });
}

/// Removing the application with admission on: every hook succeeds; without a cluster the
/// last unit says in its log that it could not delete anything.
#[test]
fn remove_with_admission_on_lets_the_application_go() {
    same_end_state(&schedules(53), |schedule| {
        let mut b = Bench::new(schedule, &[]);
        b.admission("failover");
        let second = b.model.add_unit(APP).unwrap();
        assert_eq!(b.admission_env(&second), webhook_env("failover"));
        b.model.remove_unit(UNIT).unwrap();
        b.model.remove_unit(&second).unwrap();
        assert!(b.model.units(APP).unwrap().is_empty());
        // Without a cluster the last unit's `remove` has nothing to delete with: it says so.
        let logs = b.model.logs(&second).unwrap();
        let said = |needle: &str| logs.iter().any(|l| l.message.contains(needle));
        assert!(said("cannot remove the controller's RBAC"), "{logs:?}");
        b.model.units(APP).unwrap()
    });
}

/// `list-backups` says the mode, the totals and the latest decisions of the unit's controller.
#[test]
fn list_backups_shows_what_admission_did() {
    same_end_state(&schedules(55), |schedule| {
        let mut b = Bench::new(schedule, &[]);
        b.admission("failover");
        let image = "docker.io/library/nginx:1.27";
        b.controller.admitted(
            "failover",
            [
                decision(100, "web", "shop-1", image, "available"),
                decision(200, "web", "shop-2", image, "unavailable: manifest 404"),
            ],
        );
        let listed = b.model.run_action(UNIT, "list-backups", json!({})).unwrap();
        assert_eq!(listed.status, ActionStatus::Completed, "{listed:?}");
        let admission = &listed.results["admission"];
        assert_eq!(admission["mode"], "failover");
        assert_eq!(admission["pods-admitted"], "2");
        assert_eq!(admission["images-rewritten"], "1");
        let recent = admission["recent"].as_str().unwrap().to_owned();
        let rows: Vec<&str> = recent.lines().collect();
        assert_eq!(rows.len(), 3, "{recent}");
        assert!(
            rows[1].contains("shop-2")
                && rows[1].contains(&format!("docker.io/library/nginx@{DIGEST}"))
                && rows[1].ends_with("unavailable: manifest 404"),
            "newest first, with its backup: {recent}"
        );
        assert!(
            rows[2].contains("shop-1") && rows[2].ends_with("available"),
            "{recent}"
        );
        (listed.results, b.status(UNIT).0)
    });
}

/// The webhook's objects on the cluster in `KUBECONFIG`: applied when enabled, the controller's
/// `caBundle` kept across a re-apply, deleted when disabled and when the application goes.
#[test]
fn webhook_on_the_kubeconfig_cluster() {
    let Some(cluster) = live::Cluster::connect() else {
        return;
    };
    if let Some(refusal) = cluster.foreign_objects() {
        cluster.skipped(&refusal);
        return;
    }
    cluster.prepare();
    let kubeconfig = std::env::var("KUBECONFIG").expect("KUBECONFIG is set");

    let mut b = Bench::new(Schedule::InOrder, &[("KUBECONFIG", kubeconfig.as_str())]);
    cluster.mark_ours();
    assert!(!no_cluster(&b.status(UNIT)), "{:?}", b.status(UNIT));
    assert_eq!(cluster.present(), [] as [String; 0], "admission is off");

    b.admission("failover");
    cluster.mark_ours();
    let status = b.status(UNIT);
    assert!(status.0 != "blocked", "{status:?}");
    assert_eq!(cluster.missing(), [] as [String; 0]);
    cluster.check_objects();

    // The controller writes its CA as it does (a JSON patch under its own field manager); the
    // charm's next apply (a refresh forces one) leaves it there.
    let ca = TEST_CA.as_bytes();
    cluster.write_ca_bundle(ca);
    b.model.upgrade(APP, ib::charm()).unwrap();
    assert_eq!(
        cluster.ca_bundle().as_deref(),
        Some(ca),
        "the charm's apply changed the controller's caBundle"
    );
    cluster.check_objects();

    b.admission("off");
    cluster.wait_gone("turning admission off");
    assert!(cluster.crd_exists());

    b.admission("always");
    cluster.mark_ours();
    assert_eq!(cluster.missing(), [] as [String; 0]);
    let units = b.model.units(APP).unwrap();
    for unit in units {
        b.model.remove_unit(&unit).unwrap();
    }
    cluster.wait_gone("removing the application");
    cluster.clean_up();
}

/// The cluster as the test sees it, with its own client, under the `image-backup` cluster lock
/// (`kube-testing`): the CRD and the charm's cluster-wide objects are shared with the other
/// image-backup cluster tests. The objects it expects are the ones the charm's
/// `cluster::Desired` computes for application `image-backup` in model `sim`; the test labels
/// them (and the model's namespace, and the CRD it applies before the charm does) as
/// test-made, deletes what an earlier run left, and deletes them again when done.
mod live {
    use std::time::Duration;

    use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
    use k8s_openapi::api::core::v1::{Namespace, Service};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{DynamicObject, Patch, PatchParams};
    use kube::{Api, Resource, ResourceExt};
    use kube_testing::manifests::{self, Objects};
    use kube_testing::namespace::{self, DELETION_LIMIT};
    use kube_testing::{ClusterLock, TestCluster, labels};

    use image_backup_charm::cluster::{Desired, Owner};
    use image_backup_charm::config::AdmissionMode;

    const TEST: &str = "image-backup admission e2e";
    const WHAT: &str = "the webhook's Service and configuration on a cluster";
    const MODEL: &str = "sim";
    /// How long a deletion may take on a real cluster.
    const DELETION: Duration = Duration::from_secs(60);

    pub struct Cluster {
        runtime: tokio::runtime::Runtime,
        cluster: TestCluster,
        desired: Desired,
        /// The CRD, applied labelled by the test before the charm applies it.
        crd: Objects,
        /// The charm's cluster-scoped objects: they outlive the model's namespace.
        cluster_wide: Objects,
        _lock: ClusterLock,
    }

    /// Applied by application `image-backup` of the simulator's model `sim` (between the charm
    /// creating it and [`Cluster::mark_ours`]).
    fn charm_made<K: Resource>(object: &K) -> bool {
        let labels = object.meta().labels.clone().unwrap_or_default();
        let label = |key: &str| labels.get(key).map(String::as_str);
        label("model.juju.is/name") == Some(MODEL)
            && label("app.juju.is/created-by") == Some(super::APP)
    }

    impl Cluster {
        /// Connected and holding the `image-backup` lock; `None` (after a `SKIPPED` line)
        /// without `KUBECONFIG`.
        pub fn connect() -> Option<Cluster> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            let cluster = runtime.block_on(TestCluster::connect(TEST, WHAT))?;
            let lock = runtime.block_on(cluster.lock("image-backup"));
            let owner = Owner {
                model: MODEL.into(),
                app: super::APP.into(),
            };
            let desired = Desired::with_admission(&owner, false, AdmissionMode::Failover)
                .expect("the controller's manifests");
            let resolve = |objects: Vec<DynamicObject>| {
                runtime
                    .block_on(Objects::resolve(&cluster.client, objects))
                    .unwrap_or_else(|e| panic!("{e}"))
            };
            let crd = resolve(vec![dynamic(&desired.crd)]);
            let a = &desired.admission;
            let cluster_wide = resolve(
                [dynamic(&a.configuration)]
                    .into_iter()
                    .chain(desired.cluster_roles.iter().map(dynamic))
                    .chain(desired.cluster_role_bindings.iter().map(dynamic))
                    .chain(a.cluster_roles.iter().map(dynamic))
                    .chain(a.cluster_role_bindings.iter().map(dynamic))
                    .collect(),
            );
            let cluster = Cluster {
                runtime,
                cluster,
                desired,
                crd,
                cluster_wide,
                _lock: lock,
            };
            // Earlier versions of the cluster tests left these unlabelled.
            let crds: Api<CustomResourceDefinition> = cluster.all();
            let namespaces: Api<Namespace> = cluster.all();
            let crd_name = cluster.desired.crd.name_any();
            cluster.block_on(labels::adopt(&crds, &crd_name, &["image-backup-it"], TEST));
            cluster.block_on(labels::adopt(
                &namespaces,
                MODEL,
                &["image-backup-e2e"],
                TEST,
            ));
            // What a killed run's charm made and the run did not label yet.
            cluster.mark_ours();
            Some(cluster)
        }

        pub fn skipped(&self, why: &str) {
            self.cluster.skipped(WHAT, why);
        }

        /// Runs a step of kube-testing's, panicking with its message when it fails.
        fn run<T>(&self, step: impl Future<Output = Result<T, String>>) -> T {
            self.runtime
                .block_on(step)
                .unwrap_or_else(|e| panic!("{e}"))
        }

        fn block_on<T>(&self, future: impl Future<Output = Result<T, kube::Error>>) -> T {
            self.runtime
                .block_on(future)
                .unwrap_or_else(|e| panic!("{e}"))
        }

        fn all<K: Resource>(&self) -> Api<K>
        where
            K::DynamicType: Default,
        {
            Api::all(self.cluster.client.clone())
        }

        fn get<K>(&self, api: Api<K>, name: &str) -> Option<K>
        where
            K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
        {
            self.block_on(async move { api.get_opt(name).await })
        }

        fn configurations(&self) -> Api<MutatingWebhookConfiguration> {
            self.all()
        }

        fn services(&self) -> Api<Service> {
            Api::namespaced(self.cluster.client.clone(), MODEL)
        }

        /// Why the test must not touch the cluster, if it must not: a CRD, a cluster-scoped
        /// object of the charm's or a namespace `sim` that no test made (the charm
        /// force-applies the CRD; the rest carries this application's names).
        pub fn foreign_objects(&self) -> Option<String> {
            let mut foreign = [
                self.run(self.crd.foreign()),
                self.run(self.cluster_wide.foreign()),
            ]
            .concat();
            let namespace: Option<Namespace> = self.get(self.all(), MODEL);
            if namespace.is_some_and(|ns| !labels::made_by_a_test(&ns)) {
                foreign.push(format!("Namespace {MODEL}"));
            }
            (!foreign.is_empty()).then(|| {
                format!(
                    "{} exist and no test made them; refusing to touch them",
                    foreign.join(", ")
                )
            })
        }

        /// Deletes what an earlier run left, then makes the model's namespace (as Juju would)
        /// and the CRD, both labelled as the test's.
        pub fn prepare(&self) {
            let client = &self.cluster.client;
            self.run(self.cluster_wide.delete(DELETION));
            self.run(namespace::fresh(client, MODEL, TEST));
            self.run(self.crd.apply(TEST));
            let crd = self.desired.crd.name_any();
            self.run(manifests::wait_established(client, &crd, DELETION));
        }

        /// Labels the charm's cluster-scoped objects that exist as test-made, so that a later
        /// run deletes them if this one does not.
        pub fn mark_ours(&self) {
            let a = &self.desired.admission;
            let configuration = &a.names.configuration;
            if self
                .get(self.configurations(), configuration)
                .is_some_and(|c| charm_made(&c))
            {
                self.block_on(labels::mark(&self.configurations(), configuration, TEST));
            }
            self.mark_each(&self.desired.cluster_roles);
            self.mark_each(&self.desired.cluster_role_bindings);
            self.mark_each(&a.cluster_roles);
            self.mark_each(&a.cluster_role_bindings);
        }

        fn mark_each<K>(&self, objects: &[K])
        where
            K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
        {
            let api: Api<K> = self.all();
            for name in objects.iter().map(|o| o.name_any()) {
                if self.get(api.clone(), &name).is_some_and(|o| charm_made(&o)) {
                    self.block_on(labels::mark(&api, &name, TEST));
                }
            }
        }

        /// Deletes the charm's cluster-scoped objects, the model's namespace and the CRD,
        /// waiting (bounded) until they are gone.
        pub fn clean_up(&self) {
            let client = &self.cluster.client;
            self.run(self.cluster_wide.delete(DELETION));
            self.run(namespace::delete_and_wait(client, MODEL, DELETION_LIMIT));
            self.run(self.crd.delete(Duration::from_secs(120)));
        }

        pub fn crd_exists(&self) -> bool {
            let name = self.desired.crd.name_any();
            self.get::<CustomResourceDefinition>(self.all(), &name)
                .is_some()
        }

        /// `Kind name` of every admission object, and whether it exists.
        fn objects(&self) -> Vec<(String, bool)> {
            let a = &self.desired.admission;
            let c = &self.cluster.client;
            let mut out = vec![
                (
                    format!("MutatingWebhookConfiguration {}", a.names.configuration),
                    self.get(self.configurations(), &a.names.configuration)
                        .is_some(),
                ),
                (
                    format!("Service {}", a.names.service),
                    self.get(self.services(), &a.names.service).is_some(),
                ),
            ];
            out.extend(self.exist(&Api::all(c.clone()), &a.cluster_roles));
            out.extend(self.exist(&Api::all(c.clone()), &a.cluster_role_bindings));
            out.extend(self.exist(&Api::namespaced(c.clone(), MODEL), &a.roles));
            out.extend(self.exist(&Api::namespaced(c.clone(), MODEL), &a.role_bindings));
            out
        }

        fn exist<K>(&self, api: &Api<K>, objects: &[K]) -> Vec<(String, bool)>
        where
            K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
        {
            objects
                .iter()
                .map(|o| {
                    let name = o.name_any();
                    let found = self.get(api.clone(), &name).is_some();
                    (format!("{} {name}", K::kind(&())), found)
                })
                .collect()
        }

        pub fn missing(&self) -> Vec<String> {
            let objects = self.objects().into_iter();
            objects
                .filter(|(_, found)| !found)
                .map(|(o, _)| o)
                .collect()
        }

        pub fn present(&self) -> Vec<String> {
            let objects = self.objects().into_iter();
            objects
                .filter(|(_, found)| *found)
                .map(|(o, _)| o)
                .collect()
        }

        /// Waits, bounded, for every admission object to be gone (a real cluster may take a
        /// moment), naming what is still there.
        pub fn wait_gone(&self, after: &str) {
            let start = std::time::Instant::now();
            loop {
                let left = self.present();
                if left.is_empty() {
                    return;
                }
                assert!(
                    start.elapsed() < DELETION,
                    "{after}: still there after {}s: {left:?}",
                    DELETION.as_secs()
                );
                std::thread::sleep(Duration::from_millis(500));
            }
        }

        /// The Service and configuration as the API server keeps them point at each other and
        /// at the application's pods.
        pub fn check_objects(&self) {
            let a = &self.desired.admission;
            let service = self.get(self.services(), &a.names.service).unwrap();
            let spec = service.spec.unwrap();
            assert_eq!(spec.selector.unwrap()["app.kubernetes.io/name"], super::APP);
            let port = &spec.ports.unwrap()[0];
            assert_eq!(port.port, 443);
            assert_eq!(
                port.target_port,
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(9443))
            );
            let configuration = self
                .get(self.configurations(), &a.names.configuration)
                .unwrap();
            let webhook = &configuration.webhooks.unwrap()[0];
            assert_eq!(webhook.failure_policy.as_deref(), Some("Ignore"));
            assert_eq!(webhook.timeout_seconds, Some(5));
            let target = webhook.client_config.service.as_ref().unwrap();
            assert_eq!(
                (target.namespace.as_str(), target.name.as_str(), target.port),
                (MODEL, a.names.service.as_str(), Some(443))
            );
        }

        /// What the controller does once it has its CA: an update of that one field under its
        /// own field manager (it sends a JSON patch; a strategic merge keyed by the webhook's
        /// name changes the same field and records the same ownership).
        pub fn write_ca_bundle(&self, ca: &[u8]) {
            let patch = serde_json::json!({ "webhooks": [{
                "name": "pods.image-backup.k8slab.io",
                "clientConfig": { "caBundle": k8s_openapi::ByteString(ca.to_vec()) },
            }]});
            let params = PatchParams {
                field_manager: Some("image-backup-controller".into()),
                ..PatchParams::default()
            };
            let name = &self.desired.admission.names.configuration;
            self.block_on(
                self.configurations()
                    .patch(name, &params, &Patch::Strategic(patch)),
            );
            assert_eq!(self.ca_bundle().as_deref(), Some(ca));
        }

        pub fn ca_bundle(&self) -> Option<Vec<u8>> {
            let name = &self.desired.admission.names.configuration;
            let configuration = self.get(self.configurations(), name)?;
            let webhook = configuration.webhooks?.into_iter().next()?;
            webhook.client_config.ca_bundle.map(|b| b.0)
        }
    }

    /// A best-effort clean-up when an assertion failed half-way; the next run deletes what
    /// this leaves.
    impl Drop for Cluster {
        fn drop(&mut self) {
            if std::thread::panicking() {
                let _ = self.runtime.block_on(self.cluster_wide.delete(DELETION));
            }
        }
    }

    fn dynamic<K>(object: &K) -> DynamicObject
    where
        K: Resource<DynamicType = ()> + serde::Serialize,
    {
        manifests::dynamic(object).unwrap_or_else(|e| panic!("{e}"))
    }
}
