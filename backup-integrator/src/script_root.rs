//! Where the units' script directories live.
//!
//! In production: `/opt/backup-integrator-charm`, as the Python charm, so the script paths in
//! the relation (and in the backup agent's configuration) do not change on refresh. Two ways to
//! move it, for tests only:
//! - the environment variable [`ENV_VAR`] (`BACKUP_INTEGRATOR_SCRIPT_ROOT`), read at every hook:
//!   for end-to-end tests that run the packed charm as a process (Juju never sets it). It must
//!   be an absolute, UTF-8 path: the script paths derived from it go into the relation;
//! - `scoped` (cargo feature `testing`), a per-thread override for in-process
//!   state-transition tests, which run in parallel threads with one temporary directory each.
//!   charm-core's testing harness runs the charm on the calling thread (current-thread runtime),
//!   so the override reaches it; a test that checks its files are in its temporary directory
//!   would notice if that ever changed.

use std::ffi::OsString;
#[cfg(any(test, feature = "testing"))]
use std::path::PathBuf;

/// The production root.
pub const DEFAULT: &str = "/opt/backup-integrator-charm";

/// The environment variable that moves the root (tests only).
pub const ENV_VAR: &str = "BACKUP_INTEGRATOR_SCRIPT_ROOT";

/// A root that cannot hold scripts whose paths go into the relation (which holds UTF-8 text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootError {
    #[error("script root {0:?} (from {ENV_VAR}) is not an absolute path")]
    Relative(String),
    #[error("script root {0:?} (from {ENV_VAR}) is not valid UTF-8")]
    NotUtf8(OsString),
}

/// The root for this hook: the scoped override, else [`ENV_VAR`] when set and non-empty, else
/// [`DEFAULT`].
pub fn current() -> Result<String, RootError> {
    #[cfg(any(test, feature = "testing"))]
    let scoped = scoped::current().map(PathBuf::into_os_string);
    #[cfg(not(any(test, feature = "testing")))]
    let scoped = None;
    resolve(scoped, std::env::var_os(ENV_VAR))
}

fn resolve(scoped: Option<OsString>, env: Option<OsString>) -> Result<String, RootError> {
    match scoped.or(env.filter(|value| !value.is_empty())) {
        Some(value) => checked(value),
        None => Ok(DEFAULT.to_owned()),
    }
}

fn checked(value: OsString) -> Result<String, RootError> {
    let value = value.into_string().map_err(RootError::NotUtf8)?;
    if !value.starts_with('/') {
        return Err(RootError::Relative(value));
    }
    Ok(value)
}

#[cfg(any(test, feature = "testing"))]
pub use scoped::scoped;

#[cfg(any(test, feature = "testing"))]
mod scoped {
    use std::cell::RefCell;
    use std::path::{Path, PathBuf};

    thread_local! {
        static OVERRIDE: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
    }

    pub(super) fn current() -> Option<PathBuf> {
        OVERRIDE.with(|o| o.borrow().clone())
    }

    /// Runs `f` with the script root at `root` on this thread (restored afterwards, also when
    /// `f` panics).
    pub fn scoped<T>(root: &Path, f: impl FnOnce() -> T) -> T {
        struct Restore(Option<PathBuf>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                OVERRIDE.with(|o| *o.borrow_mut() = previous);
            }
        }
        let previous = OVERRIDE.with(|o| o.borrow_mut().replace(root.to_path_buf()));
        let _restore = Restore(previous);
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;
    use std::path::Path;

    #[test]
    fn default_unless_overridden() {
        let root = |scoped: Option<&str>, env: Option<&str>| {
            resolve(scoped.map(Into::into), env.map(Into::into)).unwrap()
        };
        assert_eq!(root(None, None), "/opt/backup-integrator-charm");
        assert_eq!(root(None, Some("")), DEFAULT);
        assert_eq!(root(None, Some("/tmp/e")), "/tmp/e");
        assert_eq!(root(Some("/tmp/s"), Some("/tmp/e")), "/tmp/s");
    }

    #[test]
    fn absolute_utf8_roots_only() {
        assert_eq!(checked("/tmp/x".into()), Ok("/tmp/x".to_owned()));
        let err = checked("tmp/x".into()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "script root \"tmp/x\" (from BACKUP_INTEGRATOR_SCRIPT_ROOT) is not an absolute path"
        );
        let err = checked(OsString::from_vec(b"/tmp/\xff".to_vec())).unwrap_err();
        assert!(err.to_string().contains("\\xFF"), "{err}");
    }

    #[test]
    fn scoped_roots_are_checked_too() {
        let err = scoped(Path::new("relative"), current).unwrap_err();
        assert_eq!(err, RootError::Relative("relative".into()));
    }

    #[test]
    fn scoped_override_is_restored() {
        let outer = Path::new("/outer");
        let inner = Path::new("/inner");
        scoped(outer, || {
            assert_eq!(current().unwrap(), "/outer");
            let result = std::panic::catch_unwind(|| {
                scoped(inner, || {
                    assert_eq!(current().unwrap(), "/inner");
                    panic!("boom");
                })
            });
            assert!(result.is_err());
            assert_eq!(current().unwrap(), "/outer");
        });
        assert_eq!(scoped::current(), None);
    }
}
