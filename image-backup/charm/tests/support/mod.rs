//! What the state-transition tests run the charm against besides the harness's fake Pebble: a
//! fake controller serving the real gRPC API on a loopback port (the crate's `testing`
//! feature, shared with the end-to-end tests) and a mock Kubernetes API server, each on a
//! runtime thread of its own (the hook runs on a runtime charm-core builds per hook).

#![allow(dead_code)] // Each test file uses a part.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use charm_core::Metadata;
use image_backup_charm::ImageBackupCharm;
use image_backup_charm::platform::Platform;
use image_backup_charm::testing::background_runtime;
#[allow(unused_imports)] // Each test file uses a part.
pub use image_backup_charm::testing::{DIGEST, FakeController, backup, decision};

/// `<endpoint>-relation-changed` for `relation`, from its first remote unit.
pub fn relation_changed(relation: &charm_core::testing::Relation) -> charm_core::Event {
    charm_core::Event::RelationChanged(charm_core::event::RelationEvent {
        endpoint: relation.endpoint.clone(),
        id: relation.id,
        remote_app: relation.remote_app.clone(),
        remote_unit: relation.first_unit().map(str::to_string),
        departing_unit: None,
    })
}

pub fn metadata() -> Metadata {
    Metadata::from_charmcraft_yaml(include_str!("../../charmcraft.yaml")).unwrap()
}

pub type TestCharm = ImageBackupCharm<TestPlatform>;

thread_local! {
    static API: RefCell<Option<String>> = const { RefCell::new(None) };
    static KUBE: RefCell<Option<MockKube>> = const { RefCell::new(None) };
}

/// The platform of the test running on this thread (the hook runs on the test's thread).
#[derive(Debug, Default)]
pub struct TestPlatform;

impl Platform for TestPlatform {
    async fn kube_client(&self) -> Result<kube::Client, kube::Error> {
        KUBE.with(|k| match &*k.borrow() {
            Some(mock) => Ok(mock.client()),
            None => Err(kube::Error::Service(
                "this test has no Kubernetes API".into(),
            )),
        })
    }

    fn controller_api(&self) -> String {
        // Nothing listens on port 1 on loopback: connection refused, as when no controller
        // runs.
        API.with(|a| a.borrow().clone())
            .unwrap_or_else(|| "http://127.0.0.1:1".into())
    }
}

/// Points this thread's charm at a controller API.
pub fn use_api(address: &str) {
    API.with(|a| *a.borrow_mut() = Some(address.to_string()));
}

/// Points this thread's charm at a mock Kubernetes API.
pub fn use_kube(mock: &MockKube) {
    KUBE.with(|k| *k.borrow_mut() = Some(mock.clone()));
}

/// One request the mock API server received.
#[derive(Debug, Clone)]
pub struct KubeRequest {
    pub method: String,
    pub path: String,
    pub body: serde_json::Value,
}

/// A Kubernetes API server that answers each request with a status code a test chooses (and
/// echoes the applied object on success), recording the requests.
#[derive(Clone)]
pub struct MockKube {
    service: tower_test::mock::Mock<
        http::Request<kube::client::Body>,
        http::Response<kube::client::Body>,
    >,
    pub requests: Arc<Mutex<Vec<KubeRequest>>>,
    _runtime: Arc<tokio::runtime::Runtime>,
}

impl MockKube {
    /// Every request answered with `status`.
    pub fn answering(status: u16) -> MockKube {
        MockKube::with(move |_| status)
    }

    /// 403 for requests whose path contains `fragment`, success for the others.
    pub fn refusing(fragment: &'static str) -> MockKube {
        MockKube::with(move |r| if r.path.contains(fragment) { 403 } else { 200 })
    }

    /// A cluster where nothing the charm deletes exists: applies succeed, deletions are 404.
    pub fn without_objects() -> MockKube {
        MockKube::with(|r| if r.method == "DELETE" { 404 } else { 200 })
    }

    /// Each request answered with `status(request)`.
    pub fn with(status: impl Fn(&KubeRequest) -> u16 + Send + 'static) -> MockKube {
        let (service, mut handle) = tower_test::mock::pair::<
            http::Request<kube::client::Body>,
            http::Response<kube::client::Body>,
        >();
        let requests: Arc<Mutex<Vec<KubeRequest>>> = Arc::default();
        let recorded = requests.clone();
        let runtime = background_runtime().unwrap();
        runtime.spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let (parts, body) = request.into_parts();
                let bytes = body.collect_bytes().await.unwrap();
                let body: serde_json::Value =
                    serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
                let request = KubeRequest {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_string(),
                    body: body.clone(),
                };
                let status = status(&request);
                recorded.lock().unwrap().push(request);
                let answer = if status == 200 && parts.method == http::Method::DELETE {
                    serde_json::json!({
                        "kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200,
                    })
                } else if status == 200 {
                    body
                } else {
                    serde_json::json!({
                        "kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "message": match status {
                            403 => format!(
                                "forbidden: User \"system:serviceaccount:prod:image-backup\" \
                                 cannot {} {}",
                                parts.method, parts.uri.path()
                            ),
                            404 => "not found".into(),
                            _ => "internal error".into(),
                        },
                        "reason": match status {
                            403 => "Forbidden",
                            404 => "NotFound",
                            _ => "InternalError",
                        },
                        "code": status,
                    })
                };
                send.send_response(
                    http::Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(kube::client::Body::from(
                            serde_json::to_vec(&answer).unwrap(),
                        ))
                        .unwrap(),
                );
            }
        });
        MockKube {
            service,
            requests,
            _runtime: Arc::new(runtime),
        }
    }

    /// A client over the mock; made inside the hook's runtime (kube spawns a buffer task).
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.service.clone(), "default")
    }

    pub fn requests(&self) -> Vec<KubeRequest> {
        self.requests.lock().unwrap().clone()
    }
}
