//! The label on everything a cluster test creates. Its value names the test, for people; its
//! presence is what tests go by: an object that carries it is test debris (of this run, of
//! another test, or of a run that was killed) and may be deleted, one without it may be a
//! user's and is never touched.
//!
//! Objects a charm creates under test get the label added by the test right after they appear
//! ([`mark`]): the charm's server-side apply leaves labels it does not manage alone.

use std::collections::BTreeMap;
use std::fmt::Debug;

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde_json::json;

/// `kube-testing.k8slab.io/test`: the test that created the object.
pub const TEST: &str = "kube-testing.k8slab.io/test";

/// The field manager of the tests' own writes.
pub const FIELD_MANAGER: &str = "kube-testing";

/// The labels of an object `test` creates.
pub fn labels(test: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(TEST.to_owned(), label_value(test))])
}

/// A label selector matching every object made by a test.
pub fn any_test() -> String {
    TEST.to_owned()
}

/// Whether a test made the object.
pub fn made_by_a_test<K: Resource>(object: &K) -> bool {
    object
        .meta()
        .labels
        .as_ref()
        .is_some_and(|labels| labels.contains_key(TEST))
}

/// Adds the label to an object something else created (a charm's), so that a later run
/// recognises it as test debris.
pub async fn mark<K>(api: &Api<K>, name: &str, test: &str) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let patch = json!({ "metadata": { "labels": labels(test) } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
}

/// Labels object `name` as test-made if it exists unlabelled but was written by one of
/// `field_managers`, managers only tests ever used (an earlier version of a test that did not
/// label what it made). Returns whether it did.
pub async fn adopt<K>(
    api: &Api<K>,
    name: &str,
    field_managers: &[&str],
    test: &str,
) -> Result<bool, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let Some(object) = api.get_opt(name).await? else {
        return Ok(false);
    };
    let written_by_a_test = object.meta().managed_fields.iter().flatten().any(|m| {
        m.manager
            .as_deref()
            .is_some_and(|manager| field_managers.contains(&manager))
    });
    if made_by_a_test(&object) || !written_by_a_test {
        return Ok(false);
    }
    mark(api, name, test).await?;
    Ok(true)
}

/// Test names as label values: at most 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
fn label_value(test: &str) -> String {
    let cleaned: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.is_empty() {
        "test".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Namespace;

    #[test]
    fn test_names_become_valid_label_values() {
        assert_eq!(
            label_value("image_backup::crd and rbac"),
            "image_backup--crd-and-rbac"
        );
        assert_eq!(label_value("--x--"), "x");
        assert_eq!(label_value("::"), "test");
        assert_eq!(label_value(&"a".repeat(80)).len(), 63);
    }

    #[test]
    fn only_labelled_objects_are_test_debris() {
        let mut ns = Namespace::default();
        assert!(!made_by_a_test(&ns));
        ns.metadata.labels = Some(labels("t"));
        assert!(made_by_a_test(&ns));
    }
}
