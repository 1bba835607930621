//! A scripted API server for unit tests, in the ApiServerVerifier pattern of kube-rs's
//! `controller-rs`: the client talks to a `tower_test` mock service, and a task on the other
//! end checks every request against the script (method, path and query, JSON body) and sends
//! the scripted answer. Requests beyond the script, or a script left unfinished, fail the test.

use std::pin::pin;

use http::{Method, Request, Response};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::client::Body;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower_test::mock::{self, Handle};

/// Where the agent's objects live in the API.
pub(crate) const NS: &str = "/api/v1/namespaces/cloudcasa-io";
pub(crate) const SA: &str = "/api/v1/namespaces/cloudcasa-io/serviceaccounts/cloudcasa-io";
pub(crate) const CRB: &str = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/cloudcasa-io";
pub(crate) const DEPLOY: &str =
    "/apis/apps/v1/namespaces/cloudcasa-io/deployments/cloudcasa-kubeagent-manager";

/// One expected request and the answer to it.
#[derive(Clone)]
pub(crate) struct Exchange {
    method: Method,
    uri: String,
    body: Option<Value>,
    status: u16,
    reply: Value,
    hang: bool,
}

impl Exchange {
    /// A server-side apply of `body` at `path` by our field manager, with `force`.
    pub(crate) fn apply(path: &str, body: Value) -> Self {
        Self {
            method: Method::PATCH,
            uri: format!("{path}?&force=true&fieldManager=cloudcasa-charm"),
            body: Some(body),
            status: 200,
            reply: Value::Null,
            hang: false,
        }
    }

    pub(crate) fn get(path: &str) -> Self {
        Self {
            method: Method::GET,
            uri: path.to_owned(),
            body: None,
            status: 200,
            reply: Value::Null,
            hang: false,
        }
    }

    pub(crate) fn delete(path: &str) -> Self {
        Self {
            method: Method::DELETE,
            uri: format!("{path}?"),
            body: Some(json!({})),
            status: 200,
            reply: Value::Null,
            hang: false,
        }
    }

    /// Answers with `object` (200).
    pub(crate) fn ok(mut self, object: Value) -> Self {
        self.reply = object;
        self
    }

    /// Answers an apply with the applied object itself, as the API server does.
    pub(crate) fn echo(mut self) -> Self {
        self.reply = self.body.clone().unwrap_or(Value::Null);
        self
    }

    /// Answers with an error `Status`.
    pub(crate) fn fails(mut self, code: u16, reason: &str, message: &str) -> Self {
        self.status = code;
        self.reply = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code,
        });
        self
    }

    /// Never answers, like an API server that accepted the connection and hung.
    pub(crate) fn hang(mut self) -> Self {
        self.hang = true;
        self
    }

    /// Answers with a `Status` value given in full.
    pub(crate) fn fails_with(mut self, status: Value) -> Self {
        self.status = status["code"]
            .as_u64()
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(500);
        self.reply = status;
        self
    }
}

/// `object` as the API server returns it once stored.
pub(crate) fn stored(object: &impl Serialize) -> Value {
    let mut stored = serde_json::to_value(object).expect("k8s-openapi objects serialize");
    stored["metadata"]["uid"] = json!("0b6c");
    stored
}

/// A stored namespace being deleted.
pub(crate) fn terminating(namespace: &Namespace) -> Value {
    let mut stored = stored(namespace);
    stored["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    stored["status"] = json!({"phase": "Terminating"});
    stored
}

/// A stored deployment of 1 replica, its spec rolled out, `available` replicas available.
pub(crate) fn rolled_out(deployment: &Deployment, available: i32) -> Value {
    let mut stored = stored(deployment);
    stored["metadata"]["generation"] = json!(1);
    stored["status"] = json!({
        "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": available,
    });
    stored
}

/// The server end of the mock.
pub(crate) struct ApiServerVerifier(Handle<Request<Body>, Response<Body>>);

/// The service a [`kube::Client`] is built on.
pub(crate) type Service = mock::Mock<Request<Body>, Response<Body>>;

/// A client wired to a fresh verifier.
pub(crate) fn pair() -> (kube::Client, ApiServerVerifier) {
    let (service, verifier) = service_pair();
    (kube::Client::new(service, "default"), verifier)
}

/// The client's service and a fresh verifier: for clients that must be built later, inside
/// the runtime that uses them (a client spawns its request buffer on the current runtime).
pub(crate) fn service_pair() -> (Service, ApiServerVerifier) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (service, ApiServerVerifier(handle))
}

impl ApiServerVerifier {
    /// Serves `script` in order, then checks that no further request arrives before every
    /// client clone is dropped. Await the handle after dropping the client.
    pub(crate) fn run(self, script: Vec<Exchange>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut handle = pin!(self.0);
            let total = script.len();
            let mut unanswered = Vec::new();
            for (index, expected) in script.into_iter().enumerate() {
                let step = format!("request {} of {total}", index + 1);
                let Some((request, send)) = handle.next_request().await else {
                    panic!("{step} ({} {}) never came", expected.method, expected.uri);
                };
                assert_eq!(request.method(), expected.method, "{step}: method");
                assert_eq!(request.uri().to_string(), expected.uri, "{step}: uri");
                let body = request
                    .into_body()
                    .collect_bytes()
                    .await
                    .expect("request body is readable");
                match &expected.body {
                    Some(json) => {
                        let actual: Value =
                            serde_json::from_slice(&body).expect("request body is JSON");
                        assert_eq!(&actual, json, "{step}: body");
                    }
                    None => assert!(body.is_empty(), "{step}: unexpected body"),
                }
                if expected.hang {
                    unanswered.push(send);
                    continue;
                }
                let reply = serde_json::to_vec(&expected.reply).expect("reply serializes");
                send.send_response(
                    Response::builder()
                        .status(expected.status)
                        .body(Body::from(reply))
                        .expect("valid response"),
                );
            }
            if let Some((request, _)) = handle.next_request().await {
                panic!(
                    "unexpected extra request {} {}",
                    request.method(),
                    request.uri()
                );
            }
            drop(unanswered);
        })
    }
}
