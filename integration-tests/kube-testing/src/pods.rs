//! What a workload's pods are doing, for failure messages, and when a rollout is finished.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};
use kube::api::ListParams;
use kube::{Api, Client};

use crate::wait;

/// `kubectl rollout status deployment/<name>`'s verdict: `Ok` once the deployment controller
/// has seen the latest spec and every desired replica runs it and is available, else what it
/// is waiting for. (Only a deployment controller writes the status this reads.)
pub fn rollout_status(deployment: &Deployment) -> Result<(), String> {
    let status = deployment.status.clone().unwrap_or_default();
    let observed = status.observed_generation.unwrap_or(0);
    if deployment.metadata.generation.unwrap_or(0) > observed {
        return Err("the deployment controller has not observed the latest spec".into());
    }
    let stalled = status.conditions.iter().flatten().find(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if let Some(c) = stalled {
        return Err(format!(
            "progress deadline exceeded: {}",
            c.message.as_deref().unwrap_or("")
        ));
    }
    let desired = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < desired {
        Err(format!("{updated} of {desired} new replicas updated"))
    } else if total > updated {
        Err(format!(
            "{} old replicas pending termination",
            total - updated
        ))
    } else if available < updated {
        Err(format!(
            "{available} of {updated} updated replicas available"
        ))
    } else {
        Ok(())
    }
}

/// Waits, at most `limit`, until deployment `name` in `namespace` is rolled out; the timeout
/// message has the rollout's state, its pods' and the namespace's recent events.
pub async fn wait_rolled_out(
    client: &Client,
    namespace: &str,
    name: &str,
    limit: Duration,
) -> Result<Deployment, String> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let what = format!("deployment {namespace}/{name} to roll out");
    let result = wait::until(&what, limit, Duration::from_secs(2), || {
        let api = api.clone();
        async move {
            let deployment = api
                .get_opt(name)
                .await
                .map_err(|e| format!("reading it: {e}"))?
                .ok_or("it does not exist")?;
            rollout_status(&deployment).map(|()| deployment)
        }
    })
    .await;
    match result {
        Ok(deployment) => Ok(deployment),
        Err(timeout) => {
            let selector = api
                .get_opt(name)
                .await
                .ok()
                .flatten()
                .and_then(|d| d.spec)
                .and_then(|s| s.selector.match_labels)
                .map(|labels| {
                    labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            Err(format!(
                "{timeout}\n{}",
                describe(client, namespace, &selector).await
            ))
        }
    }
}

/// The pods matching `selector` in `namespace` (phase, unmet conditions, containers' states
/// and restarts) and the namespace's last events: what `kubectl describe` would show.
pub async fn describe(client: &Client, namespace: &str, selector: &str) -> String {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut out = Vec::new();
    match pods.list(&ListParams::default().labels(selector)).await {
        Ok(list) if list.items.is_empty() => out.push(format!("no pod matches {selector:?}")),
        Ok(list) => out.extend(list.items.iter().map(pod_line)),
        Err(e) => out.push(format!("listing pods failed: {e}")),
    }
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    match events.list(&ListParams::default()).await {
        Ok(list) => {
            let mut items = list.items;
            items.sort_by_key(|e| e.last_timestamp.clone().map(|t| t.0));
            let start = items.len().saturating_sub(12);
            out.extend(items[start..].iter().map(|e| {
                format!(
                    "event {} {}/{}: {}: {}",
                    e.type_.as_deref().unwrap_or(""),
                    e.involved_object.kind.as_deref().unwrap_or(""),
                    e.involved_object.name.as_deref().unwrap_or(""),
                    e.reason.as_deref().unwrap_or(""),
                    e.message.as_deref().unwrap_or("")
                )
            }));
        }
        Err(e) => out.push(format!("listing events failed: {e}")),
    }
    out.join("\n")
}

fn pod_line(pod: &Pod) -> String {
    let name = pod.metadata.name.as_deref().unwrap_or("?");
    let status = pod.status.clone().unwrap_or_default();
    let mut parts = vec![format!(
        "pod {name}: phase {}",
        status.phase.as_deref().unwrap_or("unknown")
    )];
    for c in status
        .conditions
        .iter()
        .flatten()
        .filter(|c| c.status != "True")
    {
        parts.push(format!(
            "{} not true ({}: {})",
            c.type_,
            c.reason.as_deref().unwrap_or(""),
            c.message.as_deref().unwrap_or("")
        ));
    }
    for c in container_statuses(pod) {
        let state = c.state.clone().unwrap_or_default();
        let now = if let Some(w) = state.waiting {
            format!(
                "waiting {}: {}",
                w.reason.unwrap_or_default(),
                w.message.unwrap_or_default()
            )
        } else if let Some(t) = state.terminated {
            format!(
                "terminated {} (exit {})",
                t.reason.unwrap_or_default(),
                t.exit_code
            )
        } else {
            "running".to_owned()
        };
        parts.push(format!(
            "container {}: {now}, {} restarts",
            c.name, c.restart_count
        ));
    }
    parts.join("; ")
}

/// Restarts of every container of the pods matching `selector` in `namespace`.
pub async fn restarts(
    client: &Client,
    namespace: &str,
    selector: &str,
) -> Result<i32, kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let list = pods.list(&ListParams::default().labels(selector)).await?;
    Ok(list
        .items
        .iter()
        .flat_map(container_statuses)
        .map(|c| c.restart_count)
        .sum())
}

/// The statuses of a pod's init containers, then of its containers.
pub fn container_statuses(pod: &Pod) -> impl Iterator<Item = &ContainerStatus> {
    let status = pod.status.as_ref();
    let init = status.and_then(|s| s.init_container_statuses.as_ref());
    let main = status.and_then(|s| s.container_statuses.as_ref());
    init.into_iter().flatten().chain(main.into_iter().flatten())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(generation: i64, status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "generation": generation},
            "spec": {"replicas": 1, "selector": {}, "template": {}},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn rolled_out_only_when_the_latest_spec_runs_available() {
        let fresh = deployment(2, json!({"observedGeneration": 1}));
        assert!(rollout_status(&fresh).unwrap_err().contains("not observed"));
        let old_left = deployment(
            2,
            json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1}),
        );
        assert!(
            rollout_status(&old_left)
                .unwrap_err()
                .contains("old replicas")
        );
        let starting = deployment(
            2,
            json!({"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 0}),
        );
        assert!(rollout_status(&starting).unwrap_err().contains("0 of 1"));
        let done = deployment(
            2,
            json!({"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}),
        );
        rollout_status(&done).unwrap();
    }
}
