//! Shared by the admission webhook's tests and its benchmark: AdmissionReview bodies as the
//! API server sends them, Done backups as the controller records them, and a webhook on a
//! loopback port whose certificates live in the in-process API server.
#![allow(dead_code)]

use std::sync::Arc;

use image_backup_controller::ControllerConfig;
use image_backup_controller::admission::Journal;
use image_backup_controller::admission::availability::{Checker, Limits, RegistryProbe};
use image_backup_controller::admission::certs::{self, CertKeeper};
use image_backup_controller::admission::events::Events;
use image_backup_controller::admission::tls::{self, ServingCert};
use image_backup_controller::admission::webhook::{self, Webhook};
use image_backup_controller::context::Context;
use image_backup_controller::copier::InMemoryCopier;
use image_backup_controller::crd::{ImageBackup, ImageBackupSpec, ImageBackupStatus, Phase};
use image_backup_controller::image::ImageRef;
use image_backup_controller::metrics::Metrics;
use image_backup_controller::naming::object_name;
use k8s_openapi::ByteString;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::fake_api::{self, FakeApi};

pub const NAMESPACE: &str = "image-backup";
pub const HOST: &str = "image-backup-webhook.image-backup.svc";

pub fn config(extra: &[&str]) -> ControllerConfig {
    let mut argv = vec![
        "test",
        "--backup-registry",
        "backup.local:5000/mirror",
        "--registry-secret",
        "backup-pull",
    ];
    argv.extend_from_slice(extra);
    ControllerConfig::from_argv(argv).unwrap()
}

/// The webhook configuration of `deploy/webhook.yaml`, as JSON.
pub fn webhook_configuration() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/webhook.yaml"))
        .unwrap();
    text.split("\n---\n")
        .map(|doc| serde_yaml::from_str::<Value>(doc).unwrap())
        .find(|doc| doc["kind"] == "MutatingWebhookConfiguration")
        .unwrap()
}

/// A Done backup of `image` (as the controller records it: the copier's backup reference and
/// the digest it copied).
pub fn done(image: &str, digest: &str) -> ImageBackup {
    let image = ImageRef::parse(image).unwrap();
    let mut backup = ImageBackup::new(
        &object_name(&image),
        ImageBackupSpec {
            image: image.to_string(),
            pull_secrets: vec![],
        },
    );
    backup.metadata.namespace = Some(NAMESPACE.into());
    backup.status = Some(ImageBackupStatus {
        phase: Phase::Done,
        backup_image: Some(
            naming()
                .backup_reference(image.reference())
                .unwrap()
                .to_string(),
        ),
        backup_digest: Some(digest.into()),
        source_digest: Some(digest.into()),
        ..Default::default()
    });
    backup
}

/// The pinned reference a Done backup of `image` rewrites to: the backup's repository (as the
/// copier names it) at the recorded digest.
pub fn pinned(image: &str, digest: &str) -> String {
    let image = ImageRef::parse(image).unwrap();
    let backup = naming().backup_reference(image.reference()).unwrap();
    format!("{}/{}@{digest}", backup.registry(), backup.repository())
}

fn naming() -> image_backup_copier::BackupNaming {
    image_backup_copier::BackupNaming::preserving("backup.local:5000", Some("mirror")).unwrap()
}

/// A pod as the API server hands it to mutating admission: defaulted, owned by a ReplicaSet,
/// named by `generateName` only.
pub fn replicaset_pod(namespace: &str, init: &str, main: &str, ephemeral: Option<&str>) -> Value {
    let container = |name: &str, image: &str| {
        json!({
            "name": name, "image": image, "resources": {},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent",
            "volumeMounts": [{"name": "kube-api-access-x7k2p", "readOnly": true,
                              "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]
        })
    };
    let mut pod = json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "generateName": "web-7d9f8b6c5d-",
            "namespace": namespace,
            "creationTimestamp": null,
            "labels": {"app": "web", "pod-template-hash": "7d9f8b6c5d"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8b6c5d",
                                 "uid": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "controller": true,
                                 "blockOwnerDeletion": true}]
        },
        "spec": {
            "volumes": [{"name": "kube-api-access-x7k2p", "projected": {"sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}], "defaultMode": 420}}],
            "initContainers": [container("init", init)],
            "containers": [container("main", main)],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "serviceAccount": "default", "securityContext": {},
            "schedulerName": "default-scheduler",
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                             "effect": "NoExecute", "tolerationSeconds": 300}],
            "priority": 0, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority"
        },
        "status": {}
    });
    if let Some(image) = ephemeral {
        pod["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": image}]);
    }
    pod
}

/// The AdmissionReview the API server POSTs for creating `pod`.
pub fn review(uid: &str, pod: &Value) -> Value {
    let namespace = pod["metadata"]["namespace"].clone();
    let pod_kind = json!({"group": "", "version": "v1", "kind": "Pod"});
    let pods = json!({"group": "", "version": "v1", "resource": "pods"});
    json!({
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": uid,
            "kind": pod_kind, "resource": pods,
            "requestKind": pod_kind, "requestResource": pods,
            "name": pod["metadata"]["name"].as_str().unwrap_or_default(),
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                         "uid": "8c6b7f0e-1111-2222-3333-444455556666",
                         "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system",
                                    "system:authenticated"]},
            "object": pod,
            "oldObject": null,
            "dryRun": false,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        }
    })
}

/// A webhook on a loopback port with its certificates in a fake API server, and a client
/// that trusts only its CA.
pub struct Harness {
    pub fake: FakeApi,
    pub ctx: Arc<Context>,
    pub store: Writer<ImageBackup>,
    pub journal: Arc<Journal>,
    pub keeper: CertKeeper,
    pub serving: Arc<ServingCert>,
    pub port: u16,
    pub client: reqwest::Client,
    pub stop: tokio::sync::oneshot::Sender<()>,
}

impl Harness {
    pub async fn start(mode: &str, limits: Limits) -> Self {
        image_backup_copier::registry::install_crypto_provider();
        let fake = FakeApi::default();
        fake.put(
            &fake_api::mutating_webhook_configurations(),
            webhook_configuration(),
        );
        let client = fake.client().await;
        let config = config(&["--admission", mode]);
        let store = Writer::<ImageBackup>::default();
        let ctx = Arc::new(Context::new(
            client.clone(),
            config.settings(),
            Arc::new(InMemoryCopier::default()),
            Arc::new(Metrics::default()),
            store.as_reader(),
        ));
        let keeper = CertKeeper {
            client: client.clone(),
            namespace: NAMESPACE.into(),
            secret: config.admission.secret.clone(),
            configuration: config.admission.configuration.clone(),
            dns_names: certs::dns_names(&config.admission.service, NAMESPACE),
        };
        let serving = Arc::new(ServingCert::default());
        certs::round(&keeper, &serving, &mut None, Timestamp::now()).await;
        assert!(serving.is_set());

        let journal = Arc::new(Journal::new(config.admission.mode));
        let probe = RegistryProbe::new(ctx.clone(), vec![], limits.budget);
        let hook = Arc::new(Webhook::new(
            &ctx,
            config.admission.mode,
            Checker::new(Arc::new(probe), limits),
            journal.clone(),
            Some(Events::start(client, "test")),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let tls_config = Arc::new(tls::server_config(serving.clone()).unwrap());
        tokio::spawn(webhook::serve(listener, tls_config, hook, async {
            let _ = stopped.await;
        }));
        let client = https_client(&ca_of(&fake), port);
        Harness {
            fake,
            ctx,
            store,
            journal,
            keeper,
            serving,
            port,
            client,
            stop,
        }
    }

    pub fn cache(&mut self, backup: ImageBackup) {
        self.store
            .apply_watcher_event(&watcher::Event::Apply(backup));
    }

    pub async fn post(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("https://{HOST}:{}{}", self.port, webhook::PATH))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Admits `pod`: the response and the pod after its patch.
    pub async fn admit(&self, pod: &Value) -> (Value, Value) {
        let uid = format!("uid-{}", rand_suffix());
        let response = self.post(&review(&uid, pod)).await;
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["kind"], "AdmissionReview");
        assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
        let response = answer["response"].clone();
        assert_eq!(response["uid"], uid.as_str());
        assert_eq!(response["allowed"], true);
        let mut patched = pod.clone();
        if !response["patch"].is_null() {
            assert_eq!(response["patchType"], "JSONPatch");
            let bytes: ByteString = serde_json::from_value(response["patch"].clone()).unwrap();
            let patch: json_patch::Patch = serde_json::from_slice(&bytes.0).unwrap();
            json_patch::patch(&mut patched, &patch).unwrap();
        }
        (response, patched)
    }

    pub fn metrics(&self) -> String {
        self.ctx.metrics.render(std::iter::empty())
    }
}

pub fn ca_of(fake: &FakeApi) -> Vec<u8> {
    let secret = fake
        .get(&fake_api::secrets(), NAMESPACE, "image-backup-webhook-tls")
        .expect("the webhook Secret");
    let ca: ByteString = serde_json::from_value(secret["data"]["ca.crt"].clone()).unwrap();
    ca.0
}

pub fn https_client(ca: &[u8], port: u16) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(ca).unwrap()])
        .resolve(HOST, ([127, 0, 0, 1], port).into())
        .build()
        .unwrap()
}

pub fn image_of(pod: &Value, list: &str) -> String {
    pod["spec"][list][0]["image"].as_str().unwrap().to_string()
}

pub fn rand_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{nanos:x}")
}
