//! Test namespaces: created labelled, deleted with a bounded wait.
//!
//! Deleting a namespace only marks it Terminating; the namespace controller (in
//! kube-controller-manager) then deletes everything in it, reports progress in the namespace's
//! `status.conditions`, and finally removes the `kubernetes` finalizer through the `finalize`
//! subresource, upon which the API server deletes the namespace. A bare API server has no such
//! controller: its namespaces stay Terminating forever.
//!
//! So a test that must see a namespace gone waits, and when the namespace has been
//! Terminating for [`NO_CONTROLLER_AFTER`] without any condition written (a namespace
//! controller writes them on its first pass, seconds after the deletion), the test concludes
//! that no namespace controller runs and does its job: deletes the namespace's content
//! (every namespaced resource the API server serves) and finalizes the namespace. Where a
//! controller does run, its conditions say what it is waiting for, and a wait that runs out
//! names them.

use std::cell::Cell;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, DynamicObject, ListParams, ObjectMeta, PostParams};
use kube::core::discovery::{Scope, verbs};
use kube::discovery::Discovery;
use kube::{Api, Client};

use crate::{labels, wait};

/// How long a namespace may be Terminating without any condition before the test concludes
/// that no namespace controller runs.
pub const NO_CONTROLLER_AFTER: Duration = Duration::from_secs(20);

/// How long a test waits for a namespace to go (a namespace with running pods takes their
/// grace period).
pub const DELETION_LIMIT: Duration = Duration::from_secs(180);

/// Creates namespace `name` labelled for `test`, first deleting (and waiting out) a test-made
/// one of that name left by an earlier run. Refuses a namespace a test did not make.
pub async fn fresh(client: &Client, name: &str, test: &str) -> Result<Namespace, String> {
    let api: Api<Namespace> = Api::all(client.clone());
    if let Some(existing) = api
        .get_opt(name)
        .await
        .map_err(|e| format!("reading namespace {name}: {e}"))?
    {
        if !labels::made_by_a_test(&existing) {
            return Err(format!(
                "namespace {name} exists and no test made it (no {} label); refusing to touch it",
                labels::TEST
            ));
        }
        delete_and_wait(client, name, DELETION_LIMIT).await?;
    }
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(labels::labels(test)),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    api.create(&PostParams::default(), &namespace)
        .await
        .map_err(|e| format!("creating namespace {name}: {e}"))
}

/// Every namespace but `keep`: for a controller's exclusion list, so that a controller under
/// test acts only on the test's namespaces and never on the cluster's own workloads.
pub async fn all_but(client: &Client, keep: &[&str]) -> Result<Vec<String>, String> {
    let api: Api<Namespace> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("listing namespaces: {e}"))?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|ns| ns.metadata.name)
        .filter(|name| !keep.contains(&name.as_str()))
        .collect())
}

/// Deletes every test-made namespace whose name starts with `prefix` (debris of killed runs)
/// and waits until they are gone.
pub async fn delete_debris(client: &Client, prefix: &str) -> Result<(), String> {
    let api: Api<Namespace> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default().labels(&labels::any_test()))
        .await
        .map_err(|e| format!("listing test namespaces: {e}"))?;
    let mut names = Vec::new();
    for ns in list.items {
        let Some(name) = ns.metadata.name else {
            continue;
        };
        if name.starts_with(prefix) {
            names.push(name);
        }
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    delete_all_and_wait(client, &names, DELETION_LIMIT).await
}

/// Deletes namespace `name` (if it exists) and waits, at most `limit`, until it is gone,
/// standing in for the namespace controller where none runs (see the module's docs).
pub async fn delete_and_wait(client: &Client, name: &str, limit: Duration) -> Result<(), String> {
    let api: Api<Namespace> = Api::all(client.clone());
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        // Gone already, or already terminating.
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
        Err(e) => return Err(format!("deleting namespace {name}: {e}")),
    }
    wait_gone(client, name, limit).await
}

/// Deletes the namespaces `names` at once and waits until every one is gone (at most `limit`,
/// the waits running side by side).
pub async fn delete_all_and_wait(
    client: &Client,
    names: &[&str],
    limit: Duration,
) -> Result<(), String> {
    let waits = names
        .iter()
        .map(|name| delete_and_wait(client, name, limit));
    let failures: Vec<String> = futures::future::join_all(waits)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// Waits, at most `limit`, until namespace `name` is gone, standing in for the namespace
/// controller where none runs. The error names what is left.
pub async fn wait_gone(client: &Client, name: &str, limit: Duration) -> Result<(), String> {
    let api: Api<Namespace> = Api::all(client.clone());
    let terminating_since: Cell<Option<Instant>> = Cell::new(None);
    let what = format!("namespace {name} to be deleted");
    wait::until(&what, limit, Duration::from_secs(1), || {
        let api = api.clone();
        let since = &terminating_since;
        async move {
            let ns = api
                .get_opt(name)
                .await
                .map_err(|e| format!("reading it: {e}"))?;
            let terminating = ns.as_ref().is_some_and(|n| n.metadata.deletion_timestamp.is_some());
            let first_seen = match (terminating, since.get()) {
                (true, None) => Instant::now(),
                (true, Some(at)) => at,
                (false, _) => Instant::now(),
            };
            since.set(terminating.then_some(first_seen));
            match verdict(ns.as_ref(), first_seen.elapsed()) {
                Verdict::Gone => Ok(()),
                Verdict::Waiting(what) => Err(what),
                Verdict::NoController => {
                    let ns = ns.unwrap_or_default();
                    stand_in_for_the_namespace_controller(Client::from(api), &ns).await?;
                    Err("finalized by the test (no namespace controller); the API server has yet to remove it".into())
                }
            }
        }
    })
    .await
    .map_err(|timeout| timeout.to_string())
}

/// Where a deleted namespace stands.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Gone,
    /// Still there, for the reason given.
    Waiting(String),
    /// Terminating for [`NO_CONTROLLER_AFTER`] and no namespace controller has written a
    /// condition: none runs.
    NoController,
}

/// `namespace` as read, Terminating for `terminating_for` (as far as the test saw).
fn verdict(namespace: Option<&Namespace>, terminating_for: Duration) -> Verdict {
    let Some(ns) = namespace else {
        return Verdict::Gone;
    };
    if ns.metadata.deletion_timestamp.is_none() {
        return Verdict::Waiting("it exists and is not being deleted".into());
    }
    let conditions = ns
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    if !conditions.is_empty() {
        let problems: Vec<String> = conditions
            .iter()
            .filter(|c| c.status == "True")
            .map(|c| format!("{}: {}", c.type_, c.message.as_deref().unwrap_or("")))
            .collect();
        let report = if problems.is_empty() {
            "nothing wrong".to_owned()
        } else {
            problems.join("; ")
        };
        return Verdict::Waiting(format!(
            "Terminating; the namespace controller reports: {report}"
        ));
    }
    if terminating_for < NO_CONTROLLER_AFTER {
        return Verdict::Waiting(
            "Terminating; no namespace controller has reported on it yet".into(),
        );
    }
    Verdict::NoController
}

/// What the namespace controller does: delete the namespace's content, then remove the
/// `kubernetes` finalizer.
async fn stand_in_for_the_namespace_controller(
    client: Client,
    ns: &Namespace,
) -> Result<(), String> {
    let name = ns.metadata.name.clone().unwrap_or_default();
    let left = delete_content(&client, &name).await?;
    if !left.is_empty() {
        return Err(format!(
            "no namespace controller runs, and the test could not empty the namespace: {}",
            left.join(", ")
        ));
    }
    let mut finalized = ns.clone();
    if let Some(spec) = finalized.spec.as_mut() {
        spec.finalizers
            .get_or_insert_with(Vec::new)
            .retain(|f| f != "kubernetes");
    }
    Api::<Namespace>::all(client)
        .replace_subresource("finalize", &name, &PostParams::default(), &finalized)
        .await
        .map_err(|e| format!("finalizing it: {e}"))?;
    Ok(())
}

/// Deletes every object of every namespaced resource in `namespace`; returns what is left.
async fn delete_content(client: &Client, namespace: &str) -> Result<Vec<String>, String> {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .map_err(|e| format!("discovering the API's resources: {e}"))?;
    let mut left = Vec::new();
    for group in discovery.groups() {
        for (resource, caps) in group.recommended_resources() {
            let deletable = caps.scope == Scope::Namespaced
                && caps.supports_operation(verbs::LIST)
                && caps.supports_operation(verbs::DELETE_COLLECTION);
            if !deletable {
                continue;
            }
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), namespace, &resource);
            let _ = api
                .delete_collection(&DeleteParams::default(), &ListParams::default())
                .await;
            match api.list(&ListParams::default()).await {
                Ok(list) if list.items.is_empty() => {}
                Ok(list) => left.extend(list.items.iter().map(|o| {
                    format!(
                        "{} {}",
                        resource.kind,
                        o.metadata.name.as_deref().unwrap_or("?")
                    )
                })),
                Err(e) => left.push(format!("{} (listing failed: {e})", resource.plural)),
            }
        }
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn namespace(value: serde_json::Value) -> Namespace {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_namespace_nobody_finalizes_is_finalized_only_after_a_while_without_conditions() {
        let stuck = namespace(json!({
            "metadata": {"name": "t", "deletionTimestamp": "2026-12-06T10:00:00Z"},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Terminating"},
        }));
        assert!(matches!(
            verdict(Some(&stuck), Duration::from_secs(3)),
            Verdict::Waiting(_)
        ));
        assert_eq!(
            verdict(Some(&stuck), NO_CONTROLLER_AFTER),
            Verdict::NoController
        );
        assert_eq!(verdict(None, Duration::ZERO), Verdict::Gone);
    }

    #[test]
    fn a_working_namespace_controller_is_waited_for_and_quoted() {
        let busy = namespace(json!({
            "metadata": {"name": "t", "deletionTimestamp": "2026-12-06T10:00:00Z"},
            "status": {"phase": "Terminating", "conditions": [
                {"type": "NamespaceDeletionDiscoveryFailure", "status": "False"},
                {"type": "NamespaceContentRemaining", "status": "True",
                 "message": "Some resources are remaining: pods. has 1 resource instances"},
            ]},
        }));
        let Verdict::Waiting(why) = verdict(Some(&busy), Duration::from_secs(600)) else {
            panic!("a namespace a controller works on is never finalized by the test");
        };
        assert!(
            why.contains("NamespaceContentRemaining: Some resources are remaining: pods"),
            "{why}"
        );
        assert!(!why.contains("DiscoveryFailure"), "{why}");
    }

    #[test]
    fn a_namespace_not_being_deleted_is_no_stand_in_case() {
        let active = namespace(json!({"metadata": {"name": "t"}}));
        assert!(matches!(
            verdict(Some(&active), Duration::from_secs(600)),
            Verdict::Waiting(_)
        ));
    }
}
