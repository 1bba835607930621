//! Reading a charm's `charmcraft.yaml` and splitting it the way charmcraft does: metadata
//! keys into `metadata.yaml`, `config` into `config.yaml`, `actions` into `actions.yaml`, and
//! the bases (or platforms) into one output per `.charm` file with its `manifest.yaml`.
//!
//! Legacy files next to `charmcraft.yaml` (`metadata.yaml`, `config.yaml`, `actions.yaml`)
//! are copied as they are; having both a legacy file and the same content in
//! `charmcraft.yaml` is an error, as it is for charmcraft.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_yaml::{Mapping, Value};

/// Keys charmcraft moves into `metadata.yaml` (charmcraft's `CHARM_METADATA_KEYS`, plus
/// `charm-user`, which Juju reads from there too).
const METADATA_KEYS: &[&str] = &[
    "assumes",
    "charm-user",
    "containers",
    "description",
    "devices",
    "display-name",
    "docs",
    "extra-bindings",
    "issues",
    "maintainers",
    "name",
    "peers",
    "provides",
    "requires",
    "resources",
    "series",
    "source",
    "storage",
    "subordinate",
    "summary",
    "terms",
    "website",
];

/// charmcraft's renames into `metadata.yaml`: `title` becomes `display-name` and `links.*`
/// become `docs`, `issues`, `source`, `website` and `maintainers` (what Charmhub shows).
/// Like charmcraft, links must be http(s) URLs and are written normalized (pydantic's
/// `AnyHttpUrl` is the `url` crate's parser: `https://Example.com` becomes
/// `https://example.com/`), and a single contact becomes a list.
fn renamed_metadata(doc: &Mapping) -> Result<Vec<(&'static str, Value)>> {
    let mut out = Vec::new();
    if let Some(title) = doc.get("title") {
        out.push(("display-name", title.clone()));
    }
    if let Some(Value::Mapping(links)) = doc.get("links") {
        for (link, key) in [
            ("documentation", "docs"),
            ("issues", "issues"),
            ("source", "source"),
            ("website", "website"),
        ] {
            if let Some(value) = links.get(link) {
                let normalized = match value {
                    Value::Sequence(urls) => Value::Sequence(
                        urls.iter()
                            .map(|u| http_url(u).with_context(|| format!("links.{link}")))
                            .collect::<Result<_>>()?,
                    ),
                    url => http_url(url).with_context(|| format!("links.{link}"))?,
                };
                out.push((key, normalized));
            }
        }
        match links.get("contact") {
            Some(contact @ Value::String(_)) => {
                out.push(("maintainers", Value::Sequence(vec![contact.clone()])))
            }
            Some(contacts) => out.push(("maintainers", contacts.clone())),
            None => {}
        }
    }
    Ok(out)
}

/// An http(s) URL, normalized as charmcraft writes it.
fn http_url(value: &Value) -> Result<Value> {
    let text = value.as_str().context("a URL must be a string")?;
    let url = url::Url::parse(text).with_context(|| format!("{text:?} is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("{text:?} is not an http(s) URL");
    }
    Ok(Value::String(url.to_string()))
}

/// The only architecture we build for: the charm binary is x86_64.
pub const ARCH: &str = "amd64";

/// A base a charm runs on, as `manifest.yaml` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    pub name: String,
    pub channel: String,
    pub architectures: Vec<String>,
}

/// One `.charm` file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub file_name: String,
    pub bases: Vec<Base>,
}

/// A charm project, ready to pack.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub metadata_yaml: Vec<u8>,
    pub config_yaml: Option<Vec<u8>>,
    pub actions_yaml: Option<Vec<u8>>,
    pub outputs: Vec<Output>,
}

impl Output {
    /// `manifest.yaml`: what Juju 3 reads the charm's bases from.
    pub fn manifest_yaml(&self) -> Result<Vec<u8>> {
        let attribute = |name: &str| {
            let mut m = Mapping::new();
            m.insert("name".into(), name.into());
            // charmcraft's analysis vocabulary knows Python charms only.
            m.insert("result".into(), "unknown".into());
            Value::Mapping(m)
        };
        let mut analysis = Mapping::new();
        analysis.insert(
            "attributes".into(),
            Value::Sequence(vec![attribute("language"), attribute("framework")]),
        );
        let bases = self
            .bases
            .iter()
            .map(|b| {
                let mut m = Mapping::new();
                m.insert(
                    "architectures".into(),
                    Value::Sequence(b.architectures.iter().map(|a| a.as_str().into()).collect()),
                );
                m.insert("channel".into(), b.channel.as_str().into());
                m.insert("name".into(), b.name.as_str().into());
                Value::Mapping(m)
            })
            .collect();
        let mut manifest = Mapping::new();
        manifest.insert("analysis".into(), Value::Mapping(analysis));
        manifest.insert("bases".into(), Value::Sequence(bases));
        Ok(serde_yaml::to_string(&manifest)?.into_bytes())
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn non_empty(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Mapping(m) => !m.is_empty(),
        _ => true,
    }
}

/// Reads and splits `dir/charmcraft.yaml`.
pub fn load(dir: &Path) -> Result<Project> {
    let path = dir.join("charmcraft.yaml");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let doc: Value = serde_yaml::from_str(&text)
        .with_context(|| format!("{} is not valid YAML", path.display()))?;
    let Value::Mapping(doc) = doc else {
        bail!("{}: the top level must be a mapping", path.display());
    };
    let ctx = |what: String| format!("{}: {what}", path.display());
    match doc.get("type").and_then(Value::as_str) {
        None | Some("charm") => {}
        Some(other) => bail!(ctx(format!("type {other:?} is not a charm"))),
    }

    let mut metadata = Mapping::new();
    for (k, v) in &doc {
        if k.as_str().is_some_and(|k| METADATA_KEYS.contains(&k)) {
            metadata.insert(k.clone(), v.clone());
        }
    }
    for (key, value) in renamed_metadata(&doc).with_context(|| ctx("links".into()))? {
        metadata.entry(key.into()).or_insert(value);
    }
    let legacy_metadata = read_optional(&dir.join("metadata.yaml"))?;
    let (name, metadata_yaml) = match legacy_metadata {
        Some(bytes) => {
            if !metadata.is_empty() {
                bail!(ctx(
                    "metadata keys are both in charmcraft.yaml and in metadata.yaml".into()
                ));
            }
            let legacy: Value = serde_yaml::from_slice(&bytes).context("metadata.yaml")?;
            let name = legacy
                .get("name")
                .and_then(Value::as_str)
                .context("metadata.yaml has no name")?
                .to_owned();
            (name, bytes)
        }
        None => {
            let name = metadata
                .get("name")
                .and_then(Value::as_str)
                .with_context(|| ctx("`name` is required".into()))?
                .to_owned();
            (name, serde_yaml::to_string(&metadata)?.into_bytes())
        }
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        bail!(ctx(format!("invalid charm name {name:?}")));
    }

    let section = |key: &str| -> Result<Option<Vec<u8>>> {
        let inline = doc.get(key).filter(|v| non_empty(v));
        let legacy = read_optional(&dir.join(format!("{key}.yaml")))?;
        match (inline, legacy) {
            (Some(_), Some(_)) => bail!(ctx(format!(
                "`{key}` is both in charmcraft.yaml and in {key}.yaml"
            ))),
            (Some(v), None) => Ok(Some(serde_yaml::to_string(v)?.into_bytes())),
            (None, legacy) => Ok(legacy),
        }
    };
    let config_yaml = section("config")?;
    let actions_yaml = section("actions")?;
    let outputs = outputs(&name, &doc).with_context(|| ctx("bases".into()))?;
    Ok(Project {
        name,
        metadata_yaml,
        config_yaml,
        actions_yaml,
        outputs,
    })
}

fn string_field(value: &Value, key: &str) -> Result<String> {
    match value.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => bail!(
            "{key} {n} must be a quoted string (YAML reads it as a number: 22.10 would become 22.1)"
        ),
        _ => bail!("{key} is required"),
    }
}

fn parse_base(value: &Value) -> Result<Base> {
    let name = string_field(value, "name")?;
    let channel = string_field(value, "channel")?;
    let architectures = match value.get("architectures") {
        None => vec![ARCH.to_owned()],
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|a| {
                a.as_str()
                    .map(str::to_owned)
                    .context("architectures must be strings")
            })
            .collect::<Result<_>>()?,
        Some(_) => bail!("architectures must be a list"),
    };
    Ok(Base {
        name,
        channel,
        architectures,
    })
}

/// `ubuntu@22.04` or `ubuntu@22.04:amd64`.
fn parse_base_spec(spec: &str, default_arch: Option<&str>) -> Result<Base> {
    let (base, arch) = match spec.split_once(':') {
        Some((b, a)) => (b, Some(a)),
        None => (spec, default_arch),
    };
    let (name, channel) = base
        .split_once('@')
        .with_context(|| format!("base {spec:?} is not NAME@CHANNEL"))?;
    Ok(Base {
        name: name.to_owned(),
        channel: channel.to_owned(),
        architectures: vec![arch.unwrap_or(ARCH).to_owned()],
    })
}

fn outputs(name: &str, doc: &Mapping) -> Result<Vec<Output>> {
    let outputs = if let Some(bases) = doc.get("bases") {
        let Value::Sequence(entries) = bases else {
            bail!("bases must be a list");
        };
        entries
            .iter()
            .map(|entry| {
                let run_on = match entry.get("run-on") {
                    Some(Value::Sequence(list)) => {
                        list.iter().map(parse_base).collect::<Result<Vec<_>>>()?
                    }
                    Some(_) => bail!("run-on must be a list"),
                    None => vec![parse_base(entry)?],
                };
                // charmcraft's `_format_bases_config`.
                let parts: Vec<String> = run_on
                    .iter()
                    .map(|b| {
                        let mut p = vec![b.name.clone(), b.channel.clone()];
                        p.extend(b.architectures.iter().cloned());
                        p.join("-")
                    })
                    .collect();
                Ok(Output {
                    file_name: format!("{name}_{}.charm", parts.join("_")),
                    bases: run_on,
                })
            })
            .collect::<Result<Vec<_>>>()?
    } else if let Some(platforms) = doc.get("platforms") {
        let Value::Mapping(platforms) = platforms else {
            bail!("platforms must be a mapping");
        };
        let base = doc.get("base").and_then(Value::as_str);
        platforms
            .iter()
            .map(|(key, spec)| {
                let platform = key.as_str().context("platform names must be strings")?;
                let targets: Vec<String> = match spec.get("build-for") {
                    Some(Value::Sequence(items)) => items
                        .iter()
                        .map(|i| {
                            i.as_str()
                                .map(str::to_owned)
                                .context("build-for entries must be strings")
                        })
                        .collect::<Result<_>>()?,
                    Some(Value::String(s)) => vec![s.clone()],
                    Some(_) => bail!("build-for must be a list"),
                    None => vec![platform.to_owned()],
                };
                let bases = targets
                    .iter()
                    .map(|t| {
                        if t.contains('@') {
                            parse_base_spec(t, None)
                        } else {
                            let base = base.with_context(|| {
                                format!("platform {t:?} needs a top-level `base`")
                            })?;
                            parse_base_spec(base, Some(t))
                        }
                    })
                    .collect::<Result<Vec<_>>>()?;
                // charmcraft names the file after the platform with `:` made `-`
                // (`name_ubuntu@22.04-amd64.charm`), which shells and URLs take unquoted.
                Ok(Output {
                    file_name: format!("{name}_{}.charm", platform.replace(':', "-")),
                    bases,
                })
            })
            .collect::<Result<Vec<_>>>()?
    } else {
        bail!("charmcraft.yaml needs `bases` or `platforms`");
    };
    for output in &outputs {
        for base in &output.bases {
            for arch in &base.architectures {
                if arch != ARCH {
                    bail!(
                        "{}: architecture {arch:?} of {}@{} cannot be built: the charm binary is x86_64 ({ARCH}) only",
                        output.file_name,
                        base.name,
                        base.channel
                    );
                }
            }
        }
    }
    if outputs.is_empty() {
        bail!("no bases to build for");
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(charmcraft: &str, extra: &[(&str, &str)]) -> Result<Project> {
        let dir = tempfile::tempdir()?;
        fs::write(dir.path().join("charmcraft.yaml"), charmcraft)?;
        for (name, text) in extra {
            fs::write(dir.path().join(name), text)?;
        }
        load(dir.path())
    }

    const BASES: &str = "bases:\n  - build-on:\n      - {name: ubuntu, channel: \"22.04\"}\n    run-on:\n      - {name: ubuntu, channel: \"22.04\"}\n      - {name: ubuntu, channel: \"24.04\"}\n";

    #[test]
    fn title_and_links_become_charmhub_metadata() {
        let doc: Mapping = serde_yaml::from_str(
            "name: c\ntitle: C\nlinks:\n  documentation: https://d/x\n  website: [HTTPS://W.example]\n  contact: me\n",
        )
        .unwrap();
        let renamed: Mapping = renamed_metadata(&doc)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.into(), v))
            .collect();
        let expected: Mapping = serde_yaml::from_str(
            "display-name: C\ndocs: https://d/x\nwebsite: ['https://w.example/']\nmaintainers: [me]\n",
        )
        .unwrap();
        assert_eq!(renamed, expected);
        for bad in ["links: {source: ftp://f/}", "links: {issues: [not a url]}"] {
            let doc: Mapping = serde_yaml::from_str(bad).unwrap();
            assert!(renamed_metadata(&doc).is_err(), "{bad}");
        }
    }

    #[test]
    fn splits_like_charmcraft() {
        let p = project(
            &format!(
                "type: charm\nname: backup-integrator\nsummary: s\nsubordinate: true\nrequires:\n  backup: {{interface: backup}}\nconfig:\n  options:\n    fileset: {{type: string}}\nactions: {{}}\nparts: {{charm: {{}}}}\n{BASES}"
            ),
            &[],
        )
        .unwrap();
        assert_eq!(p.name, "backup-integrator");
        let meta = String::from_utf8(p.metadata_yaml).unwrap();
        assert_eq!(
            meta,
            "name: backup-integrator\nsummary: s\nsubordinate: true\nrequires:\n  backup:\n    interface: backup\n"
        );
        assert_eq!(
            String::from_utf8(p.config_yaml.unwrap()).unwrap(),
            "options:\n  fileset:\n    type: string\n"
        );
        assert!(p.actions_yaml.is_none(), "empty actions are left out");
        assert_eq!(p.outputs.len(), 1);
        assert_eq!(
            p.outputs[0].file_name,
            "backup-integrator_ubuntu-22.04-amd64_ubuntu-24.04-amd64.charm"
        );
        let manifest = String::from_utf8(p.outputs[0].manifest_yaml().unwrap()).unwrap();
        assert!(
            manifest.contains("bases:\n- architectures:\n  - amd64\n  channel: '22.04'\n  name: ubuntu\n- architectures:\n  - amd64\n  channel: '24.04'\n  name: ubuntu\n"),
            "{manifest}"
        );
    }

    #[test]
    fn platforms_name_files_by_platform() {
        let p = project("name: c\nbase: ubuntu@24.04\nplatforms:\n  amd64:\n", &[]).unwrap();
        assert_eq!(p.outputs[0].file_name, "c_amd64.charm");
        assert_eq!(p.outputs[0].bases[0].channel, "24.04");
        let p = project(
            "name: c\nplatforms:\n  ubuntu@22.04:amd64:\n  ubuntu@24.04:amd64:\n",
            &[],
        )
        .unwrap();
        let names: Vec<&str> = p.outputs.iter().map(|o| o.file_name.as_str()).collect();
        assert_eq!(
            names,
            ["c_ubuntu@22.04-amd64.charm", "c_ubuntu@24.04-amd64.charm"]
        );
    }

    #[test]
    fn legacy_files_are_copied_and_conflicts_refused() {
        let p = project(
            &format!("type: charm\n{BASES}"),
            &[
                ("metadata.yaml", "name: old\n"),
                ("actions.yaml", "go: {}\n"),
            ],
        )
        .unwrap();
        assert_eq!(p.name, "old");
        assert_eq!(p.metadata_yaml, b"name: old\n");
        assert_eq!(p.actions_yaml.unwrap(), b"go: {}\n");
        let err = project(
            &format!("name: c\nconfig:\n  options: {{a: {{type: int}}}}\n{BASES}"),
            &[("config.yaml", "options: {}\n")],
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("`config` is both"), "{err:#}");
    }

    #[test]
    fn refuses_what_cannot_be_built() {
        for (yaml, expected) in [
            ("name: c\n", "needs `bases` or `platforms`"),
            ("summary: x\nbases: []\n", "`name` is required"),
            (
                "name: c\nbases:\n  - {name: ubuntu, channel: 22.04}\n",
                "must be a quoted string",
            ),
            (
                "name: c\nbases:\n  - {name: ubuntu, channel: \"22.04\", architectures: [arm64]}\n",
                "\"arm64\"",
            ),
            ("name: C\nbases: []\n", "invalid charm name"),
            ("type: bundle\nname: c\n", "not a charm"),
        ] {
            let err = format!("{:#}", project(yaml, &[]).unwrap_err());
            assert!(err.contains(expected), "{yaml}: {err}");
        }
    }
}
