//! The script files: one per set `run-*` option, in the unit's directory, mode 0755.
//!
//! The backup agent may run a script at any moment, even while a hook changes it, so a script
//! is never written in place: the new content goes to a temporary file in the same directory
//! (same filesystem), made executable and synced, then renamed over the old one; a reader sees
//! the old script or the new one, never half of one. A script whose content and mode are right
//! is left alone (no new inode, no new mtime), so a hook that changes nothing touches nothing.

use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::config::ScriptOption;

/// Scripts are executable by everyone, writable by root (hooks run as root).
const MODE: u32 = 0o755;
/// Temporary files are `.<option>.<random>.tmp`: hidden, and recognisable as leftovers of a
/// hook that was killed between writing and renaming.
const TMP_SUFFIX: &str = ".tmp";

/// A filesystem operation on a script that failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}", path.display())]
pub struct ScriptError {
    action: &'static str,
    path: PathBuf,
    #[source]
    source: io::Error,
}

fn fail(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ScriptError {
    let path = path.to_path_buf();
    move |source| ScriptError {
        action,
        path,
        source,
    }
}

/// What [`ScriptDir::sync`] did to one script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Replaced,
    /// Same content; only the mode was wrong.
    ModeFixed,
    Unchanged,
    /// The option is unset: the file was removed.
    Deleted,
    /// The option is unset and there was no file.
    Absent,
}

/// A unit's script directory: `<root>/<unit name with / replaced by ->/scripts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptDir {
    unit_dir: String,
    dir: String,
}

impl ScriptDir {
    pub fn new(root: &str, unit: &str) -> ScriptDir {
        let unit_dir = format!("{}/{}", root.trim_end_matches('/'), unit.replace('/', "-"));
        let dir = format!("{unit_dir}/scripts");
        ScriptDir { unit_dir, dir }
    }

    /// The unit's directory (what `remove` deletes).
    pub fn unit_dir(&self) -> &Path {
        Path::new(&self.unit_dir)
    }

    /// The directory holding the scripts.
    pub fn dir(&self) -> &Path {
        Path::new(&self.dir)
    }

    /// The path of a script, as it goes into the relation.
    pub fn path(&self, option: ScriptOption) -> String {
        format!("{}/{}", self.dir, option.name())
    }

    /// Makes the directory hold exactly the scripts given: each `Some` content written (when
    /// different), each `None` deleted. Leftover temporary files go too, and the directories
    /// when nothing is left in them.
    pub fn sync<'a>(
        &self,
        scripts: impl IntoIterator<Item = (ScriptOption, Option<&'a str>)>,
    ) -> Result<Vec<(ScriptOption, Change)>, ScriptError> {
        let scripts: Vec<_> = scripts.into_iter().collect();
        if scripts.iter().any(|(_, content)| content.is_some()) {
            fs::create_dir_all(self.dir()).map_err(fail("create", self.dir()))?;
        }
        let mut changes = Vec::with_capacity(scripts.len());
        for (option, content) in &scripts {
            let path = PathBuf::from(self.path(*option));
            let change = match content {
                Some(content) => self.ensure(&path, content.as_bytes())?,
                None => delete(&path)?,
            };
            changes.push((*option, change));
        }
        self.tidy()?;
        Ok(changes)
    }

    /// Deletes the unit's directory and everything in it; `false` when there was none.
    pub fn remove(&self) -> Result<bool, ScriptError> {
        match fs::remove_dir_all(self.unit_dir()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(fail("remove", self.unit_dir())(e)),
        }
    }

    fn ensure(&self, path: &Path, content: &[u8]) -> Result<Change, ScriptError> {
        let meta = match fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.write(path, content)?;
                return Ok(Change::Created);
            }
            Err(e) => return Err(fail("inspect", path)(e)),
        };
        // A symlink or anything else that is not a regular file is replaced by one.
        if !meta.is_file() || fs::read(path).map_err(fail("read", path))? != content {
            self.write(path, content)?;
            return Ok(Change::Replaced);
        }
        if meta.permissions().mode() & 0o7777 == MODE {
            return Ok(Change::Unchanged);
        }
        fs::set_permissions(path, Permissions::from_mode(MODE)).map_err(fail("chmod", path))?;
        Ok(Change::ModeFixed)
    }

    /// Writes `content` to `path` atomically: temporary file, mode, fsync, rename, fsync of
    /// the directory (so the rename survives a crash).
    fn write(&self, path: &Path, content: &[u8]) -> Result<(), ScriptError> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.unwrap_or_default()))
            .suffix(TMP_SUFFIX)
            .tempfile_in(self.dir())
            .map_err(fail("create a temporary file in", self.dir()))?;
        tmp.write_all(content).map_err(fail("write", tmp.path()))?;
        // fchmod on the open file: the umask does not apply.
        tmp.as_file()
            .set_permissions(Permissions::from_mode(MODE))
            .map_err(fail("chmod", tmp.path()))?;
        tmp.as_file().sync_all().map_err(fail("sync", tmp.path()))?;
        tmp.persist(path)
            .map_err(|e| fail("rename a temporary file to", path)(e.error))?;
        File::open(self.dir())
            .and_then(|d| d.sync_all())
            .map_err(fail("sync", self.dir()))
    }

    /// Removes leftover temporary files, then the directories if they are empty.
    fn tidy(&self) -> Result<(), ScriptError> {
        let entries = match fs::read_dir(self.dir()) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(fail("list", self.dir())(e)),
        };
        let mut empty = true;
        for entry in entries {
            let entry = entry.map_err(fail("list", self.dir()))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(TMP_SUFFIX) {
                let path = entry.path();
                tracing::info!("Removing {}, left by an interrupted hook.", path.display());
                delete(&path)?;
            } else {
                empty = false;
            }
        }
        if empty {
            remove_empty_dir(self.dir())?;
            remove_empty_dir(self.unit_dir())?;
        }
        Ok(())
    }
}

fn delete(path: &Path) -> Result<Change, ScriptError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(Change::Deleted),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Change::Absent),
        Err(e) => Err(fail("delete", path)(e)),
    }
}

fn remove_empty_dir(path: &Path) -> Result<(), ScriptError> {
    match fs::remove_dir(path) {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::DirectoryNotEmpty
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(fail("remove", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    use ScriptOption::*;

    fn dir() -> (tempfile::TempDir, ScriptDir) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ScriptDir::new(tmp.path().to_str().unwrap(), "backup-integrator/3");
        (tmp, dir)
    }

    fn only(option: ScriptOption, content: Option<&str>) -> Vec<(ScriptOption, Option<&str>)> {
        ScriptOption::ALL
            .into_iter()
            .map(|o| (o, if o == option { content } else { None }))
            .collect()
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = match fs::read_dir(dir) {
            Ok(entries) => entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => vec![],
        };
        names.sort();
        names
    }

    #[test]
    fn paths_follow_the_python_charm() {
        let dir = ScriptDir::new("/opt/backup-integrator-charm/", "backup-integrator/12");
        assert_eq!(
            dir.path(RunBeforeBackup),
            "/opt/backup-integrator-charm/backup-integrator-12/scripts/run-before-backup"
        );
        assert_eq!(
            dir.unit_dir(),
            Path::new("/opt/backup-integrator-charm/backup-integrator-12")
        );
    }

    #[test]
    fn writes_executable_scripts_and_creates_the_directories() {
        let (_tmp, dir) = dir();
        let changes = dir
            .sync([
                (RunBeforeBackup, Some("#!/bin/sh\necho before\n")),
                (RunAfterRestore, Some("#!/bin/sh\necho after\n")),
                (RunAfterBackup, None),
            ])
            .unwrap();
        assert_eq!(
            changes,
            [
                (RunBeforeBackup, Change::Created),
                (RunAfterRestore, Change::Created),
                (RunAfterBackup, Change::Absent)
            ]
        );
        let path = dir.path(RunBeforeBackup);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "#!/bin/sh\necho before\n"
        );
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o7777, 0o755);
        assert_eq!(files(dir.dir()), ["run-after-restore", "run-before-backup"]);
    }

    #[test]
    fn unchanged_scripts_are_not_rewritten() {
        let (_tmp, dir) = dir();
        dir.sync(only(RunAfterBackup, Some("#!/bin/sh\n"))).unwrap();
        let path = dir.path(RunAfterBackup);
        let before = fs::metadata(&path).unwrap();
        let changes = dir.sync(only(RunAfterBackup, Some("#!/bin/sh\n"))).unwrap();
        assert_eq!(changes[1], (RunAfterBackup, Change::Unchanged));
        let after = fs::metadata(&path).unwrap();
        assert_eq!(
            (before.ino(), before.mtime_nsec(), before.ctime_nsec()),
            (after.ino(), after.mtime_nsec(), after.ctime_nsec())
        );
    }

    #[test]
    fn changed_scripts_are_replaced_by_rename() {
        let (_tmp, dir) = dir();
        dir.sync(only(RunBeforeRestore, Some("#!/bin/sh\nold\n")))
            .unwrap();
        let path = dir.path(RunBeforeRestore);
        // A reader that opened the old script keeps reading the old, whole content.
        let mut reader = File::open(&path).unwrap();
        let old_inode = fs::metadata(&path).unwrap().ino();
        let changes = dir
            .sync(only(RunBeforeRestore, Some("#!/bin/sh\nnew\n")))
            .unwrap();
        assert_eq!(changes[2], (RunBeforeRestore, Change::Replaced));
        assert_ne!(fs::metadata(&path).unwrap().ino(), old_inode);
        let mut old = String::new();
        io::Read::read_to_string(&mut reader, &mut old).unwrap();
        assert_eq!(old, "#!/bin/sh\nold\n");
        assert_eq!(fs::read_to_string(&path).unwrap(), "#!/bin/sh\nnew\n");
        assert_eq!(
            files(dir.dir()),
            ["run-before-restore"],
            "no temporary file left"
        );
    }

    #[test]
    fn a_wrong_mode_is_fixed_without_rewriting() {
        let (_tmp, dir) = dir();
        dir.sync(only(RunBeforeBackup, Some("#!/bin/sh\n")))
            .unwrap();
        let path = dir.path(RunBeforeBackup);
        fs::set_permissions(&path, Permissions::from_mode(0o600)).unwrap();
        let inode = fs::metadata(&path).unwrap().ino();
        let changes = dir
            .sync(only(RunBeforeBackup, Some("#!/bin/sh\n")))
            .unwrap();
        assert_eq!(changes[0], (RunBeforeBackup, Change::ModeFixed));
        let meta = fs::metadata(&path).unwrap();
        assert_eq!((meta.ino(), meta.mode() & 0o7777), (inode, 0o755));
    }

    #[test]
    fn a_symlink_is_replaced_and_its_target_left_alone() {
        let (tmp, dir) = dir();
        fs::create_dir_all(dir.dir()).unwrap();
        let target = tmp.path().join("elsewhere");
        fs::write(&target, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&target, Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink(&target, dir.path(RunAfterBackup)).unwrap();
        let changes = dir.sync(only(RunAfterBackup, Some("#!/bin/sh\n"))).unwrap();
        assert_eq!(changes[1], (RunAfterBackup, Change::Replaced));
        let path = dir.path(RunAfterBackup);
        assert!(fs::symlink_metadata(&path).unwrap().is_file());
        assert_eq!(fs::read_to_string(&target).unwrap(), "#!/bin/sh\n");
        assert_eq!(fs::metadata(&target).unwrap().mode() & 0o7777, 0o640);
    }

    #[test]
    fn unset_scripts_are_deleted_and_empty_directories_removed() {
        let (tmp, dir) = dir();
        dir.sync(only(RunAfterRestore, Some("#!/bin/sh\n")))
            .unwrap();
        let changes = dir.sync(only(RunAfterRestore, None)).unwrap();
        assert_eq!(changes[3], (RunAfterRestore, Change::Deleted));
        assert!(!dir.unit_dir().exists());
        assert_eq!(files(tmp.path()), Vec::<String>::new());
        // Deleting again is a no-op.
        let changes = dir.sync(only(RunAfterRestore, None)).unwrap();
        assert_eq!(changes[3], (RunAfterRestore, Change::Absent));
    }

    #[test]
    fn leftover_temporary_files_are_removed() {
        let (_tmp, dir) = dir();
        fs::create_dir_all(dir.dir()).unwrap();
        fs::write(dir.dir().join(".run-after-backup.Ab12Cd.tmp"), "half a scr").unwrap();
        dir.sync(only(RunBeforeBackup, Some("#!/bin/sh\n")))
            .unwrap();
        assert_eq!(files(dir.dir()), ["run-before-backup"]);
    }

    #[test]
    fn a_directory_in_the_way_is_an_error_naming_the_path() {
        let (_tmp, dir) = dir();
        fs::create_dir_all(Path::new(&dir.path(RunAfterBackup)).join("sub")).unwrap();
        let err = dir
            .sync(only(RunAfterBackup, Some("#!/bin/sh\n")))
            .unwrap_err();
        assert!(
            err.to_string().contains("scripts/run-after-backup"),
            "{err}"
        );
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn remove_deletes_the_unit_directory_only() {
        let (tmp, dir) = dir();
        let other = ScriptDir::new(tmp.path().to_str().unwrap(), "other/0");
        dir.sync(only(RunBeforeBackup, Some("#!/bin/sh\n")))
            .unwrap();
        other
            .sync(only(RunBeforeBackup, Some("#!/bin/sh\n")))
            .unwrap();
        assert!(dir.remove().unwrap());
        assert!(!dir.unit_dir().exists());
        assert!(other.unit_dir().exists());
        assert!(!dir.remove().unwrap(), "second remove finds nothing");
    }
}
