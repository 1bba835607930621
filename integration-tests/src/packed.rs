//! Charms packed for end-to-end tests, with `cargo xtask pack`'s own packing code.
//!
//! A release musl build of each charm in a target directory of its own takes minutes on a
//! cold machine, too long for `cargo test`. So this crate has one thin `[[bin]]` per charm
//! (`charm-backup-integrator`, `charm-cloudcasa`, and the test charm `charm-backup-agent`)
//! whose `main` is the charm crate's, and `cargo test` builds them in the normal target
//! directory with everything else. A test packs one of them with the charm's
//! `charmcraft.yaml` through [`xtask::pack()`], exactly as the release archive is made (same
//! metadata split, same layout, `dispatch` mode 0755), only with a debug, host-linked
//! binary, and deploys the `.charm` file.
//!
//! The workspace profile strips these binaries' debug info (a debug build with it is about
//! 100 MB, without it 7 to 25 MB), and each charm is packed once per test process and reused
//! ([`pack`] caches by charm directory and binary). Archives go under the
//! directory the test names (`CARGO_TARGET_TMPDIR`), written to a temporary name and renamed,
//! so two test processes never see half a file.
//!
//! A charm crate added later gets its `[[bin]]` here and a test file under `tests/` that
//! calls [`pack`] with its crate directory and `env!("CARGO_BIN_EXE_<bin>")`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Packing failed.
#[derive(Debug, thiserror::Error)]
#[error("packing {} around {}: {message}", charm_dir.display(), binary.display())]
pub struct PackError {
    pub charm_dir: PathBuf,
    pub binary: PathBuf,
    /// The packer's error with its causes.
    pub message: String,
}

type Slot = Arc<OnceLock<Result<PathBuf, String>>>;

fn cache() -> &'static Mutex<HashMap<(PathBuf, PathBuf), Slot>> {
    static CACHE: OnceLock<Mutex<HashMap<(PathBuf, PathBuf), Slot>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The `.charm` of the charm project in `charm_dir` (its `charmcraft.yaml`) with `binary` as
/// `dispatch`, written under `out_root/<charm dir name>/`; packed at most once per process.
pub fn pack(charm_dir: &Path, binary: &Path, out_root: &Path) -> Result<PathBuf, PackError> {
    let error = |message: String| PackError {
        charm_dir: charm_dir.to_owned(),
        binary: binary.to_owned(),
        message,
    };
    let slot = {
        let mut cache = cache()
            .lock()
            .map_err(|_| error("an earlier packing panicked".into()))?;
        Arc::clone(
            cache
                .entry((charm_dir.to_owned(), binary.to_owned()))
                .or_default(),
        )
    };
    // Other charms pack in parallel; tests of this charm wait for the first packing.
    slot.get_or_init(|| pack_now(charm_dir, binary, out_root))
        .clone()
        .map_err(error)
}

fn pack_now(charm_dir: &Path, binary: &Path, out_root: &Path) -> Result<PathBuf, String> {
    let name = charm_dir
        .file_name()
        .ok_or_else(|| "the charm directory has no name".to_owned())?;
    let out = out_root.join(name);
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".packing-")
        .tempdir_in(&out)
        .map_err(|e| format!("creating a directory in {}: {e}", out.display()))?;
    let files =
        xtask::pack(charm_dir, binary, staging.path(), false).map_err(|e| format!("{e:#}"))?;
    // One archive per platform, identical but for manifest.yaml: any will do.
    let first = files
        .first()
        .ok_or_else(|| "charmcraft.yaml names no platform".to_owned())?;
    let file_name = first
        .file_name()
        .ok_or_else(|| format!("{} has no file name", first.display()))?;
    let dest = out.join(file_name);
    std::fs::rename(first, &dest)
        .map_err(|e| format!("moving {} to {}: {e}", first.display(), dest.display()))?;
    Ok(dest)
}
