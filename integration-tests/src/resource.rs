//! Resources as Juju hands them to a charm's hooks.

use std::io;
use std::path::{Path, PathBuf};

/// An `oci-image` resource: the YAML file `resource-get <name>` returns a path to (the image's
/// registry path and pull credentials, here none), written as `<dir>/<name>.yaml`.
pub fn oci_image(dir: &Path, name: &str, image: &str) -> io::Result<PathBuf> {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!("registrypath: {image}\nusername: ''\npassword: ''\n"),
    )?;
    Ok(path)
}
