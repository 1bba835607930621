//! A scripted API server for unit tests, in the ApiServerVerifier pattern of kube-rs's
//! `controller-rs`: the client talks to a `tower_test` mock service, and a task on the other
//! end checks every request against the script (method, path and query, JSON body) and sends
//! the scripted answer. Requests beyond the script, or a script left unfinished, fail the test.

use std::pin::pin;

use http::{Method, Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower_test::mock::{self, Handle};

/// One expected request and the answer to it.
pub(super) struct Exchange {
    method: Method,
    uri: String,
    body: Option<Value>,
    status: u16,
    reply: Value,
    hang: bool,
}

impl Exchange {
    /// A server-side apply of `body` at `path` by our field manager, with `force`.
    pub(super) fn apply(path: &str, body: Value) -> Self {
        Self {
            method: Method::PATCH,
            uri: format!("{path}?&force=true&fieldManager=cloudcasa-charm"),
            body: Some(body),
            status: 200,
            reply: Value::Null,
            hang: false,
        }
    }

    pub(super) fn get(path: &str) -> Self {
        Self {
            method: Method::GET,
            uri: path.to_owned(),
            body: None,
            status: 200,
            reply: Value::Null,
            hang: false,
        }
    }

    pub(super) fn delete(path: &str) -> Self {
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
    pub(super) fn ok(mut self, object: Value) -> Self {
        self.reply = object;
        self
    }

    /// Answers an apply with the applied object itself, as the API server does.
    pub(super) fn echo(mut self) -> Self {
        self.reply = self.body.clone().unwrap_or(Value::Null);
        self
    }

    /// Answers with an error `Status`.
    pub(super) fn fails(mut self, code: u16, reason: &str, message: &str) -> Self {
        self.status = code;
        self.reply = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code,
        });
        self
    }

    /// Never answers, like an API server that accepted the connection and hung.
    pub(super) fn hang(mut self) -> Self {
        self.hang = true;
        self
    }

    /// Answers with a `Status` value given in full.
    pub(super) fn fails_with(mut self, status: Value) -> Self {
        self.status = status["code"]
            .as_u64()
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(500);
        self.reply = status;
        self
    }
}

/// The server end of the mock.
pub(super) struct ApiServerVerifier(Handle<Request<Body>, Response<Body>>);

/// A client wired to a fresh verifier.
pub(super) fn pair() -> (kube::Client, ApiServerVerifier) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (
        kube::Client::new(service, "default"),
        ApiServerVerifier(handle),
    )
}

impl ApiServerVerifier {
    /// Serves `script` in order, then checks that no further request arrives before every
    /// client clone is dropped. Await the handle after dropping the client.
    pub(super) fn run(self, script: Vec<Exchange>) -> JoinHandle<()> {
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
