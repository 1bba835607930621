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
