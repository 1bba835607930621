//! `charms.backup.v1`: wire-compatible with the Python library `charms.backup_integrator.v0.backup`
//! (LIBPATCH 1), which the existing bacula-fd charm uses.
//!
//! The bag encoding and its validation follow that library's `BackupSpec` rule for rule, so the
//! bacula-fd charm accepts what we write and we accept what a Python requirer writes:
//!
//! - `fileset`: read by splitting on `,`, stripping each item (Python's `str.strip`, which also
//!   strips U+001C..U+001F) and dropping empty items; every path is normalised like
//!   `pathlib.PurePosixPath` ([`normalise_path`]); written as the normalised paths joined by `,`.
//! - Fileset errors, first failing path and first failing check only, in this order:
//!   empty list `fileset cannot be empty`; leading or trailing whitespace (after normalisation,
//!   so `/a /` fails) `path cannot start or end with whitespaces`; a comma `path cannot contain
//!   commas`; not absolute `all path in fileset must be absolute.`; a missing key
//!   `Field required` (pydantic's wording).
//! - `run-before-backup`, `run-after-backup`, `run-before-restore`, `run-after-restore`:
//!   optional, normalised, `path must be absolute` otherwise (no whitespace check, as in Python).
//!   Python also reads the field names (`run_before_backup`) when the dashed key is absent; so
//!   do we. Every invalid field is reported, in field order, as pydantic does.
//! - Unknown keys are ignored.
//!
//! One deliberate difference: an empty bag value counts as an absent key (Juju never delivers an
//! empty value: setting one deletes the key), where Python would validate the empty string.
//! A message field `Some("")` is still invalid (`path must be absolute`), as `""` is in Python.

mod generated {
    #![allow(clippy::all, clippy::pedantic)]
    include!("../../gen/charms.backup.v1.rs");
}
mod pathlib;

pub use generated::*;
pub use pathlib::normalise as normalise_path;

use charm_core::contract::{Bag, BagCodec, BagDecoder, BagEncoder, FieldError, ValidationErrors};

pub const FILESET: &str = "fileset";
pub const RUN_BEFORE_BACKUP: &str = "run-before-backup";
pub const RUN_AFTER_BACKUP: &str = "run-after-backup";
pub const RUN_BEFORE_RESTORE: &str = "run-before-restore";
pub const RUN_AFTER_RESTORE: &str = "run-after-restore";

/// The script keys, in field order.
pub const SCRIPT_KEYS: [&str; 4] = [
    RUN_BEFORE_BACKUP,
    RUN_AFTER_BACKUP,
    RUN_BEFORE_RESTORE,
    RUN_AFTER_RESTORE,
];

/// Splits a comma-separated fileset as the Python library reads one (from a bag or a config
/// option): items stripped, empty items dropped. Paths are not normalised or checked here.
pub fn split_fileset(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(pathlib::strip)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

impl BackupRequirerData {
    /// The script paths paired with their bag keys, in field order.
    pub fn scripts(&self) -> [(&'static str, Option<&str>); 4] {
        [
            (RUN_BEFORE_BACKUP, self.run_before_backup.as_deref()),
            (RUN_AFTER_BACKUP, self.run_after_backup.as_deref()),
            (RUN_BEFORE_RESTORE, self.run_before_restore.as_deref()),
            (RUN_AFTER_RESTORE, self.run_after_restore.as_deref()),
        ]
    }

    fn with_scripts(fileset: Vec<String>, [a, b, c, d]: [Option<String>; 4]) -> Self {
        BackupRequirerData {
            fileset,
            run_before_backup: a,
            run_after_backup: b,
            run_before_restore: c,
            run_after_restore: d,
        }
    }
}

/// `BackupSpec._validate_fileset` on the paths as given; the normalised paths when valid.
fn check_fileset<S: AsRef<str>>(paths: &[S]) -> Result<Vec<String>, FieldError> {
    if paths.is_empty() {
        return Err(FieldError::new(FILESET, "fileset cannot be empty", None));
    }
    let error = |message, path: &str| Err(FieldError::new(FILESET, message, Some(path)));
    let mut normalised = Vec::with_capacity(paths.len());
    for path in paths {
        let path = path.as_ref();
        let norm = pathlib::normalise(path);
        if pathlib::strip(&norm) != norm {
            return error("path cannot start or end with whitespaces", path);
        }
        if norm.contains(',') {
            return error("path cannot contain commas", path);
        }
        if !pathlib::is_absolute(&norm) {
            return error("all path in fileset must be absolute.", path);
        }
        normalised.push(norm);
    }
    Ok(normalised)
}

/// `BackupSpec._validate_optional_path_absolute`; the normalised path when valid.
fn check_script(key: &str, path: &str) -> Result<String, FieldError> {
    let norm = pathlib::normalise(path);
    if pathlib::is_absolute(&norm) {
        Ok(norm)
    } else {
        Err(FieldError::new(key, "path must be absolute", Some(path)))
    }
}

impl BagCodec for BackupRequirerData {
    fn to_bag(&self) -> Result<Bag, ValidationErrors> {
        let mut bag = BagEncoder::new();
        match check_fileset(&self.fileset) {
            Ok(paths) => {
                bag.list(FILESET, paths, ',');
            }
            Err(error) => bag.push(error),
        }
        for (key, path) in self.scripts() {
            match path.map(|path| check_script(key, path)).transpose() {
                Ok(path) => {
                    bag.optional(key, path.as_deref());
                }
                Err(error) => bag.push(error),
            }
        }
        bag.finish()
    }

    fn from_bag(bag: &Bag) -> Result<Self, ValidationErrors> {
        let mut fields = BagDecoder::new(bag);
        let fileset = match fields.optional(FILESET) {
            None => {
                fields.error(FILESET, "Field required", None);
                None
            }
            Some(value) => check_fileset(&split_fileset(value))
                .map_err(|error| fields.push(error))
                .ok(),
        };
        let scripts = SCRIPT_KEYS.map(|key| {
            // Python (pydantic `populate_by_name`) falls back to the field name.
            let field_name = key.replace('-', "_");
            let (key, path) = match fields.optional(key) {
                Some(path) => (key, path),
                None => (field_name.as_str(), fields.optional(&field_name)?),
            };
            check_script(key, path)
                .map_err(|error| fields.push(error))
                .ok()
        });
        fields.finish()?;
        Ok(Self::with_scripts(fileset.unwrap_or_default(), scripts))
    }
}

/// The provider writes nothing; whatever its bag holds is ignored.
impl BagCodec for BackupProviderData {
    fn to_bag(&self) -> Result<Bag, ValidationErrors> {
        Ok(Bag::new())
    }

    fn from_bag(_bag: &Bag) -> Result<Self, ValidationErrors> {
        Ok(BackupProviderData {})
    }
}
