//! Helpers shared by the end-to-end test files (each test file compiles its own copy, so the
//! `CARGO_BIN_EXE_*` and `CARGO_TARGET_TMPDIR` of integration tests are available here).

#![allow(dead_code)] // Each test file uses a part.

use std::io::Write;
use std::path::{Path, PathBuf};

use integration_tests::model::ModelError;
use integration_tests::{Deploy, Model, packed};

/// The charm crate in `dir` (relative to this crate) packed around `binary`; packed once per
/// test process (`packed::pack` caches).
pub fn pack(dir: &str, binary: &str) -> PathBuf {
    packed::pack(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(dir),
        Path::new(binary),
        Path::new(env!("CARGO_TARGET_TMPDIR")),
    )
    .unwrap()
}

/// Written past the test harness's capture, so a skip shows in a plain `cargo test`.
pub fn say(who: &str, line: &str) {
    let _ = writeln!(std::io::stderr(), "{who} e2e: {line}");
}

/// The cloudcasa charm as its tests and the tests of charms related to it deploy it.
pub mod cloudcasa {
    use super::*;

    pub const APP: &str = "cloudcasa";
    pub const UNIT: &str = "cloudcasa/0";
    pub const CONTAINER: &str = "cloudcasa";
    pub const IMAGE: &str = "docker.io/catalogicsoftware/amds-kagent:latest";

    pub fn charm() -> PathBuf {
        pack("../cloudcasa-charm", env!("CARGO_BIN_EXE_charm-cloudcasa"))
    }

    /// `juju deploy cloudcasa --resource cloudcasa-image=<IMAGE>`, with `env` for its hooks.
    pub fn deploy(model: &mut Model, env: &[(&str, &str)]) -> Result<(), ModelError> {
        let resource =
            integration_tests::resource::oci_image(model.dir(), "cloudcasa-image", IMAGE).map_err(
                |source| ModelError::Io {
                    context: "writing the cloudcasa-image resource".into(),
                    source,
                },
            )?;
        let mut spec = Deploy::new(charm()).resource("cloudcasa-image", resource);
        for (k, v) in env {
            spec = spec.env(k, v);
        }
        model.deploy(APP, spec)
    }
}

/// The image-backup charm as the tests of it deploy it: its hooks reach a fake controller
/// (`image_backup_charm::testing`) at the address `integration_tests::image_backup` reads.
pub mod image_backup {
    use super::*;
    use image_backup_charm::testing::{ControllerServer, FakeController};
    use integration_tests::image_backup::CONTROLLER_API_ENV;

    pub const APP: &str = "image-backup";
    pub const UNIT: &str = "image-backup/0";
    /// The workload image the `controller-image` resource names.
    pub const WORKLOAD_IMAGE: &str = "ghcr.io/example/image-backup:1.0";

    pub fn charm() -> PathBuf {
        pack(
            "../image-backup/charm",
            env!("CARGO_BIN_EXE_charm-image-backup"),
        )
    }

    /// `juju deploy image-backup --resource controller-image=...`, with `env` for its hooks
    /// and `controller` served for them; the server lives as long as the returned value.
    pub fn deploy(
        model: &mut Model,
        controller: &FakeController,
        env: &[(&str, &str)],
    ) -> Result<ControllerServer, ModelError> {
        let server = controller.serve();
        let resource =
            integration_tests::resource::oci_image(model.dir(), "controller-image", WORKLOAD_IMAGE)
                .map_err(|source| ModelError::Io {
                    context: "writing the controller-image resource".into(),
                    source,
                })?;
        let mut spec = Deploy::new(charm())
            .resource("controller-image", resource)
            .env(CONTROLLER_API_ENV, &server.address);
        for (k, v) in env {
            spec = spec.env(k, v);
        }
        model.deploy(APP, spec)?;
        Ok(server)
    }
}

/// Looks at the cluster `KUBECONFIG` names, for the tests that take one (each blocks on the
/// runtime `kubeconfig_client` returns).
pub mod live {
    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Patch, PatchParams};
    use kube::{Api, Client, Resource};
    use tokio::runtime::Runtime;

    /// The labels the charms put on what they apply.
    pub const LABEL_APP: &str = "app.juju.is/created-by";
    pub const LABEL_MODEL: &str = "model.juju.is/name";

    pub fn get<K>(runtime: &Runtime, api: Api<K>, name: &str) -> Option<K>
    where
        K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        runtime.block_on(api.get_opt(name)).unwrap()
    }

    /// Whether `labels` say application `app` of model `model` applied the object.
    pub fn made_by(
        labels: &std::collections::BTreeMap<String, String>,
        model: &str,
        app: &str,
    ) -> bool {
        let label = |key: &str| labels.get(key).map(String::as_str);
        label(LABEL_MODEL) == Some(model) && label(LABEL_APP) == Some(app)
    }

    /// Why the CRD `name` is not the test's to touch, if it exists and field manager `manager`
    /// never applied it (a controller installed some other way).
    pub fn foreign_crd(
        runtime: &Runtime,
        client: &Client,
        name: &str,
        manager: &str,
    ) -> Option<String> {
        let crd: CustomResourceDefinition = get(runtime, Api::all(client.clone()), name)?;
        let managers = crd.metadata.managed_fields.unwrap_or_default();
        (!managers
            .iter()
            .any(|m| m.manager.as_deref() == Some(manager)))
        .then(|| format!("CRD {name} exists and no image-backup charm applied it"))
    }

    /// The namespace `name`, as Juju would have made it for a model; left in place afterwards
    /// (a bare API server never finishes deleting a namespace, and the next run needs it).
    pub fn ensure_namespace(runtime: &Runtime, client: &Client, name: &str) {
        let api: Api<Namespace> = Api::all(client.clone());
        let ns = serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name },
        });
        let params = PatchParams::apply("image-backup-e2e");
        runtime
            .block_on(api.patch(name, &params, &Patch::Apply(ns)))
            .unwrap();
    }
}
