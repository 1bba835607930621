//! The agent's image: the charm's `cloudcasa-image` resource, as Juju put it in the charm's own
//! pod. The agent runs the image the operator attached (`juju attach-resource`), so reading it
//! back from the running pod keeps the agent on exactly the attached version.

use std::fmt;

use k8s_openapi::api::core::v1::Pod;

/// The workload container whose image is the `cloudcasa-image` resource (see `charmcraft.yaml`).
pub const CHARM_CONTAINER: &str = "cloudcasa";

/// An image reference as Kubernetes takes it in a container spec.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Image(String);

/// An image reference that cannot go into a container spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image reference {0:?} is empty or contains whitespace")]
pub struct ImageError(pub String);

impl Image {
    /// Checks the little that is ours to check: the registry resolves the rest.
    pub fn parse(reference: &str) -> Result<Self, ImageError> {
        if reference.is_empty()
            || reference
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ImageError(reference.to_owned()));
        }
        Ok(Self(reference.to_owned()))
    }

    /// The reference.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Juju unit name, `<application>/<number>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnitName {
    application: String,
    number: u32,
}

/// A string that is not `<application>/<number>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unit name {0:?} is not of the form <application>/<number>")]
pub struct UnitNameError(pub String);

impl UnitName {
    /// Parses `JUJU_UNIT_NAME`.
    pub fn parse(name: &str) -> Result<Self, UnitNameError> {
        let bad = || UnitNameError(name.to_owned());
        let (application, number) = name.split_once('/').ok_or_else(bad)?;
        let valid_app = !application.is_empty()
            && application
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        // `u32::from_str` accepts a leading `+`; Juju unit numbers never have one.
        if !valid_app || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        Ok(Self {
            application: application.to_owned(),
            number: number.parse().map_err(|_| bad())?,
        })
    }

    /// The application part.
    pub fn application(&self) -> &str {
        &self.application
    }

    /// The name of the unit's pod: Juju runs sidecar charms as a StatefulSet named after the
    /// application, so unit `cloudcasa/0` is pod `cloudcasa-0`.
    pub fn pod_name(&self) -> String {
        format!("{}-{}", self.application, self.number)
    }
}

impl fmt::Display for UnitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.application, self.number)
    }
}

/// Why a pod spec gave no usable image for a container.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PodImageError {
    /// No container of that name in the pod spec.
    #[error("pod {pod} has no container {container:?}")]
    NoContainer {
        /// Pod name.
        pod: String,
        /// Container name looked for.
        container: String,
    },
    /// The container's image field is missing or unusable.
    #[error("container {container:?} of pod {pod}: {source}")]
    BadImage {
        /// Pod name.
        pod: String,
        /// Container name.
        container: String,
        /// What is wrong with the reference.
        source: ImageError,
    },
}

/// The image of container `container` in `pod`'s spec.
pub fn container_image(pod: &Pod, container: &str) -> Result<Image, PodImageError> {
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let found = pod
        .spec
        .iter()
        .flat_map(|spec| spec.containers.iter())
        .find(|c| c.name == container)
        .ok_or_else(|| PodImageError::NoContainer {
            pod: pod_name.clone(),
            container: container.to_owned(),
        })?;
    Image::parse(found.image.as_deref().unwrap_or_default()).map_err(|source| {
        PodImageError::BadImage {
            pod: pod_name,
            container: container.to_owned(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use kube::api::ObjectMeta;

    fn pod(containers: &[(&str, Option<&str>)]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("cloudcasa-0".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: containers
                    .iter()
                    .map(|(name, image)| Container {
                        name: (*name).into(),
                        image: image.map(Into::into),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn unit_names_map_to_pod_names() {
        let unit = UnitName::parse("cloudcasa/0").unwrap();
        assert_eq!(unit.pod_name(), "cloudcasa-0");
        assert_eq!(unit.application(), "cloudcasa");
        assert_eq!(unit.to_string(), "cloudcasa/0");
        assert_eq!(
            UnitName::parse("cloudcasa-k8s/12").unwrap().pod_name(),
            "cloudcasa-k8s-12"
        );
    }

    #[test]
    fn rejects_malformed_unit_names() {
        for bad in [
            "",
            "cloudcasa",
            "cloudcasa/",
            "/0",
            "cloudcasa/+1",
            "Cloud/0",
            "a/b/0",
        ] {
            assert_eq!(
                UnitName::parse(bad),
                Err(UnitNameError(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn finds_the_named_container_image_among_others() {
        let pod = pod(&[
            ("charm", Some("jujusolutions/charm-base:ubuntu-22.04")),
            (
                "cloudcasa",
                Some("docker.io/catalogicsoftware/amds-kagent:3.1.0"),
            ),
        ]);
        assert_eq!(
            container_image(&pod, CHARM_CONTAINER).unwrap().as_str(),
            "docker.io/catalogicsoftware/amds-kagent:3.1.0"
        );
    }

    #[test]
    fn missing_container_or_image_is_an_error_naming_them() {
        let err = container_image(&pod(&[("charm", Some("x"))]), "cloudcasa").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"pod cloudcasa-0 has no container "cloudcasa""#
        );
        let err = container_image(&pod(&[("cloudcasa", None)]), "cloudcasa").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"container "cloudcasa" of pod cloudcasa-0: image reference "" is empty or contains whitespace"#
        );
    }

    #[test]
    fn image_references_are_checked() {
        assert!(Image::parse("registry.local:5000/a/b@sha256:0123").is_ok());
        assert!(Image::parse("").is_err());
        assert!(Image::parse("a b").is_err());
        assert!(Image::parse("a\n").is_err());
    }
}
