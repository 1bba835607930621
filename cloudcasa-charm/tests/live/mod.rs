//! What the tests against the `KUBECONFIG` cluster share: they touch the real cluster-wide
//! objects, so they first make sure nobody else's installation is there.

use std::io::Write;
use std::time::Duration;

use cloudcasa_charm::objects::NAMESPACE;
use cloudcasa_charm::owner::Owner;
use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, Client, Resource};

/// Prints `line` past the test harness's capture, so a skip shows in a plain `cargo test`.
pub fn say(test: &str, line: &str) {
    let _ = writeln!(std::io::stderr(), "{test}: {line}");
}

/// Never touch a CloudCasa installation the test did not make: the namespace must be absent
/// or labelled by `owner` (unlabelled ones may be a real installation of the Python charm).
pub async fn refuse_foreign_objects(client: &Client, owner: &Owner) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if let Some(namespace) = namespaces.get_opt(NAMESPACE).await.expect("read namespace") {
        let found = namespace
            .meta()
            .labels
            .as_ref()
            .and_then(Owner::from_labels);
        assert_eq!(
            found.as_ref(),
            Some(owner),
            "namespace {NAMESPACE} exists and was not made by this test; refusing to touch it"
        );
    }
}

/// Whether the namespace is gone within `limit` (a cluster without a namespace controller
/// never finishes deleting one).
pub async fn namespace_gone_within(client: &Client, limit: Duration) -> bool {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if namespaces
            .get_opt(NAMESPACE)
            .await
            .expect("read namespace")
            .is_none()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    false
}
