//! The charm's static description: endpoints, containers, resources, storage, config options
//! and actions.
//!
//! Juju unpacks a charm with `metadata.yaml`, `config.yaml` and `actions.yaml`; charmcraft's
//! source form puts all three in `charmcraft.yaml` (with config under `config.options`). Both
//! are read into the same typed [`Metadata`]. This is the only module that knows the files are
//! YAML (`serde_yaml` is unmaintained upstream; keeping it behind the private `parse_yaml`
//! function keeps it swappable).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A charm's metadata, config options and actions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata {
    /// The charm's name (`name:`); the application name is chosen at deploy time and can
    /// differ ([`crate::Model::app_name`]).
    pub name: String,
    /// A subordinate charm runs beside a principal unit, related over a `container`-scoped
    /// endpoint.
    pub subordinate: bool,
    /// Relation endpoints by name (requires, provides and peers together: Juju forbids two
    /// endpoints with the same name).
    pub endpoints: BTreeMap<String, Endpoint>,
    /// Bindings that are not relations (usable with `network-get`).
    pub extra_bindings: BTreeSet<String>,
    /// Workload containers of a Kubernetes charm, by name.
    pub containers: BTreeMap<String, ContainerSpec>,
    /// Resources (files, OCI images) by name, fetched with `resource-get`.
    pub resources: BTreeMap<String, ResourceSpec>,
    /// Storage by name.
    pub storage: BTreeMap<String, StorageSpec>,
    /// Config options from `config.yaml` (or charmcraft.yaml's `config.options`).
    pub config: BTreeMap<String, ConfigOption>,
    /// Actions from `actions.yaml` (or charmcraft.yaml's `actions`).
    pub actions: BTreeMap<String, ActionSpec>,
}

/// A relation endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The endpoint's name, used in hook names (`<name>-relation-changed`).
    pub name: String,
    /// Which section declares it.
    pub role: Role,
    /// The interface name both sides must share (`backup`, `pgsql`).
    pub interface: String,
    /// At most this many relations on the endpoint.
    pub limit: Option<u32>,
    /// Who sees whom over the relation.
    pub scope: Scope,
    /// Informational: the charm works without this relation.
    pub optional: bool,
}

/// The side of a relation an endpoint is on, which decides who may relate to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `requires:`: consumes the interface.
    Requires,
    /// `provides:`: offers the interface.
    Provides,
    /// `peers:`: the application's units among themselves (one shared application bag).
    Peers,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Requires => "requires",
            Role::Provides => "provides",
            Role::Peers => "peers",
        })
    }
}

/// An endpoint's `scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Scope {
    /// Every unit of one side sees every unit of the other.
    #[default]
    Global,
    /// Only units on the same machine (subordinates) see each other.
    Container,
}

/// A workload container of a Kubernetes charm.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerSpec {
    /// The OCI image resource the container runs.
    pub resource: Option<String>,
    /// Storage mounted into the container.
    pub mounts: Vec<Mount>,
}

/// A storage mounted into a workload container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The storage name (a key of [`Metadata::storage`]).
    pub storage: String,
    /// The mount point inside the container.
    pub location: String,
}

/// What a resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// A file the charm reads from the path `resource-get` prints.
    File,
    /// An OCI image a workload container runs; `resource-get` prints its registry details.
    OciImage,
}

/// A resource of the charm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSpec {
    /// File or OCI image.
    pub kind: ResourceKind,
    /// The file name a file resource is stored under.
    pub filename: Option<String>,
    /// What it is for, shown by `juju resources`.
    pub description: String,
}

/// What a storage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// A mounted filesystem.
    Filesystem,
    /// A raw block device.
    Block,
}

/// A storage of the charm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSpec {
    /// Filesystem or block device.
    pub kind: StorageKind,
    /// Where a filesystem is mounted, when the charm says.
    pub location: Option<String>,
    /// `multiple.range`, e.g. `1-10` or `2+`, when several instances are allowed.
    pub multiple: Option<String>,
    /// Mounted read-only.
    pub read_only: bool,
    /// Shared by the application's units (not supported by every provider).
    pub shared: bool,
    /// The smallest size Juju may provision, e.g. `1G`.
    pub minimum_size: Option<String>,
}

/// The type of a config option, as declared in `config.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigType {
    /// `boolean`: true or false.
    Boolean,
    /// `int`: a 64-bit integer.
    Int,
    /// `float`: a number (an integer is accepted too).
    Float,
    /// `string`: text.
    String,
    /// A secret URI (`secret:...`) the charm has been granted.
    Secret,
}

impl fmt::Display for ConfigType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigType::Boolean => "boolean",
            ConfigType::Int => "int",
            ConfigType::Float => "float",
            ConfigType::String => "string",
            ConfigType::Secret => "secret",
        })
    }
}

/// A config value of the declared type.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    /// A `boolean` option's value.
    Boolean(bool),
    /// An `int` option's value.
    Int(i64),
    /// A `float` option's value.
    Float(f64),
    /// `string` and `secret` options.
    String(String),
}

impl ConfigValue {
    /// Converts a JSON value (what `config-get --format=json` and YAML defaults give) to the
    /// option's type. Integers are accepted for float options, as Juju does.
    pub fn from_json(kind: ConfigType, value: &Value) -> Option<ConfigValue> {
        match (kind, value) {
            (ConfigType::Boolean, Value::Bool(b)) => Some(ConfigValue::Boolean(*b)),
            (ConfigType::Int, Value::Number(n)) => n.as_i64().map(ConfigValue::Int),
            (ConfigType::Float, Value::Number(n)) => n.as_f64().map(ConfigValue::Float),
            (ConfigType::String | ConfigType::Secret, Value::String(s)) => {
                Some(ConfigValue::String(s.clone()))
            }
            _ => None,
        }
    }

    /// The value as `config-get --format=json` prints it.
    pub fn to_json(&self) -> Value {
        match self {
            ConfigValue::Boolean(b) => Value::Bool(*b),
            ConfigValue::Int(i) => Value::from(*i),
            ConfigValue::Float(f) => Value::from(*f),
            ConfigValue::String(s) => Value::String(s.clone()),
        }
    }

    /// Whether this value can be held by an option of type `kind`.
    pub fn fits(&self, kind: ConfigType) -> bool {
        matches!(
            (self, kind),
            (ConfigValue::Boolean(_), ConfigType::Boolean)
                | (ConfigValue::Int(_), ConfigType::Int | ConfigType::Float)
                | (ConfigValue::Float(_), ConfigType::Float)
                | (
                    ConfigValue::String(_),
                    ConfigType::String | ConfigType::Secret
                )
        )
    }
}

impl From<bool> for ConfigValue {
    fn from(v: bool) -> Self {
        ConfigValue::Boolean(v)
    }
}
impl From<i64> for ConfigValue {
    fn from(v: i64) -> Self {
        ConfigValue::Int(v)
    }
}
impl From<f64> for ConfigValue {
    fn from(v: f64) -> Self {
        ConfigValue::Float(v)
    }
}
impl From<&str> for ConfigValue {
    fn from(v: &str) -> Self {
        ConfigValue::String(v.to_string())
    }
}
impl From<String> for ConfigValue {
    fn from(v: String) -> Self {
        ConfigValue::String(v)
    }
}

/// One option of `config.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigOption {
    /// The option's `type`.
    pub kind: ConfigType,
    /// The value Juju reports while the user has set none; `None`: the option is unset.
    pub default: Option<ConfigValue>,
    /// What it means, shown by `juju config`.
    pub description: String,
}

/// One action of `actions.yaml`. `params` holds the JSON schema of each parameter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActionSpec {
    /// What it does, shown by `juju actions`.
    pub description: String,
    /// The JSON schema of each parameter, by name.
    pub params: BTreeMap<String, Value>,
    /// Parameters the user must give.
    pub required: Vec<String>,
    /// Whether parameters not in `params` are accepted (Juju's default: yes).
    pub additional_properties: bool,
}

/// Metadata that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// A file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not valid YAML or breaks Juju's rules for it.
    #[error("{file} is not valid: {reason}")]
    Invalid {
        /// The file, e.g. `metadata.yaml`.
        file: String,
        /// What is wrong, naming the key.
        reason: String,
    },
    /// The directory holds no metadata at all: not a charm directory.
    #[error("no metadata.yaml or charmcraft.yaml in {dir}")]
    NotFound {
        /// The directory searched.
        dir: String,
    },
}

fn invalid(file: &str, reason: impl Into<String>) -> MetadataError {
    MetadataError::Invalid {
        file: file.to_string(),
        reason: reason.into(),
    }
}

/// Parses YAML text into `T`; the one place that knows the format.
pub(crate) fn parse_yaml<T: DeserializeOwned>(text: &str, file: &str) -> Result<T, MetadataError> {
    serde_yaml::from_str(text).map_err(|e| invalid(file, e.to_string()))
}

impl Metadata {
    /// Loads the charm in `dir`: the packed form (`metadata.yaml`, `config.yaml`,
    /// `actions.yaml`) when `metadata.yaml` exists, else `charmcraft.yaml`.
    pub fn from_charm_dir(dir: &Path) -> Result<Metadata, MetadataError> {
        let read = |name: &str| -> Result<Option<String>, MetadataError> {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(MetadataError::Read {
                    path: path.display().to_string(),
                    source,
                }),
            }
        };
        if let Some(meta) = read("metadata.yaml")? {
            let config = read("config.yaml")?;
            let actions = read("actions.yaml")?;
            return Metadata::from_packed(&meta, config.as_deref(), actions.as_deref());
        }
        match read("charmcraft.yaml")? {
            Some(text) => Metadata::from_charmcraft_yaml(&text),
            None => Err(MetadataError::NotFound {
                dir: dir.display().to_string(),
            }),
        }
    }

    /// The packed form: `metadata.yaml` plus optional `config.yaml` and `actions.yaml`.
    pub fn from_packed(
        metadata_yaml: &str,
        config_yaml: Option<&str>,
        actions_yaml: Option<&str>,
    ) -> Result<Metadata, MetadataError> {
        let raw: RawMetadata = parse_yaml(metadata_yaml, "metadata.yaml")?;
        let mut meta = raw.into_metadata("metadata.yaml")?;
        if let Some(text) = config_yaml {
            let raw: Option<RawConfig> = parse_yaml(text, "config.yaml")?;
            meta.config = config_options(raw.unwrap_or_default(), "config.yaml")?;
        }
        if let Some(text) = actions_yaml {
            let raw: Option<BTreeMap<String, RawAction>> = parse_yaml(text, "actions.yaml")?;
            meta.actions = actions(raw.unwrap_or_default(), "actions.yaml")?;
        }
        Ok(meta)
    }

    /// The source form: everything in `charmcraft.yaml`.
    pub fn from_charmcraft_yaml(text: &str) -> Result<Metadata, MetadataError> {
        let file = "charmcraft.yaml";
        let raw: RawMetadata = parse_yaml(text, file)?;
        let config = raw.config.clone().unwrap_or_default();
        let raw_actions = raw.actions.clone().unwrap_or_default();
        let mut meta = raw.into_metadata(file)?;
        meta.config = config_options(config, file)?;
        meta.actions = actions(raw_actions, file)?;
        Ok(meta)
    }

    /// The endpoint named `name`.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.get(name)
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct RawMetadata {
    #[serde(default)]
    name: String,
    #[serde(default)]
    subordinate: bool,
    #[serde(default)]
    requires: BTreeMap<String, RawEndpoint>,
    #[serde(default)]
    provides: BTreeMap<String, RawEndpoint>,
    #[serde(default)]
    peers: BTreeMap<String, RawEndpoint>,
    #[serde(default)]
    extra_bindings: BTreeMap<String, Value>,
    #[serde(default)]
    containers: BTreeMap<String, RawContainer>,
    #[serde(default)]
    resources: BTreeMap<String, RawResource>,
    #[serde(default)]
    storage: BTreeMap<String, RawStorage>,
    // Only in charmcraft.yaml.
    #[serde(default)]
    config: Option<RawConfig>,
    #[serde(default)]
    actions: Option<BTreeMap<String, RawAction>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawEndpoint {
    /// The short form `name: interface`.
    Interface(String),
    Full {
        interface: String,
        limit: Option<u32>,
        scope: Option<String>,
        #[serde(default)]
        optional: bool,
    },
}

#[derive(Debug, Deserialize, Default)]
struct RawContainer {
    resource: Option<String>,
    #[serde(default)]
    mounts: Vec<RawMount>,
}

#[derive(Debug, Deserialize)]
struct RawMount {
    storage: String,
    location: String,
}

#[derive(Debug, Deserialize)]
struct RawResource {
    #[serde(rename = "type")]
    kind: String,
    filename: Option<String>,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawStorage {
    #[serde(rename = "type")]
    kind: String,
    location: Option<String>,
    multiple: Option<RawMultiple>,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    shared: bool,
    minimum_size: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct RawMultiple {
    range: Value,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct RawConfig {
    #[serde(default)]
    options: BTreeMap<String, RawOption>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawOption {
    #[serde(rename = "type")]
    kind: Option<String>,
    default: Option<Value>,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct RawAction {
    #[serde(default)]
    description: String,
    #[serde(default)]
    params: BTreeMap<String, Value>,
    #[serde(default)]
    required: Vec<String>,
    #[serde(rename = "additionalProperties")]
    additional_properties: Option<bool>,
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl RawMetadata {
    fn into_metadata(self, file: &str) -> Result<Metadata, MetadataError> {
        if self.name.is_empty() {
            return Err(invalid(file, "`name` is missing"));
        }
        let mut endpoints = BTreeMap::new();
        for (role, raws) in [
            (Role::Requires, self.requires),
            (Role::Provides, self.provides),
            (Role::Peers, self.peers),
        ] {
            for (name, raw) in raws {
                let endpoint = match raw {
                    RawEndpoint::Interface(interface) => Endpoint {
                        name: name.clone(),
                        role,
                        interface,
                        limit: None,
                        scope: Scope::Global,
                        optional: false,
                    },
                    RawEndpoint::Full {
                        interface,
                        limit,
                        scope,
                        optional,
                    } => Endpoint {
                        name: name.clone(),
                        role,
                        interface,
                        limit,
                        scope: match scope.as_deref() {
                            None | Some("global") => Scope::Global,
                            Some("container") => Scope::Container,
                            Some(other) => {
                                return Err(invalid(
                                    file,
                                    format!("endpoint `{name}` has unknown scope `{other}`"),
                                ));
                            }
                        },
                        optional,
                    },
                };
                if let Some(previous) = endpoints.insert(name.clone(), endpoint) {
                    return Err(invalid(
                        file,
                        format!(
                            "endpoint `{name}` is declared twice (under {} and {role})",
                            previous.role
                        ),
                    ));
                }
            }
        }
        let mut resources = BTreeMap::new();
        for (name, raw) in self.resources {
            let kind = match raw.kind.as_str() {
                "file" => ResourceKind::File,
                "oci-image" => ResourceKind::OciImage,
                other => {
                    return Err(invalid(
                        file,
                        format!("resource `{name}` has unknown type `{other}`"),
                    ));
                }
            };
            resources.insert(
                name,
                ResourceSpec {
                    kind,
                    filename: raw.filename,
                    description: raw.description,
                },
            );
        }
        let mut storage = BTreeMap::new();
        for (name, raw) in self.storage {
            let kind = match raw.kind.as_str() {
                "filesystem" => StorageKind::Filesystem,
                "block" => StorageKind::Block,
                other => {
                    return Err(invalid(
                        file,
                        format!("storage `{name}` has unknown type `{other}`"),
                    ));
                }
            };
            storage.insert(
                name,
                StorageSpec {
                    kind,
                    location: raw.location,
                    multiple: raw.multiple.map(|m| value_text(&m.range)),
                    read_only: raw.read_only,
                    shared: raw.shared,
                    minimum_size: raw.minimum_size.as_ref().map(value_text),
                },
            );
        }
        let mut containers = BTreeMap::new();
        for (name, raw) in self.containers {
            if let Some(res) = &raw.resource
                && !resources.contains_key(res)
            {
                return Err(invalid(
                    file,
                    format!("container `{name}` uses undeclared resource `{res}`"),
                ));
            }
            let mut mounts = Vec::new();
            for m in raw.mounts {
                if !storage.contains_key(&m.storage) {
                    return Err(invalid(
                        file,
                        format!(
                            "container `{name}` mounts undeclared storage `{}`",
                            m.storage
                        ),
                    ));
                }
                mounts.push(Mount {
                    storage: m.storage,
                    location: m.location,
                });
            }
            containers.insert(
                name,
                ContainerSpec {
                    resource: raw.resource,
                    mounts,
                },
            );
        }
        Ok(Metadata {
            name: self.name,
            subordinate: self.subordinate,
            endpoints,
            extra_bindings: self.extra_bindings.into_keys().collect(),
            containers,
            resources,
            storage,
            config: BTreeMap::new(),
            actions: BTreeMap::new(),
        })
    }
}

fn config_options(
    raw: RawConfig,
    file: &str,
) -> Result<BTreeMap<String, ConfigOption>, MetadataError> {
    let mut out = BTreeMap::new();
    for (name, opt) in raw.options {
        let kind = match opt.kind.as_deref().unwrap_or("string") {
            "boolean" => ConfigType::Boolean,
            "int" => ConfigType::Int,
            "float" => ConfigType::Float,
            "string" => ConfigType::String,
            "secret" => ConfigType::Secret,
            other => {
                return Err(invalid(
                    file,
                    format!("config option `{name}` has unknown type `{other}`"),
                ));
            }
        };
        let default = match &opt.default {
            None | Some(Value::Null) => None,
            Some(v) => Some(ConfigValue::from_json(kind, v).ok_or_else(|| {
                invalid(
                    file,
                    format!("config option `{name}` is {kind} but its default is `{v}`"),
                )
            })?),
        };
        out.insert(
            name,
            ConfigOption {
                kind,
                default,
                description: opt.description,
            },
        );
    }
    Ok(out)
}

fn actions(
    raw: BTreeMap<String, RawAction>,
    file: &str,
) -> Result<BTreeMap<String, ActionSpec>, MetadataError> {
    let mut out = BTreeMap::new();
    for (name, a) in raw {
        for req in &a.required {
            if !a.params.contains_key(req) {
                return Err(invalid(
                    file,
                    format!("action `{name}` requires undeclared parameter `{req}`"),
                ));
            }
        }
        out.insert(
            name,
            ActionSpec {
                description: a.description,
                params: a.params,
                required: a.required,
                additional_properties: a.additional_properties.unwrap_or(true),
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = r#"
name: image-backup
subordinate: false
requires:
  backup:
    interface: backup
    limit: 1
    scope: container
    optional: true
  db: mysql
provides:
  image-backup:
    interface: image_backup
peers:
  cluster:
    interface: image_backup_peers
extra-bindings:
  metrics: {}
containers:
  controller:
    resource: controller-image
    mounts:
      - storage: cache
        location: /var/cache/ib
resources:
  controller-image:
    type: oci-image
    description: the controller
  blob:
    type: file
    filename: blob.tar
storage:
  cache:
    type: filesystem
    location: /var/cache/ib
    multiple:
      range: 1-3
"#;

    const CONFIG: &str = r#"
options:
  fileset:
    type: string
    description: paths
  port:
    type: int
    default: 8080
  ratio:
    type: float
    default: 1
  debug:
    type: boolean
    default: false
  creds:
    type: secret
"#;

    const ACTIONS: &str = r#"
backup-now:
  description: Back up an image now.
  params:
    image:
      type: string
    retries:
      type: integer
      minimum: 0
  required: [image]
  additionalProperties: false
list: {}
"#;

    #[test]
    fn packed_form_is_typed() {
        let m = Metadata::from_packed(METADATA, Some(CONFIG), Some(ACTIONS)).unwrap();
        assert_eq!(m.name, "image-backup");
        let backup = m.endpoint("backup").unwrap();
        assert_eq!(backup.role, Role::Requires);
        assert_eq!(backup.interface, "backup");
        assert_eq!(backup.limit, Some(1));
        assert_eq!(backup.scope, Scope::Container);
        assert!(backup.optional);
        assert_eq!(m.endpoint("db").unwrap().interface, "mysql");
        assert_eq!(m.endpoint("image-backup").unwrap().role, Role::Provides);
        assert_eq!(m.endpoint("cluster").unwrap().role, Role::Peers);
        assert!(m.extra_bindings.contains("metrics"));
        let c = &m.containers["controller"];
        assert_eq!(c.resource.as_deref(), Some("controller-image"));
        assert_eq!(c.mounts[0].location, "/var/cache/ib");
        assert_eq!(m.resources["controller-image"].kind, ResourceKind::OciImage);
        assert_eq!(m.resources["blob"].filename.as_deref(), Some("blob.tar"));
        assert_eq!(m.storage["cache"].kind, StorageKind::Filesystem);
        assert_eq!(m.storage["cache"].multiple.as_deref(), Some("1-3"));
        assert_eq!(m.config["fileset"].kind, ConfigType::String);
        assert_eq!(m.config["fileset"].default, None);
        assert_eq!(m.config["port"].default, Some(ConfigValue::Int(8080)));
        assert_eq!(m.config["ratio"].default, Some(ConfigValue::Float(1.0)));
        assert_eq!(m.config["debug"].default, Some(ConfigValue::Boolean(false)));
        assert_eq!(m.config["creds"].kind, ConfigType::Secret);
        let a = &m.actions["backup-now"];
        assert_eq!(a.required, vec!["image".to_string()]);
        assert!(!a.additional_properties);
        assert_eq!(a.params["retries"]["minimum"], 0);
        assert!(m.actions["list"].additional_properties);
    }

    #[test]
    fn charmcraft_form_matches_packed_form() {
        let indent = |s: &str| {
            s.lines()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let charmcraft = format!(
            "{METADATA}\ntype: charm\nconfig:\n{}\nactions:\n{}\n",
            indent(CONFIG),
            indent(ACTIONS)
        );
        let a = Metadata::from_charmcraft_yaml(&charmcraft).unwrap();
        let b = Metadata::from_packed(METADATA, Some(CONFIG), Some(ACTIONS)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn charm_dir_prefers_packed_form() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("charmcraft.yaml"), "name: source\n").unwrap();
        assert_eq!(Metadata::from_charm_dir(dir.path()).unwrap().name, "source");
        std::fs::write(dir.path().join("metadata.yaml"), "name: packed\n").unwrap();
        std::fs::write(dir.path().join("config.yaml"), CONFIG).unwrap();
        let m = Metadata::from_charm_dir(dir.path()).unwrap();
        assert_eq!(m.name, "packed");
        assert!(m.config.contains_key("port"));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            Metadata::from_charm_dir(empty.path()),
            Err(MetadataError::NotFound { .. })
        ));
    }

    #[test]
    fn bad_metadata_is_explained() {
        let cases: &[(&str, Option<&str>, Option<&str>, &str)] = &[
            ("name: [", None, None, "metadata.yaml"),
            ("subordinate: true\n", None, None, "`name` is missing"),
            (
                "name: x\nrequires:\n  a: {interface: i, scope: galaxy}\n",
                None,
                None,
                "galaxy",
            ),
            (
                "name: x\nrequires:\n  a: i\nprovides:\n  a: i\n",
                None,
                None,
                "declared twice",
            ),
            (
                "name: x\nresources:\n  r: {type: deb}\n",
                None,
                None,
                "unknown type `deb`",
            ),
            (
                "name: x\ncontainers:\n  c: {resource: nope}\n",
                None,
                None,
                "undeclared resource `nope`",
            ),
            (
                "name: x\n",
                Some("options:\n  port: {type: int, default: eighty}\n"),
                None,
                "`port` is int but its default is `\"eighty\"`",
            ),
            (
                "name: x\n",
                Some("options:\n  p: {type: list}\n"),
                None,
                "unknown type `list`",
            ),
            (
                "name: x\n",
                None,
                Some("a:\n  required: [b]\n"),
                "undeclared parameter `b`",
            ),
        ];
        for (meta, config, actions, needle) in cases {
            let err = Metadata::from_packed(meta, *config, *actions).unwrap_err();
            assert!(err.to_string().contains(needle), "{err} lacks {needle}");
        }
    }

    #[test]
    fn empty_config_and_actions_files_are_accepted() {
        let m = Metadata::from_packed("name: x\n", Some(""), Some("")).unwrap();
        assert!(m.config.is_empty() && m.actions.is_empty());
    }
}
