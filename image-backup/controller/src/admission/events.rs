//! Events about rewrites, posted off the admission path.
//!
//! At admission the pod does not exist yet: it has no uid, and pods of a ReplicaSet, Job or
//! StatefulSet have no name either (only `generateName`). So an Event regards:
//! - the pod's controlling owner (its `ownerReferences` are set at admission and carry a uid):
//!   `kubectl describe replicaset/...` shows it, and one Event covers all its pods;
//! - else the pod by namespace and name (found by `kubectl get events
//!   --field-selector involvedObject.name=<pod>`);
//! - else (a `generateName` pod without owner) none: the decision is still counted in
//!   `/metrics`, listed by `ListAdmissions` and recorded in the pod's annotation.
//!
//! Posting never delays an admission: events go through a bounded queue to one task, which
//! drops an event the same object got less than [`REPEAT_AFTER`] ago (a rollout of 100 pods is
//! one Event, not 100 API writes) and drops events when the queue is full.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::crd::MANAGER;

/// Events waiting to be posted; more are dropped.
const QUEUE: usize = 256;
/// The same note on the same object is posted again only after this long.
pub const REPEAT_AFTER: Duration = Duration::from_secs(300);
/// Remembered notes beyond which old ones are forgotten.
const REMEMBERED: usize = 4096;

/// Sends events to the posting task.
#[derive(Clone)]
pub struct Events {
    tx: mpsc::Sender<(ObjectReference, String)>,
}

impl Events {
    /// Starts the posting task; it ends when every `Events` is dropped.
    pub fn start(client: Client, identity: &str) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let recorder = Recorder::new(
            client,
            Reporter {
                controller: MANAGER.to_string(),
                instance: Some(identity.to_string()),
            },
        );
        tokio::spawn(post(recorder, rx));
        Self { tx }
    }

    /// Queues `note` about `pod`'s admission, if the pod can be referred to at all.
    pub fn rewritten(&self, pod: &Pod, namespace: &str, note: String) {
        if let Some(on) = regarding(pod, namespace) {
            // Full: the API server is slow or we are flooded; events are for humans.
            let _ = self.tx.try_send((on, note));
        }
    }
}

async fn post(recorder: Recorder, mut rx: mpsc::Receiver<(ObjectReference, String)>) {
    let mut posted: HashMap<(String, String, String), Instant> = HashMap::new();
    while let Some((on, note)) = rx.recv().await {
        let now = Instant::now();
        let key = (
            on.uid.clone().unwrap_or_default(),
            on.name.clone().unwrap_or_default(),
            note.clone(),
        );
        if posted.get(&key).is_some_and(|at| now - *at < REPEAT_AFTER) {
            continue;
        }
        if posted.len() >= REMEMBERED {
            posted.retain(|_, at| now - *at < REPEAT_AFTER);
        }
        posted.insert(key, now);
        let event = Event {
            type_: EventType::Normal,
            reason: "BackupImageAdmitted".into(),
            note: Some(note),
            action: "Admit".into(),
            secondary: None,
        };
        if let Err(error) = recorder.publish(&event, &on).await {
            tracing::warn!(%error, object = ?on.name, "could not post admission event");
        }
    }
}

/// What an Event about `pod`'s admission regards; see the module docs.
pub fn regarding(pod: &Pod, namespace: &str) -> Option<ObjectReference> {
    let owners = pod.metadata.owner_references.iter().flatten();
    let owner = owners
        .clone()
        .find(|o| o.controller == Some(true))
        .or_else(|| owners.clone().next());
    if let Some(owner) = owner {
        return Some(ObjectReference {
            api_version: Some(owner.api_version.clone()),
            kind: Some(owner.kind.clone()),
            name: Some(owner.name.clone()),
            namespace: Some(namespace.to_string()),
            uid: Some(owner.uid.clone()),
            ..Default::default()
        });
    }
    let name = pod.metadata.name.as_ref().filter(|n| !n.is_empty())?;
    Some(ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some(name.clone()),
        namespace: Some(namespace.to_string()),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_regard_the_controlling_owner_then_the_named_pod() {
        let pod = |v| serde_json::from_value::<Pod>(v).unwrap();
        let owned = pod(
            json!({"metadata": {"generateName": "web-7d9f-", "ownerReferences": [
                {"apiVersion": "v1", "kind": "Other", "name": "x", "uid": "u0"},
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f", "uid": "u1", "controller": true}
            ]}}),
        );
        let on = regarding(&owned, "apps").unwrap();
        assert_eq!(
            (
                on.kind.as_deref(),
                on.name.as_deref(),
                on.uid.as_deref(),
                on.namespace.as_deref()
            ),
            (
                Some("ReplicaSet"),
                Some("web-7d9f"),
                Some("u1"),
                Some("apps")
            )
        );
        let named = regarding(&pod(json!({"metadata": {"name": "p"}})), "apps").unwrap();
        assert_eq!(
            (named.kind.as_deref(), named.name.as_deref(), named.uid),
            (Some("Pod"), Some("p"), None)
        );
        assert_eq!(
            regarding(&pod(json!({"metadata": {"generateName": "p-"}})), "apps"),
            None
        );
    }
}
