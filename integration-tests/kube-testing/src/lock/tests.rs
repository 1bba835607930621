//! The lease algorithm against kube's mock service (the ApiServerVerifier pattern): what is
//! read and written for a free, an expired, a held and an own lease.

use std::pin::pin;

use http::{Method, Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock;

use super::*;

const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/default/leases/kube-testing-crd";
const ME: &str = "host/1/me";

/// One expected request: method, URI, and the answer (status, body). Returns the request
/// bodies, for checks.
type Script = Vec<(Method, String, u16, Value)>;

async fn serve(script: Script, run: impl AsyncFnOnce(Leases)) -> Vec<Value> {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        let mut handle = pin!(handle);
        let mut bodies = Vec::new();
        for (method, uri, status, reply) in script {
            let (request, send) = handle
                .next_request()
                .await
                .unwrap_or_else(|| panic!("expected {method} {uri}, got nothing"));
            assert_eq!(
                (request.method(), request.uri().to_string()),
                (&method, uri)
            );
            let body = request.into_body().collect_bytes().await.unwrap();
            bodies.push(serde_json::from_slice(&body).unwrap_or(Value::Null));
            let reply = serde_json::to_vec(&reply).unwrap();
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(reply))
                    .unwrap(),
            );
        }
        if let Some((request, _)) = handle.next_request().await {
            panic!("unexpected {} {}", request.method(), request.uri());
        }
        bodies
    });
    let client = Client::new(service, "default");
    run(Leases::new(client, "kube-testing-crd", ME, "lock-crd")).await;
    server.await.unwrap()
}

fn now() -> Timestamp {
    "2026-12-06T10:00:00Z".parse().unwrap()
}

fn lease(holder: &str, renewed: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "kube-testing-crd", "namespace": "default", "resourceVersion": "7", "uid": "u1"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 30,
                 "renewTime": renewed, "acquireTime": renewed, "leaseTransitions": 2},
    })
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
}

fn conflict() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409})
}

#[tokio::test]
async fn an_absent_lease_is_created_held_by_us_and_labelled() {
    let collection = "/apis/coordination.k8s.io/v1/namespaces/default/leases?";
    let bodies = serve(
        vec![
            (Method::GET, PATH.into(), 404, not_found()),
            (
                Method::POST,
                collection.into(),
                201,
                lease(ME, "2026-12-06T10:00:00.000000Z"),
            ),
        ],
        async |leases| assert_eq!(leases.try_take(now()).await.unwrap(), Attempt::Taken),
    )
    .await;
    let created = &bodies[1];
    assert_eq!(created["spec"]["holderIdentity"], ME);
    assert_eq!(created["spec"]["leaseDurationSeconds"], 30);
    assert_eq!(created["metadata"]["labels"][labels::TEST], "lock-crd");
}

#[tokio::test]
async fn a_lease_renewed_recently_by_another_is_left_alone() {
    serve(
        vec![(
            Method::GET,
            PATH.into(),
            200,
            lease("other/2/t", "2026-12-06T09:59:50Z"),
        )],
        async |leases| {
            assert_eq!(
                leases.try_take(now()).await.unwrap(),
                Attempt::Held {
                    holder: "other/2/t".into(),
                    renewed: "2026-12-06T09:59:50Z".into()
                }
            );
        },
    )
    .await;
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_on_condition_of_its_version() {
    let bodies = serve(
        vec![
            // Killed a minute ago: renewed 60 s before now, 30 s lease.
            (
                Method::GET,
                PATH.into(),
                200,
                lease("killed/3/t", "2026-12-06T09:59:00Z"),
            ),
            (
                Method::PUT,
                format!("{PATH}?"),
                200,
                lease(ME, "2026-12-06T10:00:00Z"),
            ),
        ],
        async |leases| assert_eq!(leases.try_take(now()).await.unwrap(), Attempt::Taken),
    )
    .await;
    let replaced = &bodies[1];
    assert_eq!(replaced["metadata"]["resourceVersion"], "7");
    assert_eq!(replaced["spec"]["holderIdentity"], ME);
    assert_eq!(replaced["spec"]["leaseTransitions"], 3);
}

#[tokio::test]
async fn losing_the_race_for_an_expired_lease_is_contention_not_an_error() {
    serve(
        vec![
            (
                Method::GET,
                PATH.into(),
                200,
                lease("killed/3/t", "2026-12-06T09:00:00Z"),
            ),
            (Method::PUT, format!("{PATH}?"), 409, conflict()),
        ],
        async |leases| assert_eq!(leases.try_take(now()).await.unwrap(), Attempt::Contended),
    )
    .await;
}

#[tokio::test]
async fn release_deletes_only_our_own_lease_on_condition_of_its_version() {
    let bodies = serve(
        vec![
            (
                Method::GET,
                PATH.into(),
                200,
                lease(ME, "2026-12-06T09:59:55Z"),
            ),
            (
                Method::DELETE,
                format!("{PATH}?"),
                200,
                json!({"kind": "Status", "status": "Success"}),
            ),
        ],
        async |leases| leases.release().await.unwrap(),
    )
    .await;
    assert_eq!(
        bodies[1]["preconditions"],
        json!({"resourceVersion": "7", "uid": "u1"})
    );

    serve(
        vec![(
            Method::GET,
            PATH.into(),
            200,
            lease("other/2/t", "2026-12-06T09:59:55Z"),
        )],
        async |leases| leases.release().await.unwrap(),
    )
    .await;
}

#[tokio::test]
async fn renewing_a_lease_someone_else_took_reports_it_lost() {
    serve(
        vec![(
            Method::GET,
            PATH.into(),
            200,
            lease("other/2/t", "2026-12-06T09:59:55Z"),
        )],
        async |leases| assert!(!leases.renew(now()).await.unwrap()),
    )
    .await;
}
