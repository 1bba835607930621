//! The fake's container file system: a temporary directory standing for `/`.
//!
//! Ownership cannot be changed without root, so requested owners are recorded and reported
//! back by listings instead of applied; permissions are applied for real.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

use super::clock;
use crate::pebble::files::{FileError, FileResult, Owner};

/// The container's root and the owners recorded for paths.
pub(crate) struct FakeFs {
    root: PathBuf,
    owners: Mutex<HashMap<PathBuf, Owner>>,
}

/// A failure for one path, in Pebble's terms.
#[derive(Debug)]
pub(crate) struct PathFailure {
    pub kind: &'static str,
    pub message: String,
}

impl PathFailure {
    fn from_io(op: &str, path: &str, error: &io::Error) -> Self {
        let kind = match error.kind() {
            io::ErrorKind::NotFound => "not-found",
            io::ErrorKind::PermissionDenied => "permission-denied",
            _ => "generic-file-error",
        };
        Self {
            kind,
            message: format!("{op} {path}: {}", go_error_text(error)),
        }
    }

    fn generic(message: String) -> Self {
        Self {
            kind: "generic-file-error",
            message,
        }
    }

    /// The HTTP status Pebble uses when this is the whole answer (listing).
    pub(crate) fn status(&self) -> u16 {
        match self.kind {
            "not-found" => 404,
            "permission-denied" => 403,
            _ => 400,
        }
    }
}

/// `No such file or directory (os error 2)` -> `no such file or directory`, as Go prints it.
fn go_error_text(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match text.rfind(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// Per-path results as Pebble returns them.
pub(crate) fn results(entries: Vec<(String, Result<(), PathFailure>)>) -> Value {
    let results: Vec<FileResult> = entries
        .into_iter()
        .map(|(path, outcome)| FileResult {
            path,
            error: outcome.err().map(|f| FileError {
                message: f.message,
                kind: f.kind.to_string(),
            }),
        })
        .collect();
    serde_json::to_value(results).unwrap_or(Value::Null)
}

impl FakeFs {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self {
            root,
            owners: Mutex::default(),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Where a container path lives on the host; `..` never leaves the root.
    pub(crate) fn host_path(&self, path: &str) -> PathBuf {
        let mut parts: Vec<&str> = Vec::new();
        for component in Path::new(path).components() {
            match component {
                Component::Normal(part) => parts.push(part.to_str().unwrap_or_default()),
                Component::ParentDir => {
                    parts.pop();
                }
                _ => {}
            }
        }
        let mut host = self.root.clone();
        host.extend(parts);
        host
    }

    fn absolute(path: &str) -> Result<(), PathFailure> {
        if path.starts_with('/') {
            Ok(())
        } else {
            Err(PathFailure::generic(format!(
                "paths must be absolute, got {path:?}"
            )))
        }
    }

    fn record_owner(&self, host: &Path, owner: &Owner) {
        let given = owner.user.is_some()
            || owner.user_id.is_some()
            || owner.group.is_some()
            || owner.group_id.is_some();
        if given && let Ok(mut owners) = self.owners.lock() {
            owners.insert(host.to_path_buf(), owner.clone());
        }
    }

    /// `GET /v1/files?action=list`.
    pub(crate) fn list(
        &self,
        path: &str,
        pattern: Option<&str>,
        itself: bool,
    ) -> Result<Value, PathFailure> {
        if !path.starts_with('/') {
            return Err(PathFailure::generic(format!(
                "path must be absolute, got {path:?}"
            )));
        }
        let host = self.host_path(path);
        let meta = std::fs::metadata(&host).map_err(|e| PathFailure::from_io("stat", path, &e))?;
        let mut entries = Vec::new();
        if !meta.is_dir() || itself {
            let name = Path::new(path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "/".into());
            let parent = Path::new(path).parent().unwrap_or(Path::new("/"));
            entries.push((name, parent.to_path_buf(), host.clone(), meta));
        } else {
            let read =
                std::fs::read_dir(&host).map_err(|e| PathFailure::from_io("open", path, &e))?;
            for entry in read {
                let entry = entry.map_err(|e| PathFailure::from_io("readdir", path, &e))?;
                let meta = entry
                    .metadata()
                    .map_err(|e| PathFailure::from_io("lstat", path, &e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                entries.push((name, PathBuf::from(path), entry.path(), meta));
            }
            entries.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let mut out = Vec::new();
        for (name, dir, host, meta) in entries {
            if let Some(pattern) = pattern {
                match glob_match(pattern, &name) {
                    Some(true) => {}
                    Some(false) => continue,
                    None => return Err(PathFailure::generic("syntax error in pattern".into())),
                }
            }
            out.push(self.info(&dir.join(&name), &name, &host, &meta));
        }
        Ok(Value::Array(out))
    }

    fn info(&self, path: &Path, name: &str, host: &Path, meta: &std::fs::Metadata) -> Value {
        let file_type = meta.file_type();
        use std::os::unix::fs::FileTypeExt;
        let kind = if file_type.is_file() {
            "file"
        } else if file_type.is_dir() {
            "directory"
        } else if file_type.is_symlink() {
            "symlink"
        } else if file_type.is_socket() {
            "socket"
        } else if file_type.is_fifo() {
            "named-pipe"
        } else if file_type.is_block_device() || file_type.is_char_device() {
            "device"
        } else {
            "unknown"
        };
        let recorded = self.owners.lock().ok().and_then(|o| o.get(host).cloned());
        let (user_id, user, group_id, group) = match recorded {
            Some(owner) => (
                owner.user_id.unwrap_or(meta.uid()),
                owner
                    .user
                    .unwrap_or_else(|| account_name("/etc/passwd", meta.uid())),
                owner.group_id.unwrap_or(meta.gid()),
                owner
                    .group
                    .unwrap_or_else(|| account_name("/etc/group", meta.gid())),
            ),
            None => (
                meta.uid(),
                account_name("/etc/passwd", meta.uid()),
                meta.gid(),
                account_name("/etc/group", meta.gid()),
            ),
        };
        let mut info = json!({
            "path": path.to_string_lossy(),
            "name": name,
            "type": kind,
            "permissions": format!("{:03o}", meta.permissions().mode() & 0o777),
            "last-modified": meta.modified().map(clock::format_time).unwrap_or_default(),
            "user-id": user_id,
            "user": user,
            "group-id": group_id,
            "group": group,
        });
        if file_type.is_file() {
            info["size"] = json!(meta.len());
        }
        info
    }

    /// Opens a file for `GET /v1/files?action=read`.
    pub(crate) async fn open_for_read(&self, path: &str) -> Result<tokio::fs::File, PathFailure> {
        Self::absolute(path)?;
        let host = self.host_path(path);
        let meta = tokio::fs::metadata(&host)
            .await
            .map_err(|e| PathFailure::from_io("stat", path, &e))?;
        if !meta.is_file() {
            return Err(PathFailure::generic(format!(
                "can only read a regular file: {path:?}"
            )));
        }
        tokio::fs::File::open(&host)
            .await
            .map_err(|e| PathFailure::from_io("open", path, &e))
    }

    /// Prepares writing a pushed file: parent directories, then a temporary file beside the
    /// target that [`FakeFs::finish_write`] renames into place (writes are atomic, as in Pebble).
    pub(crate) async fn start_write(
        &self,
        path: &str,
        make_dirs: bool,
        permissions: Option<&str>,
    ) -> Result<(tokio::fs::File, PathBuf, u32), PathFailure> {
        Self::absolute(path)?;
        let mode = parse_permissions(permissions, 0o644)?;
        let host = self.host_path(path);
        let parent = host.parent().unwrap_or(&self.root).to_path_buf();
        if make_dirs {
            create_dirs(&parent, 0o755)
                .await
                .map_err(|e| PathFailure::from_io("mkdir", path, &e))?;
        }
        let name = host
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = parent.join(format!(".{name}.pebble-fake-tmp"));
        let file = tokio::fs::File::create(&temp)
            .await
            .map_err(|e| PathFailure::from_io("open", path, &e))?;
        Ok((file, temp, mode))
    }

    /// Moves a completely written temporary file into place.
    pub(crate) async fn finish_write(
        &self,
        path: &str,
        temp: &Path,
        mode: u32,
        owner: &Owner,
    ) -> Result<(), PathFailure> {
        let host = self.host_path(path);
        let done = async {
            tokio::fs::set_permissions(temp, std::fs::Permissions::from_mode(mode)).await?;
            tokio::fs::rename(temp, &host).await
        };
        if let Err(e) = done.await {
            let _ = tokio::fs::remove_file(temp).await;
            return Err(PathFailure::from_io("rename", path, &e));
        }
        self.record_owner(&host, owner);
        Ok(())
    }

    /// `POST /v1/files` action "make-dirs", one directory.
    pub(crate) async fn make_dir(
        &self,
        path: &str,
        make_parents: bool,
        permissions: Option<&str>,
        owner: &Owner,
    ) -> Result<(), PathFailure> {
        Self::absolute(path)?;
        let mode = parse_permissions(permissions, 0o755)?;
        let host = self.host_path(path);
        let made = if make_parents {
            create_dirs(&host, mode).await
        } else {
            match tokio::fs::create_dir(&host).await {
                Ok(()) => {
                    tokio::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode)).await
                }
                Err(e) => Err(e),
            }
        };
        made.map_err(|e| PathFailure::from_io("mkdir", path, &e))?;
        self.record_owner(&host, owner);
        Ok(())
    }

    /// `POST /v1/files` action "remove", one path.
    pub(crate) async fn remove(&self, path: &str, recursive: bool) -> Result<(), PathFailure> {
        Self::absolute(path)?;
        let host = self.host_path(path);
        if host == self.root {
            return Err(PathFailure::generic(format!("cannot remove {path:?}")));
        }
        let meta = match tokio::fs::symlink_metadata(&host).await {
            Ok(meta) => meta,
            // Like `os.RemoveAll`, a recursive remove of nothing succeeds.
            Err(e) if recursive && e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(PathFailure::from_io("remove", path, &e)),
        };
        let removed = match (meta.is_dir(), recursive) {
            (true, true) => tokio::fs::remove_dir_all(&host).await,
            (true, false) => tokio::fs::remove_dir(&host).await,
            (false, _) => tokio::fs::remove_file(&host).await,
        };
        removed.map_err(|e| PathFailure::from_io("remove", path, &e))?;
        if let Ok(mut owners) = self.owners.lock() {
            owners.retain(|p, _| !p.starts_with(&host));
        }
        Ok(())
    }
}

/// `mkdir -p` that applies `mode` to the directories it creates (and to `dir` itself).
async fn create_dirs(dir: &Path, mode: u32) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut current = dir.to_path_buf();
    while tokio::fs::metadata(&current).await.is_err() {
        missing.push(current.clone());
        if !current.pop() {
            break;
        }
    }
    tokio::fs::create_dir_all(dir).await?;
    for created in missing {
        tokio::fs::set_permissions(&created, std::fs::Permissions::from_mode(mode)).await?;
    }
    Ok(())
}

/// Pebble's rule: a 3-digit octal string, or the default when absent.
fn parse_permissions(permissions: Option<&str>, default: u32) -> Result<u32, PathFailure> {
    match permissions {
        None | Some("") => Ok(default),
        Some(text) => match u32::from_str_radix(text, 8) {
            Ok(mode) if text.len() == 3 => Ok(mode),
            _ => Err(PathFailure::generic(format!(
                "permissions must be a 3-digit octal string, got {text:?}"
            ))),
        },
    }
}

/// The name for `id` in an `/etc/passwd`-style file, or "" when it does not resolve.
fn account_name(file: &str, id: u32) -> String {
    let Ok(text) = std::fs::read_to_string(file) else {
        return String::new();
    };
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let _password = fields.next()?;
            let entry_id: u32 = fields.next()?.parse().ok()?;
            (entry_id == id).then(|| name.to_string())
        })
        .next()
        .unwrap_or_default()
}

/// Go's `path.Match`: `*`, `?`, `[...]` classes (with `^` negation and ranges) and `\`
/// escapes; `None` for a malformed pattern.
pub(crate) fn glob_match(pattern: &str, name: &str) -> Option<bool> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n)
}

fn glob_at(p: &[char], n: &[char]) -> Option<bool> {
    let Some((&first, rest)) = p.split_first() else {
        return Some(n.is_empty());
    };
    match first {
        '*' => {
            // Validate the remainder even when the star could swallow everything.
            let mut any = false;
            for skip in 0..=n.len() {
                if n[..skip].contains(&'/') {
                    break;
                }
                if glob_at(rest, &n[skip..])? {
                    any = true;
                    break;
                }
            }
            Some(any)
        }
        '?' => match n.split_first() {
            Some((&c, n_rest)) if c != '/' => glob_at(rest, n_rest),
            _ => {
                glob_at(rest, n)?;
                Some(false)
            }
        },
        '[' => {
            let (matched_class, after) = class_match(rest, n.first().copied())?;
            match n.split_first() {
                Some((_, n_rest)) if matched_class => glob_at(after, n_rest),
                _ => {
                    glob_at(after, n)?;
                    Some(false)
                }
            }
        }
        '\\' => {
            let (&escaped, rest) = rest.split_first()?;
            match n.split_first() {
                Some((&c, n_rest)) if c == escaped => glob_at(rest, n_rest),
                _ => Some(false),
            }
        }
        literal => match n.split_first() {
            Some((&c, n_rest)) if c == literal => glob_at(rest, n_rest),
            _ => {
                glob_at(rest, &[])?;
                Some(false)
            }
        },
    }
}

/// Parses a class after `[`; returns whether `c` is in it and the pattern after `]`.
fn class_match(p: &[char], c: Option<char>) -> Option<(bool, &[char])> {
    let (negated, mut p) = match p.split_first() {
        Some(('^', rest)) => (true, rest),
        _ => (false, p),
    };
    let mut matched = false;
    let mut first = true;
    loop {
        let (&lo, rest) = p.split_first()?;
        if lo == ']' && !first {
            p = rest;
            break;
        }
        first = false;
        let (lo, rest) = if lo == '\\' {
            let (&escaped, rest) = rest.split_first()?;
            (escaped, rest)
        } else {
            (lo, rest)
        };
        p = rest;
        let mut hi = lo;
        if let Some(('-', rest)) = p.split_first()
            && rest.first().is_some_and(|&c| c != ']')
        {
            let (&h, rest) = rest.split_first()?;
            let (h, rest) = if h == '\\' {
                let (&escaped, rest) = rest.split_first()?;
                (escaped, rest)
            } else {
                (h, rest)
            };
            hi = h;
            p = rest;
        }
        if c.is_some_and(|c| lo <= c && c <= hi) {
            matched = true;
        }
    }
    Some((matched != negated && c.is_some_and(|c| c != '/'), p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_follows_go_path_match() {
        let cases = [
            ("*.txt", "a.txt", true),
            ("*.txt", "a.md", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("[^a-c]x", "dx", true),
            ("\\*", "*", true),
            ("*", "", true),
            ("conf*.y?ml", "config.yaml", true),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(glob_match(pattern, name), Some(want), "{pattern} {name}");
        }
        assert_eq!(glob_match("[", "x"), None);
        assert_eq!(glob_match("a[", "a"), None);
    }

    #[test]
    fn host_paths_stay_under_root() {
        let fs = FakeFs::new(PathBuf::from("/tmp/root"));
        assert_eq!(fs.host_path("/etc/x"), PathBuf::from("/tmp/root/etc/x"));
        assert_eq!(fs.host_path("/../../etc"), PathBuf::from("/tmp/root/etc"));
        assert_eq!(fs.host_path("/"), PathBuf::from("/tmp/root"));
    }

    #[test]
    fn go_style_error_text() {
        let e = io::Error::from(io::ErrorKind::NotFound);
        let f = PathFailure::from_io("stat", "/x", &e);
        assert_eq!(f.kind, "not-found");
        assert!(f.message.starts_with("stat /x: "), "{}", f.message);
    }
}
