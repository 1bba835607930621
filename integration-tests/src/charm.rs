//! What the simulator needs to know about a charm, read the way Juju reads it: from the unpacked
//! charm directory (`metadata.yaml`, `config.yaml`, `actions.yaml`), never from `charmcraft.yaml`.
//!
//! A `.charm` file is unpacked with [`unpack`], keeping the unix modes recorded in the zip, so a
//! packing bug (a `dispatch` without its executable bit) shows up here as it would under Juju.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_yaml::Value as Yaml;

/// An error reading a charm; it names the file and what was wrong in it.
#[derive(Debug, thiserror::Error)]
pub enum CharmError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} is not valid YAML: {source}")]
    Yaml {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("cannot unpack {path}: {message}")]
    Unpack { path: PathBuf, message: String },
}

/// The role of a relation endpoint, from the section of `metadata.yaml` that declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Provider,
    Requirer,
    Peer,
}

/// Relation scope: `container` relations only connect units on the same machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    #[default]
    Global,
    Container,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointMeta {
    pub role: Role,
    pub interface: String,
    pub scope: Scope,
    pub limit: Option<u32>,
}

/// A config option type as Juju knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionType {
    String,
    Int,
    Float,
    Boolean,
    Secret,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionMeta {
    #[serde(rename = "type")]
    pub kind: OptionType,
    /// The default, already converted to the option's type.
    pub default: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    Filesystem,
    Block,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageMeta {
    pub kind: StorageKind,
    /// How many instances a unit starts with (the low end of `multiple.range`, else 1).
    pub initial: u32,
    pub location: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    File,
    OciImage,
}

/// An action and the JSON schema of its parameters, as in `actions.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionMeta {
    pub params: serde_json::Map<String, serde_json::Value>,
    pub required: Vec<String>,
    pub additional_properties: bool,
}

/// The parts of a charm's metadata the simulator acts on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CharmMeta {
    pub name: String,
    pub subordinate: bool,
    pub endpoints: BTreeMap<String, EndpointMeta>,
    pub extra_bindings: Vec<String>,
    pub containers: Vec<String>,
    pub storage: BTreeMap<String, StorageMeta>,
    pub resources: BTreeMap<String, ResourceKind>,
    pub config: BTreeMap<String, OptionMeta>,
    pub actions: BTreeMap<String, ActionMeta>,
}

impl CharmMeta {
    /// Reads `metadata.yaml` (required), `config.yaml` and `actions.yaml` (optional) from an
    /// unpacked charm directory.
    pub fn load(dir: &Path) -> Result<Self, CharmError> {
        let meta_path = dir.join("metadata.yaml");
        let meta = read_yaml(&meta_path)?.ok_or_else(|| CharmError::Invalid {
            path: meta_path.clone(),
            message: "missing: a charm must have metadata.yaml".into(),
        })?;
        let mut charm = parse_metadata(&meta_path, &meta)?;
        let config_path = dir.join("config.yaml");
        if let Some(config) = read_yaml(&config_path)? {
            charm.config = parse_config(&config_path, &config)?;
        }
        let actions_path = dir.join("actions.yaml");
        if let Some(actions) = read_yaml(&actions_path)? {
            charm.actions = parse_actions(&actions_path, &actions)?;
        }
        Ok(charm)
    }

    /// The endpoint names and extra bindings: what `network-get` accepts.
    pub fn bindings(&self) -> impl Iterator<Item = &str> {
        self.endpoints
            .keys()
            .map(String::as_str)
            .chain(self.extra_bindings.iter().map(String::as_str))
    }
}

fn read_yaml(path: &Path) -> Result<Option<Yaml>, CharmError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CharmError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_yaml::from_str(&text)
        .map(Some)
        .map_err(|source| CharmError::Yaml {
            path: path.to_owned(),
            source,
        })
}

fn invalid(path: &Path, message: impl Into<String>) -> CharmError {
    CharmError::Invalid {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn mapping<'a>(
    path: &Path,
    value: &'a Yaml,
    what: &str,
) -> Result<&'a serde_yaml::Mapping, CharmError> {
    match value {
        Yaml::Mapping(m) => Ok(m),
        Yaml::Null => {
            static EMPTY: std::sync::OnceLock<serde_yaml::Mapping> = std::sync::OnceLock::new();
            Ok(EMPTY.get_or_init(serde_yaml::Mapping::new))
        }
        _ => Err(invalid(path, format!("{what} must be a mapping"))),
    }
}

fn key_str<'a>(path: &Path, key: &'a Yaml, what: &str) -> Result<&'a str, CharmError> {
    key.as_str()
        .ok_or_else(|| invalid(path, format!("{what}: keys must be strings, got {key:?}")))
}

fn parse_metadata(path: &Path, meta: &Yaml) -> Result<CharmMeta, CharmError> {
    let top = mapping(path, meta, "metadata.yaml")?;
    let name = top
        .get("name")
        .and_then(Yaml::as_str)
        .ok_or_else(|| invalid(path, "`name` is required and must be a string"))?
        .to_owned();
    let subordinate = match top.get("subordinate") {
        None => false,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| invalid(path, "`subordinate` must be a boolean"))?,
    };
    let mut endpoints = BTreeMap::new();
    for (section, role) in [
        ("provides", Role::Provider),
        ("requires", Role::Requirer),
        ("peers", Role::Peer),
    ] {
        let Some(section_value) = top.get(section) else {
            continue;
        };
        for (key, spec) in mapping(path, section_value, section)? {
            let endpoint = key_str(path, key, section)?;
            let spec = mapping(path, spec, &format!("{section}.{endpoint}"))?;
            let interface = spec
                .get("interface")
                .and_then(Yaml::as_str)
                .ok_or_else(|| {
                    invalid(
                        path,
                        format!("{section}.{endpoint}: `interface` is required"),
                    )
                })?
                .to_owned();
            let scope = match spec.get("scope").and_then(Yaml::as_str) {
                None | Some("global") => Scope::Global,
                Some("container") => Scope::Container,
                Some(other) => {
                    return Err(invalid(
                        path,
                        format!("{section}.{endpoint}: unknown scope {other:?}"),
                    ));
                }
            };
            let limit = match spec.get("limit") {
                None => None,
                Some(v) => Some(v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(
                    || {
                        invalid(
                            path,
                            format!("{section}.{endpoint}: `limit` must be a number"),
                        )
                    },
                )?),
            };
            if endpoints
                .insert(
                    endpoint.to_owned(),
                    EndpointMeta {
                        role,
                        interface,
                        scope,
                        limit,
                    },
                )
                .is_some()
            {
                return Err(invalid(
                    path,
                    format!("endpoint {endpoint:?} is declared twice"),
                ));
            }
        }
    }
    // Every charm implicitly provides juju-info (Juju adds it); subordinates relate over it.
    endpoints
        .entry("juju-info".to_owned())
        .or_insert(EndpointMeta {
            role: Role::Provider,
            interface: "juju-info".into(),
            scope: Scope::Global,
            limit: None,
        });
    let extra_bindings = match top.get("extra-bindings") {
        None => Vec::new(),
        Some(v) => mapping(path, v, "extra-bindings")?
            .keys()
            .map(|k| key_str(path, k, "extra-bindings").map(str::to_owned))
            .collect::<Result<_, _>>()?,
    };
    let containers = match top.get("containers") {
        None => Vec::new(),
        Some(v) => mapping(path, v, "containers")?
            .keys()
            .map(|k| key_str(path, k, "containers").map(str::to_owned))
            .collect::<Result<_, _>>()?,
    };
    let mut storage = BTreeMap::new();
    if let Some(v) = top.get("storage") {
        for (key, spec) in mapping(path, v, "storage")? {
            let name = key_str(path, key, "storage")?;
            let spec = mapping(path, spec, &format!("storage.{name}"))?;
            let kind = match spec.get("type").and_then(Yaml::as_str) {
                Some("filesystem") => StorageKind::Filesystem,
                Some("block") => StorageKind::Block,
                other => {
                    return Err(invalid(
                        path,
                        format!("storage.{name}: type must be filesystem or block, got {other:?}"),
                    ));
                }
            };
            let initial = match spec
                .get("multiple")
                .and_then(|m| m.get("range"))
                .map(|r| match r {
                    Yaml::Number(n) => n.to_string(),
                    other => other.as_str().unwrap_or_default().to_owned(),
                }) {
                None => 1,
                Some(range) => {
                    let low = range
                        .split('-')
                        .next()
                        .unwrap_or_default()
                        .trim_end_matches('+');
                    low.parse::<u32>().map_err(|_| {
                        invalid(
                            path,
                            format!("storage.{name}: bad multiple.range {range:?}"),
                        )
                    })?
                }
            };
            let location = spec
                .get("location")
                .and_then(Yaml::as_str)
                .map(str::to_owned);
            storage.insert(
                name.to_owned(),
                StorageMeta {
                    kind,
                    initial,
                    location,
                },
            );
        }
    }
    let mut resources = BTreeMap::new();
    if let Some(v) = top.get("resources") {
        for (key, spec) in mapping(path, v, "resources")? {
            let name = key_str(path, key, "resources")?;
            let kind = match spec.get("type").and_then(Yaml::as_str) {
                Some("file") => ResourceKind::File,
                Some("oci-image") => ResourceKind::OciImage,
                other => {
                    return Err(invalid(
                        path,
                        format!("resources.{name}: type must be file or oci-image, got {other:?}"),
                    ));
                }
            };
            resources.insert(name.to_owned(), kind);
        }
    }
    Ok(CharmMeta {
        name,
        subordinate,
        endpoints,
        extra_bindings,
        containers,
        storage,
        resources,
        config: BTreeMap::new(),
        actions: BTreeMap::new(),
    })
}

fn parse_config(path: &Path, config: &Yaml) -> Result<BTreeMap<String, OptionMeta>, CharmError> {
    let top = mapping(path, config, "config.yaml")?;
    let Some(options) = top.get("options") else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    for (key, spec) in mapping(path, options, "options")? {
        let name = key_str(path, key, "options")?;
        let spec = mapping(path, spec, &format!("options.{name}"))?;
        let kind = match spec.get("type").and_then(Yaml::as_str) {
            Some("string") => OptionType::String,
            Some("int") => OptionType::Int,
            Some("float") => OptionType::Float,
            Some("boolean") => OptionType::Boolean,
            Some("secret") => OptionType::Secret,
            other => {
                return Err(invalid(
                    path,
                    format!("options.{name}: unknown type {other:?}"),
                ));
            }
        };
        let default = match spec.get("default") {
            None | Some(Yaml::Null) => None,
            Some(v) => Some(config_default(kind, v).ok_or_else(|| {
                invalid(
                    path,
                    format!("options.{name}: default {v:?} is not a valid {kind:?}"),
                )
            })?),
        };
        out.insert(name.to_owned(), OptionMeta { kind, default });
    }
    Ok(out)
}

fn config_default(kind: OptionType, v: &Yaml) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    match (kind, v) {
        (OptionType::String | OptionType::Secret, Yaml::String(s)) => Some(J::String(s.clone())),
        // Juju accepts non-string scalars as string defaults, keeping their text.
        (OptionType::String, Yaml::Number(n)) => Some(J::String(n.to_string())),
        (OptionType::String, Yaml::Bool(b)) => Some(J::String(b.to_string())),
        (OptionType::Int, Yaml::Number(n)) => n.as_i64().map(J::from),
        (OptionType::Float, Yaml::Number(n)) => n.as_f64().map(J::from),
        (OptionType::Boolean, Yaml::Bool(b)) => Some(J::Bool(*b)),
        _ => None,
    }
}

fn parse_actions(path: &Path, actions: &Yaml) -> Result<BTreeMap<String, ActionMeta>, CharmError> {
    let mut out = BTreeMap::new();
    for (key, spec) in mapping(path, actions, "actions.yaml")? {
        let name = key_str(path, key, "actions.yaml")?;
        let spec = mapping(path, spec, name)?;
        let json = serde_json::to_value(spec).map_err(|e| invalid(path, format!("{name}: {e}")))?;
        let params = match json.get("params") {
            None | Some(serde_json::Value::Null) => serde_json::Map::new(),
            Some(serde_json::Value::Object(m)) => m.clone(),
            Some(_) => return Err(invalid(path, format!("{name}.params must be a mapping"))),
        };
        let required = match json.get("required") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| invalid(path, format!("{name}.required must list strings")))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid(path, format!("{name}.required must be a list"))),
        };
        let additional_properties = json
            .get("additionalProperties")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(true);
        out.insert(
            name.to_owned(),
            ActionMeta {
                params,
                required,
                additional_properties,
            },
        );
    }
    Ok(out)
}

/// Unpacks a `.charm` (zip) into `dest`, applying the unix modes recorded in the archive.
/// Entries that would land outside `dest` are refused.
pub fn unpack(charm: &Path, dest: &Path) -> Result<(), CharmError> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |message: String| CharmError::Unpack {
        path: charm.to_owned(),
        message,
    };
    let file = fs::File::open(charm).map_err(|e| fail(e.to_string()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| fail(e.to_string()))?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| fail(e.to_string()))?;
        let rel = entry.enclosed_name().ok_or_else(|| {
            let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
            fail(format!("entry {name:?} escapes the archive"))
        })?;
        let target = dest.join(rel);
        if entry.is_dir() {
            fs::create_dir_all(&target).map_err(|e| fail(format!("{}: {e}", target.display())))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| fail(format!("{}: {e}", parent.display())))?;
        }
        let mut out =
            fs::File::create(&target).map_err(|e| fail(format!("{}: {e}", target.display())))?;
        io::copy(&mut entry, &mut out).map_err(|e| fail(format!("{}: {e}", target.display())))?;
        let mode = entry.unix_mode().unwrap_or(0o644) & 0o7777;
        fs::set_permissions(&target, fs::Permissions::from_mode(mode))
            .map_err(|e| fail(format!("{}: {e}", target.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charm(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn reads_endpoints_config_and_actions() {
        let dir = charm(&[
            (
                "metadata.yaml",
                "name: demo\nsubordinate: true\nrequires:\n  backup: {interface: backup, limit: 1}\n  juju-info: {interface: juju-info, scope: container}\npeers:\n  cluster: {interface: demo-peers}\ncontainers:\n  app: {resource: img}\nresources:\n  img: {type: oci-image}\nstorage:\n  data: {type: filesystem, multiple: {range: 2-4}}\n",
            ),
            (
                "config.yaml",
                "options:\n  fileset: {type: string}\n  port: {type: int, default: 80}\n  ratio: {type: float, default: 1}\n  on: {type: boolean, default: false}\n",
            ),
            (
                "actions.yaml",
                "snapshot:\n  params:\n    target: {type: string, default: x}\n  required: [target]\n  additionalProperties: false\n",
            ),
        ]);
        let meta = CharmMeta::load(dir.path()).unwrap();
        assert_eq!(meta.name, "demo");
        assert!(meta.subordinate);
        assert_eq!(meta.endpoints["backup"].role, Role::Requirer);
        assert_eq!(meta.endpoints["backup"].limit, Some(1));
        assert_eq!(meta.endpoints["juju-info"].scope, Scope::Container);
        assert_eq!(meta.endpoints["juju-info"].role, Role::Requirer);
        assert_eq!(meta.endpoints["cluster"].role, Role::Peer);
        assert_eq!(meta.containers, ["app"]);
        assert_eq!(meta.resources["img"], ResourceKind::OciImage);
        assert_eq!(meta.storage["data"].initial, 2);
        assert_eq!(meta.config["fileset"].default, None);
        assert_eq!(meta.config["port"].default, Some(serde_json::json!(80)));
        assert_eq!(meta.config["ratio"].default, Some(serde_json::json!(1.0)));
        assert_eq!(meta.config["on"].default, Some(serde_json::json!(false)));
        assert_eq!(meta.actions["snapshot"].required, ["target"]);
        assert!(!meta.actions["snapshot"].additional_properties);
    }

    #[test]
    fn principal_gets_implicit_juju_info() {
        let dir = charm(&[("metadata.yaml", "name: p\n")]);
        let meta = CharmMeta::load(dir.path()).unwrap();
        assert_eq!(meta.endpoints["juju-info"].role, Role::Provider);
    }

    #[test]
    fn bad_metadata_names_the_file_and_the_problem() {
        let dir = charm(&[("metadata.yaml", "name: p\nrequires:\n  db: {}\n")]);
        let err = CharmMeta::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("metadata.yaml") && err.contains("requires.db"),
            "{err}"
        );

        let dir = charm(&[
            ("metadata.yaml", "name: p\n"),
            ("config.yaml", "options:\n  n: {type: int, default: abc}\n"),
        ]);
        let err = CharmMeta::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("options.n"), "{err}");

        let dir = charm(&[]);
        let err = CharmMeta::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("metadata.yaml"), "{err}");
    }
}
