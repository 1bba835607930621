//! `cargo xtask new-charm`: a standalone charm crate, outside this workspace, from the
//! templates in `xtask/templates/charm/`: a reconcile-style charm (machine, or Kubernetes
//! with a Pebble workload), its state-transition tests, a charmcraft.yaml whose `charm` part
//! builds it with craft-parts' rust plugin, a README with the commands to test and pack it,
//! a `.gitignore`, and this workspace's `Cargo.lock` so that its dependencies are the versions
//! charm-core is tested with (and already in cargo's cache).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result, bail};

use crate::pack::cargo;

/// A charm name as Juju accepts it: lowercase letters, digits and hyphens, starting with a
/// letter, every hyphen-separated word holding a letter (Juju's
/// `[a-z][a-z0-9]*(-[a-z0-9]*[a-z][a-z0-9]*)*`). It also names the crate and its binary, so
/// Rust's keywords and the standard crates' names are refused too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharmName(String);

/// Names cargo refuses for a package or a binary.
const RESERVED: &[&str] = &[
    "abstract",
    "alloc",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "core",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "proc-macro",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "std",
    "struct",
    "super",
    "test",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
];

impl FromStr for CharmName {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        let rule = "a charm name is lowercase letters, digits and hyphens, starts with a letter, \
                    and every word between hyphens has a letter (e.g. my-charm, web2)";
        let mut words = name.split('-');
        let first = words.next().unwrap_or_default();
        let word_ok = |w: &str| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && w.chars().any(|c| c.is_ascii_lowercase())
        };
        if !first.starts_with(|c: char| c.is_ascii_lowercase()) || !word_ok(first) {
            return Err(format!("invalid charm name {name:?}: {rule}"));
        }
        if let Some(bad) = words.find(|w| !word_ok(w)) {
            let why = if bad.is_empty() {
                "an empty word (leading, trailing or double hyphen)".to_owned()
            } else {
                format!("the word {bad:?}")
            };
            return Err(format!("invalid charm name {name:?} ({why}): {rule}"));
        }
        if RESERVED.contains(&name) {
            return Err(format!(
                "invalid charm name {name:?}: it also names the Rust crate, and cargo reserves it"
            ));
        }
        Ok(CharmName(name.to_owned()))
    }
}

impl CharmName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The charm's Rust type: `my-app` -> `MyAppCharm`, `web-charm` -> `WebCharm`.
    pub fn type_name(&self) -> String {
        let mut out: String = self
            .0
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        // The suffix also keeps the type clear of charm-core's names (`charm` -> `Charm`).
        if out == "Charm" || !out.ends_with("Charm") {
            out.push_str("Charm");
        }
        out
    }
}

impl fmt::Display for CharmName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the new crate gets charm-core from: `path:DIR` (a checkout, e.g. this one) or
/// `git:URL`, optionally pinned with cargo's own query syntax: `git:URL?rev=SHA`,
/// `?tag=TAG` or `?branch=BRANCH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CharmCoreSource {
    Path(PathBuf),
    Git { url: String, pin: Option<GitPin> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitPin {
    Rev(String),
    Tag(String),
    Branch(String),
}

impl FromStr for CharmCoreSource {
    type Err = String;

    fn from_str(source: &str) -> Result<Self, String> {
        let usage = "expected path:DIR or git:URL[?rev=SHA|?tag=TAG|?branch=NAME]";
        if let Some(dir) = source.strip_prefix("path:") {
            if dir.is_empty() {
                return Err(format!("{source:?}: no directory after path: ({usage})"));
            }
            return Ok(CharmCoreSource::Path(PathBuf::from(dir)));
        }
        let Some(rest) = source.strip_prefix("git:") else {
            return Err(format!("charm-core source {source:?}: {usage}"));
        };
        let (url, query) = match rest.split_once('?') {
            Some((url, query)) => (url, Some(query)),
            None => (rest, None),
        };
        if url.is_empty() {
            return Err(format!("{source:?}: no URL after git: ({usage})"));
        }
        let pin = match query.map(|q| q.split_once('=')) {
            None => None,
            Some(Some(("rev", v))) if !v.is_empty() => Some(GitPin::Rev(v.to_owned())),
            Some(Some(("tag", v))) if !v.is_empty() => Some(GitPin::Tag(v.to_owned())),
            Some(Some(("branch", v))) if !v.is_empty() => Some(GitPin::Branch(v.to_owned())),
            Some(_) => return Err(format!("{source:?}: bad pin after `?` ({usage})")),
        };
        Ok(CharmCoreSource::Git {
            url: url.to_owned(),
            pin,
        })
    }
}

/// A TOML basic string (JSON's escapes are TOML's).
fn toml_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

impl CharmCoreSource {
    /// This checkout's charm-core, which xtask was built from.
    pub fn this_checkout() -> CharmCoreSource {
        CharmCoreSource::Path(Path::new(env!("CARGO_MANIFEST_DIR")).join("../charm-core"))
    }

    /// The dependency's inline table in Cargo.toml.
    fn dependency(&self, features: &[&str]) -> String {
        let mut fields = match self {
            CharmCoreSource::Path(dir) => vec![format!(
                "path = {}",
                toml_string(&dir.display().to_string())
            )],
            CharmCoreSource::Git { url, pin } => {
                let mut f = vec![format!("git = {}", toml_string(url))];
                match pin {
                    Some(GitPin::Rev(v)) => f.push(format!("rev = {}", toml_string(v))),
                    Some(GitPin::Tag(v)) => f.push(format!("tag = {}", toml_string(v))),
                    Some(GitPin::Branch(v)) => f.push(format!("branch = {}", toml_string(v))),
                    None => {}
                }
                f
            }
        };
        if !features.is_empty() {
            let list: Vec<String> = features.iter().map(|f| toml_string(f)).collect();
            fields.push(format!("features = [{}]", list.join(", ")));
        }
        format!("{{ {} }}", fields.join(", "))
    }

    fn describe(&self) -> String {
        match self {
            CharmCoreSource::Path(dir) => format!("path dependency on {}", dir.display()),
            CharmCoreSource::Git { url, .. } => format!("from {url}"),
        }
    }
}

/// Machine charm, or Kubernetes charm with a workload container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Machine,
    Kubernetes,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct NewCharm {
    pub name: CharmName,
    pub flavour: Flavour,
    /// The crate's directory: created, or empty.
    pub dir: PathBuf,
    pub charm_core: CharmCoreSource,
}

const CARGO_TOML: &str = include_str!("../templates/charm/Cargo.toml");
const GITIGNORE: &str = include_str!("../templates/charm/gitignore");
const README: &str = include_str!("../templates/charm/README.md");
const MAIN_RS: &str = include_str!("../templates/charm/main.rs");
const PARTS: &str = include_str!("../templates/charm/parts.yaml");
const MACHINE: [&str; 3] = [
    include_str!("../templates/charm/machine/charmcraft.yaml"),
    include_str!("../templates/charm/machine/charm.rs"),
    include_str!("../templates/charm/machine/tests.rs"),
];
const KUBERNETES: [&str; 3] = [
    include_str!("../templates/charm/kubernetes/charmcraft.yaml"),
    include_str!("../templates/charm/kubernetes/charm.rs"),
    include_str!("../templates/charm/kubernetes/tests.rs"),
];
/// The lock file charm-core's versions come from.
const LOCK_FILE: &str = include_str!("../../Cargo.lock");

impl NewCharm {
    /// Writes the crate and returns its directory (absolute). Refuses a directory that has
    /// anything in it, and checks a path source is a charm-core checkout before writing.
    pub fn generate(&self) -> Result<PathBuf> {
        let dir = absolute(&self.dir)?;
        if let Ok(mut entries) = fs::read_dir(&dir) {
            if entries.next().is_some() {
                bail!(
                    "{} exists and is not empty: give a new directory with --path",
                    dir.display()
                );
            }
        } else if dir.exists() {
            bail!("{} exists and is not a directory", dir.display());
        }
        let charm_core = match &self.charm_core {
            CharmCoreSource::Path(path) => {
                let path = absolute(path)?;
                let manifest = path.join("Cargo.toml");
                let text = fs::read_to_string(&manifest).with_context(|| {
                    format!("--charm-core path:{}: no Cargo.toml there", path.display())
                })?;
                if !text.contains("name = \"charm-core\"") {
                    bail!(
                        "--charm-core path:{}: not the charm-core crate",
                        path.display()
                    );
                }
                CharmCoreSource::Path(path.canonicalize()?)
            }
            git => git.clone(),
        };

        let [charmcraft, charm, tests] = match self.flavour {
            Flavour::Machine => MACHINE,
            Flavour::Kubernetes => KUBERNETES,
        };
        let (flavour, platform, deploy_extra) = match self.flavour {
            Flavour::Machine => ("machine", "ubuntu@22.04-amd64", ""),
            Flavour::Kubernetes => (
                "Kubernetes",
                "ubuntu@24.04-amd64",
                " --resource workload-image=docker.io/library/busybox:1.37",
            ),
        };
        let pack_note = match &charm_core {
            CharmCoreSource::Path(path) => format!(
                "charm-core is a path dependency ({}),\nwhich charmcraft's build instance \
                 cannot see: before `charmcraft pack`, point `charm-core`\nin Cargo.toml at \
                 its git repository (`{{ git = \"URL\" }}`, as `cargo xtask new-charm \
                 --charm-core git:URL`\nwrites it), or pack with `charmcraft pack \
                 --destructive-mode` on an Ubuntu machine of the platform's release.\n\n",
                path.display()
            ),
            CharmCoreSource::Git { .. } => String::new(),
        };
        let name = self.name.as_str();
        let render = |template: &str| {
            template
                .replace("{{parts}}", PARTS)
                .replace("{{name}}", name)
                .replace("{{Type}}", &self.name.type_name())
                .replace("{{flavour}}", flavour)
                .replace("{{charm_core}}", &charm_core.dependency(&[]))
                .replace(
                    "{{charm_core_testing}}",
                    &charm_core.dependency(&["testing"]),
                )
                .replace("{{charm_core_source}}", &charm_core.describe())
                .replace("{{pack_note}}", &pack_note)
                .replace("{{dir}}", &dir.display().to_string())
                .replace(
                    "{{deploy}}",
                    &format!("juju deploy ./{name}_{platform}.charm{deploy_extra}"),
                )
        };
        let files: [(&str, &str); 8] = [
            ("Cargo.toml", CARGO_TOML),
            ("Cargo.lock", LOCK_FILE),
            (".gitignore", GITIGNORE),
            ("README.md", README),
            ("charmcraft.yaml", charmcraft),
            ("src/main.rs", MAIN_RS),
            ("src/charm.rs", charm),
            ("src/tests.rs", tests),
        ];
        for (path, template) in files {
            let path = dir.join(path);
            let text = if path.ends_with("Cargo.lock") {
                template.to_owned()
            } else {
                render(template)
            };
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        settle_lock_file(&dir);
        format(&dir);
        Ok(dir)
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

/// Trims the copied lock file to the new crate's dependencies, keeping their versions: cargo
/// rewrites it on any command, offline when every package is in its cache (a path source
/// after this workspace was built). `charmcraft pack` builds with `--locked`, which refuses a
/// lock file that still needs this.
fn settle_lock_file(dir: &Path) {
    for offline in [true, false] {
        let mut cmd = cargo();
        cmd.args(["metadata", "--format-version", "1", "--quiet"])
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if offline {
            cmd.arg("--offline");
        }
        if cmd.status().is_ok_and(|s| s.success()) {
            return;
        }
    }
    eprintln!(
        "note: Cargo.lock is this workspace's; the first cargo command in {} settles it",
        dir.display()
    );
}

/// rustfmt's layout depends on the name's length: the generated crate starts formatted.
fn format(dir: &Path) {
    let formatted = cargo()
        .args(["fmt", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .status();
    if !formatted.is_ok_and(|s| s.success()) {
        eprintln!(
            "note: `cargo fmt` failed in {}; the code is as the template wrote it",
            dir.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charm_names_follow_juju() {
        for good in ["a", "my-charm", "web2", "a1-b2c", "x-9a", "charm"] {
            assert!(good.parse::<CharmName>().is_ok(), "{good}");
        }
        for (bad, says) in [
            ("", "invalid charm name"),
            ("My-charm", "starts with a letter"),
            ("2web", "starts with a letter"),
            ("my_charm", "lowercase letters, digits and hyphens"),
            ("my-", "empty word"),
            ("-my", "invalid charm name"),
            ("my--charm", "empty word"),
            ("my-2", "the word \"2\""),
            ("test", "cargo reserves it"),
            ("fn", "cargo reserves it"),
        ] {
            let err = bad.parse::<CharmName>().unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn type_names_end_in_charm() {
        let ty = |n: &str| n.parse::<CharmName>().unwrap().type_name();
        assert_eq!(ty("my-app"), "MyAppCharm");
        assert_eq!(ty("web-charm"), "WebCharm");
        assert_eq!(ty("charm"), "CharmCharm");
        assert_eq!(ty("a1-b2"), "A1B2Charm");
    }

    #[test]
    fn charm_core_sources_parse_into_cargo_dependencies() {
        let dep = |s: &str, f: &[&str]| s.parse::<CharmCoreSource>().unwrap().dependency(f);
        assert_eq!(
            dep("path:/src/charm \"core\"", &["testing"]),
            r#"{ path = "/src/charm \"core\"", features = ["testing"] }"#
        );
        assert_eq!(
            dep("git:https://example.com/r.git", &[]),
            r#"{ git = "https://example.com/r.git" }"#
        );
        assert_eq!(
            dep("git:https://example.com/r.git?tag=v0.1.0", &[]),
            r#"{ git = "https://example.com/r.git", tag = "v0.1.0" }"#
        );
        assert_eq!(
            dep("git:ssh://git@example.com/r?rev=abc123", &[]),
            r#"{ git = "ssh://git@example.com/r", rev = "abc123" }"#
        );
        for bad in [
            "/src/charm-core",
            "path:",
            "git:",
            "git:u?sha=1",
            "git:u?rev=",
            "crates:1",
        ] {
            let err = bad.parse::<CharmCoreSource>().unwrap_err();
            assert!(err.contains("path:DIR or git:URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn refuses_a_directory_with_files_and_a_wrong_charm_core() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("keep.txt"), "mine").unwrap();
        let mut new = NewCharm {
            name: "demo".parse().unwrap(),
            flavour: Flavour::Machine,
            dir: tmp.path().to_owned(),
            charm_core: CharmCoreSource::this_checkout(),
        };
        let err = format!("{:#}", new.generate().unwrap_err());
        assert!(err.contains("is not empty"), "{err}");
        assert_eq!(
            fs::read_to_string(tmp.path().join("keep.txt")).unwrap(),
            "mine"
        );

        new.dir = tmp.path().join("fresh");
        new.charm_core = CharmCoreSource::Path(tmp.path().to_owned());
        let err = format!("{:#}", new.generate().unwrap_err());
        assert!(err.contains("no Cargo.toml there"), "{err}");
        assert!(!new.dir.exists(), "nothing written");
    }
}
