//! backup-integrator end to end: the packed charm beside a principal, related to a backup
//! agent (the `backup-agent` test charm, provider side of the proto `backup` contract), run
//! under the hook-tool simulator. Every scenario runs under each [`Schedule`] (queue order,
//! every hook twice, shuffled orders Juju allows) and must end in the same state: statuses,
//! the `backup` bag, the script files, and the requests as the agent decoded them.
//!
//! The script directory is moved into the model's temporary directory with
//! `BACKUP_INTEGRATOR_SCRIPT_ROOT` (the charm's test-only override).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use integration_tests::backup_agent::read_requests;
use integration_tests::fixture::ScriptCharm;
use integration_tests::{Deploy, Model, Schedule, packed, same_end_state};

const APP: &str = "backup-integrator";
const AGENT: &str = "backup-agent";
const HOST: &str = "host";

const BEFORE_BACKUP: &str = "#!/bin/sh\necho stopping writes\n";
const AFTER_RESTORE: &str = "#!/bin/sh\necho restored >> /var/log/restores\n";

/// In order, every hook twice, and two shuffled orders (`seed` and `seed + 1`): each test
/// takes other seeds, so the suite covers more orders than any one test.
fn schedules(seed: u64) -> Vec<Schedule> {
    Schedule::all([seed, seed + 1])
}

struct Charms {
    integrator: PathBuf,
    agent: PathBuf,
}

/// Both charms, packed once for this test process.
fn charms() -> &'static Charms {
    static CHARMS: OnceLock<Charms> = OnceLock::new();
    CHARMS.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let pack = |dir: PathBuf, bin: &str| packed::pack(&dir, Path::new(bin), out).unwrap();
        Charms {
            integrator: pack(
                here.join("../backup-integrator"),
                env!("CARGO_BIN_EXE_charm-backup-integrator"),
            ),
            agent: pack(
                here.join("charms/backup-agent"),
                env!("CARGO_BIN_EXE_charm-backup-agent"),
            ),
        }
    })
}

/// A model with a principal and backup-integrator beside it (not configured, no agent).
struct Bench {
    model: Model,
    _host: ScriptCharm,
    /// Where the charm writes scripts (`/opt/backup-integrator-charm` in production).
    root: PathBuf,
}

impl Bench {
    fn new(schedule: Schedule, host_units: u32) -> Bench {
        let mut model = Model::new(env!("CARGO_BIN_EXE_juju-sim")).unwrap();
        model.set_schedule(schedule);
        let root = model.dir().join("opt/backup-integrator-charm");
        let host = ScriptCharm::new("name: host\n").unwrap();
        model
            .deploy(HOST, Deploy::new(host.path()).units(host_units))
            .unwrap();
        let root_var = backup_integrator::script_root::ENV_VAR;
        let root_text = root.to_str().unwrap();
        model
            .deploy(
                APP,
                Deploy::new(&charms().integrator).env(root_var, root_text),
            )
            .unwrap();
        model.relate(APP, HOST).unwrap();
        Bench {
            model,
            _host: host,
            root,
        }
    }

    /// The agent beside the same principal; returns nothing: relate it with [`Bench::relate`].
    fn deploy_agent(&mut self) {
        self.model
            .deploy(AGENT, Deploy::new(&charms().agent))
            .unwrap();
        self.model.relate(AGENT, HOST).unwrap();
    }

    /// `juju integrate backup-integrator:backup backup-agent:backup`.
    fn relate(&mut self) -> u32 {
        self.model
            .relate(&format!("{APP}:backup"), &format!("{AGENT}:backup"))
            .unwrap()
    }

    fn configure(&mut self, values: &[(&str, &str)]) {
        self.model.config_set(APP, values).unwrap();
    }

    fn status(&self, unit: &str) -> (String, String) {
        let s = self.model.unit_status(unit).unwrap();
        (s.status, s.message)
    }

    fn script(&self, unit: &str, option: &str) -> PathBuf {
        self.root
            .join(unit.replace('/', "-"))
            .join("scripts")
            .join(option)
    }

    /// The charm's bag in the one live backup relation (empty without one).
    fn bag(&self) -> BTreeMap<String, String> {
        let state = self.model.state().unwrap();
        let live = state
            .relations
            .values()
            .find(|r| !r.dying && r.endpoints.iter().any(|e| e.endpoint == "backup"));
        live.and_then(|r| r.app_data.get(APP).cloned())
            .unwrap_or_default()
    }

    /// After an update-status everywhere (Juju's five-minute timer), what the scenario
    /// compares across schedules, with the model's temporary paths replaced by `$ROOT`.
    fn end_state(&mut self) -> EndState {
        self.model.update_status().unwrap();
        let norm = |text: &str| text.replace(self.root.to_str().unwrap(), "$ROOT");
        let mut statuses = BTreeMap::new();
        let mut requests = BTreeMap::new();
        for app in [APP, AGENT, HOST] {
            for unit in self.model.units(app).unwrap() {
                statuses.insert(unit.clone(), self.status(&unit));
                if app == AGENT {
                    let seen = read_requests(&self.model.charm_dir(&unit)).unwrap();
                    requests.insert(unit, norm(&serde_json::to_string(&seen).unwrap()));
                }
            }
        }
        let bag = self.bag().into_iter().map(|(k, v)| (k, norm(&v))).collect();
        EndState {
            statuses,
            bag,
            files: files_under(&self.root),
            requests,
        }
    }
}

#[derive(Debug, PartialEq)]
struct EndState {
    statuses: BTreeMap<String, (String, String)>,
    bag: BTreeMap<String, String>,
    /// Path under the script root to `(mode, content)`; directories end with `/`.
    files: BTreeMap<String, (u32, String)>,
    /// Agent unit to the JSON of the requests it decoded.
    requests: BTreeMap<String, String>,
}

fn files_under(root: &Path) -> BTreeMap<String, (u32, String)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let meta = fs::metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                out.insert(format!("{rel}/"), (mode, String::new()));
                stack.push(path);
            } else {
                out.insert(rel, (mode, fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out
}

fn active() -> (String, String) {
    ("active".into(), String::new())
}

fn status(kind: &str, message: &str) -> (String, String) {
    (kind.into(), message.into())
}

const SCRIPTS: [(&str, &str); 2] = [
    ("run-before-backup", BEFORE_BACKUP),
    ("run-after-restore", AFTER_RESTORE),
];

/// Deploy, configure step by step, relate, then change and break the configuration.
#[test]
fn deploy_configure_and_relate() {
    same_end_state(&schedules(10), |schedule| {
        let mut b = Bench::new(schedule, 1);
        let unit = "backup-integrator/0";
        assert_eq!(b.status(unit), status("blocked", "missing fileset config"));
        b.configure(&[("fileset", " /var/backups/, /etc ,")]);
        assert_eq!(
            b.status(unit),
            status("waiting", "waiting for backup relation")
        );
        b.deploy_agent();
        assert_eq!(
            b.status("backup-agent/0"),
            status("waiting", "no backup requests")
        );
        let rel = b.relate();
        assert_eq!(b.status(unit), active());
        assert_eq!(
            b.status("backup-agent/0"),
            status("active", "backing up 2 path(s) for backup-integrator")
        );
        assert_eq!(
            b.bag(),
            BTreeMap::from([("fileset".into(), "/var/backups,/etc".into())])
        );

        b.configure(&SCRIPTS);
        let bag = b.bag();
        for (option, content) in SCRIPTS {
            let path = b.script(unit, option);
            assert_eq!(bag[option], path.to_str().unwrap());
            assert_eq!(fs::read_to_string(&path).unwrap(), content);
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
            assert_eq!(mode, 0o755, "{}", path.display());
        }
        let seen = read_requests(&b.model.charm_dir("backup-agent/0"))
            .unwrap()
            .unwrap();
        let request = &seen[APP];
        assert_eq!(request.relation, u64::from(rel));
        assert_eq!(request.fileset, ["/var/backups", "/etc"]);
        assert_eq!(request.scripts.len(), 2);
        for (option, content) in SCRIPTS {
            let script = &request.scripts[option];
            assert_eq!(script.problem, None, "{option}");
            assert_eq!(script.content.as_deref(), Some(content));
        }

        // Invalid: Blocked, and the bag and files stay as they were.
        b.configure(&[("fileset", "var/backups"), ("run-after-backup", "echo hi")]);
        assert_eq!(
            b.status(unit),
            status(
                "blocked",
                "invalid config: fileset, run-after-backup must start with #!"
            )
        );
        assert_eq!(b.bag(), bag);
        assert!(!b.script(unit, "run-after-backup").exists());

        // Fixed, and one script unset: its file and key go.
        b.configure(&[("fileset", "/srv"), ("run-after-backup", "")]);
        b.model.config_reset(APP, &["run-after-restore"]).unwrap();
        assert_eq!(b.status(unit), active());
        assert!(!b.script(unit, "run-after-restore").exists());
        let keys: Vec<String> = b.bag().into_keys().collect();
        assert_eq!(keys, ["fileset", "run-before-backup"]);
        b.end_state()
    });
}

/// Juju does not order `juju config` and `juju integrate` issued together: configuring
/// before or after relating ends the same.
#[test]
fn configuring_before_or_after_relating_ends_the_same() {
    let mut config: Vec<(&str, &str)> = vec![("fileset", "/var/backups")];
    config.extend(SCRIPTS);
    let configured_first = same_end_state(&schedules(20), |schedule| {
        let mut b = Bench::new(schedule, 1);
        b.configure(&config);
        b.deploy_agent();
        b.relate();
        b.end_state()
    });
    let related_first = same_end_state(&schedules(30), |schedule| {
        let mut b = Bench::new(schedule, 1);
        b.deploy_agent();
        b.relate();
        b.configure(&config);
        b.end_state()
    });
    assert_eq!(configured_first, related_first);
    assert_eq!(configured_first.statuses["backup-integrator/0"], active());
}

fn configured_and_related(schedule: Schedule, host_units: u32) -> Bench {
    let mut b = Bench::new(schedule, host_units);
    let mut config: Vec<(&str, &str)> = vec![("fileset", "/var/backups")];
    config.extend(SCRIPTS);
    b.configure(&config);
    b.deploy_agent();
    b.relate();
    b
}

/// A second principal unit brings a second unit of each subordinate; only the leader writes
/// scripts and the bag. Then leadership moves: the new leader writes its own scripts and
/// points the bag at them (the old leader's files stay, as with the Python charm).
#[test]
fn scale_to_two_units_then_change_leader() {
    same_end_state(&schedules(40), |schedule| {
        let mut b = configured_and_related(schedule, 1);
        let bag_one_unit = b.bag();
        b.model.add_unit(HOST).unwrap();
        assert_eq!(
            b.model.units(APP).unwrap(),
            ["backup-integrator/0", "backup-integrator/1"]
        );
        assert_eq!(b.status("backup-integrator/1"), active());
        assert!(!b.root.join("backup-integrator-1").exists());
        assert_eq!(b.bag(), bag_one_unit);
        for agent in ["backup-agent/0", "backup-agent/1"] {
            let seen = read_requests(&b.model.charm_dir(agent)).unwrap().unwrap();
            assert_eq!(seen[APP].fileset, ["/var/backups"], "{agent}");
        }

        b.model.set_leader("backup-integrator/1").unwrap();
        let bag = b.bag();
        for (option, content) in SCRIPTS {
            let new = b.script("backup-integrator/1", option);
            assert_eq!(bag[option], new.to_str().unwrap());
            assert_eq!(fs::read_to_string(&new).unwrap(), content);
            assert!(b.script("backup-integrator/0", option).exists());
        }
        assert_eq!(b.status("backup-integrator/0"), active());
        assert_eq!(b.status("backup-integrator/1"), active());
        b.end_state()
    });
}

/// Refreshing to the same charm changes nothing: same bag, and script files not even
/// rewritten (same inode and modification time).
#[test]
fn upgrade_keeps_everything() {
    same_end_state(&schedules(50), |schedule| {
        let mut b = configured_and_related(schedule, 1);
        let identity = |b: &Bench| -> Vec<(u64, i64, i64)> {
            SCRIPTS
                .iter()
                .map(|(option, _)| {
                    let m = fs::metadata(b.script("backup-integrator/0", option)).unwrap();
                    (m.ino(), m.mtime(), m.mtime_nsec())
                })
                .collect()
        };
        let before = (b.bag(), identity(&b));
        let history = b.model.history().len();
        b.model.upgrade(APP, &charms().integrator).unwrap();
        let upgraded: Vec<&str> = b.model.history()[history..]
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert!(upgraded.contains(&"upgrade-charm"), "{upgraded:?}");
        assert_eq!((b.bag(), identity(&b)), before);
        assert_eq!(b.status("backup-integrator/0"), active());
        b.end_state()
    });
}

/// Removing the backup relation: Waiting again on both sides; the scripts stay until the
/// unit is removed.
#[test]
fn unrelate_waits_for_a_new_relation() {
    same_end_state(&schedules(60), |schedule| {
        let mut b = configured_and_related(schedule, 1);
        let rel = b
            .model
            .state()
            .unwrap()
            .relations
            .values()
            .find(|r| r.endpoints.iter().any(|e| e.endpoint == "backup"))
            .map(|r| r.id)
            .unwrap();
        b.model.unrelate(rel).unwrap();
        assert_eq!(
            b.status("backup-integrator/0"),
            status("waiting", "waiting for backup relation")
        );
        assert_eq!(
            b.status("backup-agent/0"),
            status("waiting", "no backup requests")
        );
        assert!(
            b.script("backup-integrator/0", "run-before-backup")
                .exists()
        );
        // Relating again publishes the same request.
        b.relate();
        assert_eq!(b.status("backup-integrator/0"), active());
        assert_eq!(b.bag()["fileset"], "/var/backups");
        b.end_state()
    });
}

/// Removing the leader's principal removes its subordinate, whose `remove` deletes its
/// directory; the other unit becomes leader and takes over. Removing the last principal
/// unit leaves no directory at all.
#[test]
fn remove_deletes_the_unit_directory() {
    same_end_state(&schedules(70), |schedule| {
        let mut b = configured_and_related(schedule, 2);
        assert!(b.root.join("backup-integrator-0").is_dir());
        b.model.remove_unit("host/0").unwrap();
        assert_eq!(b.model.units(APP).unwrap(), ["backup-integrator/1"]);
        assert!(!b.root.join("backup-integrator-0").exists());
        assert_eq!(
            b.model.leader(APP).unwrap().as_deref(),
            Some("backup-integrator/1")
        );
        let bag = b.bag();
        let path = b.script("backup-integrator/1", "run-before-backup");
        assert_eq!(bag["run-before-backup"], path.to_str().unwrap());
        assert!(path.is_file());

        b.model.remove_unit("host/1").unwrap();
        assert!(b.model.units(APP).unwrap().is_empty());
        assert_eq!(files_under(&b.root), BTreeMap::new());
        b.end_state()
    });
}
