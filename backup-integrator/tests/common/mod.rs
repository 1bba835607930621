//! Shared scenario-test helpers: the charm run against in-memory Juju states (charm-core's
//! testing harness), with its scripts in a temporary directory.
#![allow(dead_code)] // Each test binary uses a different subset.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use backup_integrator::{BackupIntegrator, script_root};
use charm_core::metadata::ConfigValue;
use charm_core::testing::{Context, Relation, State, TestError};
use charm_core::{Event, Metadata, Status};

pub const UNIT: &str = "backup-integrator/0";
pub const SCRIPTS: [&str; 4] = [
    "run-before-backup",
    "run-after-backup",
    "run-before-restore",
    "run-after-restore",
];
/// Relation ids used by the helpers.
pub const JUJU_INFO_ID: u64 = 1;
pub const BACKUP_ID: u64 = 2;

/// The script [`published`] sets.
pub const SCRIPT: &str = "#!/bin/sh\necho before\n";

pub fn meta() -> Metadata {
    Metadata::from_charmcraft_yaml(include_str!("../../charmcraft.yaml"))
        .expect("charmcraft.yaml is valid")
}

/// A file under the script root: content, permission bits, inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub content: Vec<u8>,
    pub mode: u32,
    pub inode: u64,
}

/// One unit's charm with its own script root.
pub struct Harness {
    root: tempfile::TempDir,
    ctx: Context<BackupIntegrator>,
    unit: String,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::for_unit(UNIT)
    }

    pub fn for_unit(unit: &str) -> Harness {
        Harness {
            root: tempfile::tempdir().expect("temporary directory"),
            ctx: Context::new(meta()).unit(unit),
            unit: unit.to_owned(),
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `<root>/backup-integrator-0/scripts`.
    pub fn script_dir(&self) -> PathBuf {
        self.unit_dir().join("scripts")
    }

    pub fn unit_dir(&self) -> PathBuf {
        self.root().join(self.unit.replace('/', "-"))
    }

    /// The path of a script as it must appear in the relation.
    pub fn script_path(&self, option: &str) -> String {
        self.script_dir().join(option).display().to_string()
    }

    pub fn try_run(&self, event: Event, state: State) -> Result<State, TestError> {
        script_root::scoped(self.root(), || self.ctx.run(event, state))
    }

    pub fn run(&self, event: Event, state: State) -> State {
        let label = event.to_string();
        self.try_run(event, state)
            .unwrap_or_else(|e| panic!("{label} failed: {e}"))
    }

    /// Every file under the script root, by path relative to it.
    pub fn files(&self) -> BTreeMap<String, FileState> {
        let mut files = BTreeMap::new();
        walk(self.root(), self.root(), &mut files);
        files
    }

    /// [`Harness::files`] without inodes, for comparing two harnesses.
    pub fn contents(&self) -> BTreeMap<String, (Vec<u8>, u32)> {
        self.files()
            .into_iter()
            .map(|(k, f)| (k, (f.content, f.mode)))
            .collect()
    }

    /// A bag with this harness's root replaced by `<root>`, for comparing two harnesses.
    pub fn portable(&self, bag: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let root = self.root().display().to_string();
        bag.iter()
            .map(|(k, v)| (k.clone(), v.replace(&root, "<root>")))
            .collect()
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, FileState>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let meta = fs::symlink_metadata(&path).expect("metadata");
        if meta.is_dir() {
            walk(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("under root");
            out.insert(
                rel.display().to_string(),
                FileState {
                    content: fs::read(&path).expect("readable"),
                    mode: meta.mode() & 0o7777,
                    inode: meta.ino(),
                },
            );
        }
    }
}

pub fn config<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, ConfigValue> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), ConfigValue::String(v.to_owned())))
        .collect()
}

/// The principal's subordinate relation, always there for a deployed subordinate.
pub fn juju_info() -> Relation {
    Relation::new("juju-info", "ubuntu").id(JUJU_INFO_ID)
}

/// The relation to the backup agent.
pub fn backup() -> Relation {
    Relation::new("backup", "bacula-fd").id(BACKUP_ID)
}

pub fn state<'a>(
    leader: bool,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    relations: Vec<Relation>,
) -> State {
    State {
        leader,
        config: config(pairs),
        relations,
        ..State::default()
    }
}

/// The leader, related, with `pairs` as config.
pub fn related_leader<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> State {
    state(true, pairs, vec![juju_info(), backup()])
}

pub fn created(rel: &Relation) -> Event {
    rel.created_event()
}

pub fn joined(rel: &Relation) -> Event {
    rel.joined_event()
}

pub fn changed(rel: &Relation) -> Event {
    rel.changed_event()
}

pub fn broken(rel: &Relation) -> Event {
    rel.broken_event()
}

/// The hooks the issue (and the Python charm) reconcile on, for a state holding `backup()`.
pub fn reconcile_events(leader: bool) -> Vec<Event> {
    let rel = backup();
    let mut events = vec![
        Event::ConfigChanged,
        Event::UpgradeCharm,
        Event::LeaderSettingsChanged,
        created(&rel),
        changed(&rel),
    ];
    if leader {
        events.push(Event::LeaderElected);
    }
    events
}

/// Every other hook a unit of this charm sees; they reconcile too (harmless and cheap).
pub fn other_events() -> Vec<Event> {
    let info = juju_info();
    vec![
        Event::Install,
        Event::Start,
        Event::UpdateStatus,
        joined(&backup()),
        created(&info),
        joined(&info),
        changed(&info),
    ]
}

pub fn active() -> Option<Status> {
    Some(Status::active(""))
}

pub fn blocked(message: &str) -> Option<Status> {
    Some(Status::blocked(message))
}

pub fn waiting_for_relation() -> Option<Status> {
    Some(Status::waiting("waiting for backup relation"))
}

/// The backup relation's local application bag.
pub fn app_bag(state: &State) -> &BTreeMap<String, String> {
    &state
        .relation(charm_core::RelationId(BACKUP_ID))
        .expect("backup relation in state")
        .local_app_data
}

/// The `relation-set` commands the hook ran.
pub fn relation_sets(state: &State) -> Vec<&String> {
    state
        .tool_calls
        .iter()
        .filter(|c| c.starts_with("relation-set"))
        .collect()
}

/// A harness whose leader has published `fileset=/srv` and `run-before-backup` = [`SCRIPT`].
pub fn published() -> (Harness, State) {
    let h = Harness::new();
    let out = h.run(
        Event::ConfigChanged,
        related_leader([("fileset", "/srv"), ("run-before-backup", SCRIPT)]),
    );
    assert_eq!(out.unit_status, active());
    (h, out)
}

/// Runs config-changed on `before` with `pairs` as the whole config.
pub fn reconfigure(h: &Harness, before: &State, pairs: &[(&str, &str)]) -> State {
    let mut next = before.clone();
    next.config = config(pairs.iter().copied());
    h.run(Event::ConfigChanged, next)
}
