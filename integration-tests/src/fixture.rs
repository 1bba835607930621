//! A tiny charm for tests: `metadata.yaml` (and optionally `config.yaml`, `actions.yaml`)
//! plus a shell `dispatch` that runs `scripts/<hook or action name>` when the test provided
//! one, with `set -e` so a failing hook tool fails the hook. It stands in for principals and
//! remote applications in scenarios, and exercises the driver before real charms exist.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const DISPATCH: &str = r#"#!/bin/sh
# Fixture charm: runs scripts/<hook or action name> if the test wrote one, then scripts/any.
set -e
name="${JUJU_DISPATCH_PATH#*/}"
if [ -f "scripts/$name" ]; then . "./scripts/$name"; fi
if [ -f scripts/any ]; then . ./scripts/any; fi
"#;

/// A fixture charm in a temporary directory.
pub struct ScriptCharm {
    dir: tempfile::TempDir,
}

impl ScriptCharm {
    /// A charm with this `metadata.yaml`.
    pub fn new(metadata: &str) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("fixture-charm-")
            .tempdir()?;
        fs::write(dir.path().join("metadata.yaml"), metadata)?;
        fs::create_dir(dir.path().join("scripts"))?;
        let dispatch = dir.path().join("dispatch");
        fs::write(&dispatch, DISPATCH)?;
        fs::set_permissions(&dispatch, fs::Permissions::from_mode(0o755))?;
        Ok(ScriptCharm { dir })
    }

    pub fn config(self, yaml: &str) -> io::Result<Self> {
        fs::write(self.dir.path().join("config.yaml"), yaml)?;
        Ok(self)
    }

    pub fn actions(self, yaml: &str) -> io::Result<Self> {
        fs::write(self.dir.path().join("actions.yaml"), yaml)?;
        Ok(self)
    }

    /// Shell run (sourced, under `set -e`) when hook or action `name` fires; `any` runs for
    /// every hook.
    pub fn on(self, name: &str, script: &str) -> io::Result<Self> {
        fs::write(self.dir.path().join("scripts").join(name), script)?;
        Ok(self)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}
