//! Committed YAML manifests (`deploy/*.yaml`) applied as they are, plus the test label, and
//! removed again: the way an operator would `kubectl apply -f` them.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::core::discovery::{ApiCapabilities, ApiResource, Scope};
use kube::discovery::Discovery;
use kube::{Api, Client, ResourceExt};
use serde::Deserialize;

use crate::{labels, wait};

/// The objects of a multi-document YAML text.
pub fn parse(yaml: &str) -> Result<Vec<DynamicObject>, String> {
    let mut objects = Vec::new();
    for document in serde_yaml::Deserializer::from_str(yaml) {
        let value = serde_yaml::Value::deserialize(document).map_err(|e| e.to_string())?;
        if value.is_null() {
            continue;
        }
        objects.push(serde_yaml::from_value(value).map_err(|e| e.to_string())?);
    }
    Ok(objects)
}

/// `Kind namespace/name` of an object, for messages.
pub fn describe(object: &DynamicObject) -> String {
    let kind = object
        .types
        .as_ref()
        .map(|t| t.kind.as_str())
        .unwrap_or("?");
    match object.namespace() {
        Some(ns) => format!("{kind} {ns}/{}", object.name_any()),
        None => format!("{kind} {}", object.name_any()),
    }
}

/// The API of each object, resolved once by discovery.
pub struct Objects {
    client: Client,
    objects: Vec<(DynamicObject, ApiResource, ApiCapabilities)>,
}

impl Objects {
    pub async fn resolve(client: &Client, objects: Vec<DynamicObject>) -> Result<Self, String> {
        let discovery = Discovery::new(client.clone())
            .run()
            .await
            .map_err(|e| format!("discovering the API's resources: {e}"))?;
        let mut resolved = Vec::new();
        for object in objects {
            let types = object
                .types
                .clone()
                .ok_or_else(|| format!("{} has no apiVersion/kind", object.name_any()))?;
            let gvk = GroupVersionKind::try_from(&types).map_err(|e| e.to_string())?;
            let (resource, caps) = discovery
                .resolve_gvk(&gvk)
                .ok_or_else(|| format!("the API server does not serve {}", describe(&object)))?;
            resolved.push((object, resource, caps));
        }
        Ok(Objects {
            client: client.clone(),
            objects: resolved,
        })
    }

    fn api(
        &self,
        object: &DynamicObject,
        resource: &ApiResource,
        caps: &ApiCapabilities,
    ) -> Api<DynamicObject> {
        match (&caps.scope, object.namespace()) {
            (Scope::Namespaced, Some(ns)) => {
                Api::namespaced_with(self.client.clone(), &ns, resource)
            }
            _ => Api::all_with(self.client.clone(), resource),
        }
    }

    /// Those of the objects that exist without the test label: a user's, not to be touched.
    pub async fn foreign(&self) -> Result<Vec<String>, String> {
        let mut foreign = Vec::new();
        for (object, resource, caps) in &self.objects {
            let found = self
                .api(object, resource, caps)
                .get_opt(&object.name_any())
                .await
                .map_err(|e| format!("reading {}: {e}", describe(object)))?;
            if found.is_some_and(|f| !labels::made_by_a_test(&f)) {
                foreign.push(describe(object));
            }
        }
        Ok(foreign)
    }

    /// Server-side applies every object, with the test label added.
    pub async fn apply(&self, test: &str) -> Result<(), String> {
        let params = PatchParams::apply(labels::FIELD_MANAGER).force();
        for (object, resource, caps) in &self.objects {
            let mut labelled = object.clone();
            labelled.labels_mut().extend(labels::labels(test));
            self.api(object, resource, caps)
                .patch(&object.name_any(), &params, &Patch::Apply(&labelled))
                .await
                .map_err(|e| format!("applying {}: {e}", describe(object)))?;
        }
        Ok(())
    }

    /// Deletes those of the objects that carry the test label, last first, and waits (at most
    /// `limit` each) until they are gone.
    pub async fn delete(&self, limit: Duration) -> Result<(), String> {
        for (object, resource, caps) in self.objects.iter().rev() {
            let api = self.api(object, resource, caps);
            let name = object.name_any();
            match api.get_opt(&name).await {
                Ok(Some(found)) if labels::made_by_a_test(&found) => {}
                Ok(_) => continue,
                Err(e) => return Err(format!("reading {}: {e}", describe(object))),
            }
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => continue,
                Err(e) => return Err(format!("deleting {}: {e}", describe(object))),
            }
            let what = format!("{} to be deleted", describe(object));
            wait::until(&what, limit, Duration::from_secs(1), || {
                let api = api.clone();
                let name = name.clone();
                async move {
                    match api.get_opt(&name).await {
                        Ok(None) => Ok(()),
                        Ok(Some(o)) => {
                            Err(format!("still there (finalizers {:?})", o.finalizers()))
                        }
                        Err(e) => Err(format!("reading it: {e}")),
                    }
                }
            })
            .await
            .map_err(|t| t.to_string())?;
        }
        Ok(())
    }
}

/// Waits, at most `limit`, until the CustomResourceDefinition `name` is Established (its
/// resources are served).
pub async fn wait_established(client: &Client, name: &str, limit: Duration) -> Result<(), String> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let what = format!("CRD {name} to be established");
    wait::until(&what, limit, Duration::from_millis(500), || {
        let api = api.clone();
        async move {
            let crd = api
                .get_opt(name)
                .await
                .map_err(|e| format!("reading it: {e}"))?
                .ok_or("it does not exist")?;
            let established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                Ok(())
            } else {
                Err("not Established yet".into())
            }
        }
    })
    .await
    .map_err(|t| t.to_string())
}

/// `object` (any typed Kubernetes object) as a [`DynamicObject`] for [`Objects::resolve`].
pub fn dynamic<K: kube::Resource<DynamicType = ()> + serde::Serialize>(
    object: &K,
) -> Result<DynamicObject, String> {
    let mut value = serde_json::to_value(object).map_err(|e| e.to_string())?;
    value["apiVersion"] = K::api_version(&()).into();
    value["kind"] = K::kind(&()).into();
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_manifests_parse() {
        let root = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../image-backup/controller/deploy/"
        );
        for file in ["crd.yaml", "rbac.yaml"] {
            let yaml = std::fs::read_to_string(format!("{root}{file}")).unwrap();
            let objects = parse(&yaml).unwrap();
            assert!(!objects.is_empty(), "{file}");
            for o in &objects {
                assert!(o.types.is_some(), "{file}: {}", describe(o));
            }
        }
    }
}
