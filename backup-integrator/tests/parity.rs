//! Behaviour shared with the Python charm: every case of its unit tests
//! (canonical/backup-operators, backup-integrator-operator/tests/unit), plus the parity rules
//! of the issue. One difference is deliberate: scripts here start with `#!`, which the Python
//! tests' placeholder contents (`run-before-backup`) do not (see `improvements.rs`).

mod common;

use std::fs;

use charm_core::Event;
use charm_core::testing::Relation;
use common::*;

#[test]
fn no_fileset_config_blocks_leader_and_non_leader() {
    for leader in [false, true] {
        for extra in [None, Some(("run-before-backup", "#!/bin/bash"))] {
            let h = Harness::new();
            let out = h.run(
                Event::ConfigChanged,
                state(leader, extra, vec![juju_info(), backup()]),
            );
            assert_eq!(
                out.unit_status,
                blocked("missing fileset config"),
                "leader={leader} {extra:?}"
            );
            assert!(app_bag(&out).is_empty());
            assert!(h.files().is_empty(), "no script written: {:?}", h.files());
        }
    }
}

#[test]
fn blank_fileset_is_missing() {
    let h = Harness::new();
    let out = h.run(Event::ConfigChanged, related_leader([("fileset", "  \t ")]));
    assert_eq!(out.unit_status, blocked("missing fileset config"));
}

#[test]
fn no_backup_relation_waits() {
    for leader in [false, true] {
        let h = Harness::new();
        let out = h.run(
            Event::ConfigChanged,
            state(
                leader,
                [
                    ("fileset", "/var/backups"),
                    ("run-before-backup", "#!/bin/sh\n"),
                ],
                vec![juju_info()],
            ),
        );
        assert_eq!(out.unit_status, waiting_for_relation(), "leader={leader}");
        assert!(h.files().is_empty());
        assert!(relation_sets(&out).is_empty());
    }
}

/// The Python test's four configurations, scripts given a shebang.
#[test]
fn update_backup_relation() {
    let configs: Vec<Vec<(&str, &str)>> = vec![
        vec![("fileset", "/var/backups")],
        vec![("fileset", "/var/backups/foo,/var/backups/bar")],
        vec![
            ("fileset", "/var/backups"),
            ("run-before-backup", "#!/bin/sh\necho run-before-backup\n"),
        ],
        vec![
            ("fileset", "/var/backups"),
            ("run-before-backup", "#!/bin/sh\necho run-before-backup\n"),
            ("run-after-backup", "#!/bin/bash\necho run-after-backup\n"),
            ("run-before-restore", "#!/usr/bin/env python3\nprint('x')\n"),
            ("run-after-restore", "#!/bin/sh\necho run-after-restore\n"),
        ],
    ];
    for config in configs {
        let h = Harness::new();
        let out = h.run(Event::ConfigChanged, related_leader(config.clone()));
        let bag = app_bag(&out);
        assert_eq!(out.unit_status, active(), "{config:?}");
        assert_eq!(bag["fileset"], config[0].1);
        for script in SCRIPTS {
            match config.iter().find(|(k, _)| *k == script) {
                None => {
                    assert!(!bag.contains_key(script), "{script} in {bag:?}");
                    assert!(!h.script_dir().join(script).exists());
                }
                Some((_, content)) => {
                    assert_eq!(bag[script], h.script_path(script));
                    assert_eq!(fs::read_to_string(&bag[script]).unwrap(), *content);
                    let file = &h.files()[&format!("backup-integrator-0/scripts/{script}")];
                    assert_eq!(file.mode, 0o755);
                }
            }
        }
        assert_eq!(
            bag.len(),
            config.len(),
            "only fileset and the set scripts: {bag:?}"
        );
    }
}

#[test]
fn invalid_fileset_blocks_and_writes_nothing() {
    for fileset in ["var/backups", "/var/backups,etc,/var/backups/foobar"] {
        let h = Harness::new();
        let out = h.run(
            Event::ConfigChanged,
            related_leader([("fileset", fileset), ("run-after-backup", "#!/bin/sh\n")]),
        );
        assert_eq!(out.unit_status, blocked("invalid config: fileset"));
        assert!(app_bag(&out).is_empty());
        assert!(
            h.files().is_empty(),
            "nothing half-applied: {:?}",
            h.files()
        );
        let logs = out.log_messages().join("\n");
        assert!(
            logs.contains("all path in fileset must be absolute."),
            "{logs}"
        );
    }
}

#[test]
fn non_leader_is_active_without_files_or_bag_writes() {
    let h = Harness::new();
    let out = h.run(
        Event::ConfigChanged,
        state(
            false,
            [
                ("fileset", "/var/backups"),
                ("run-before-backup", "#!/bin/sh\n"),
            ],
            vec![juju_info(), backup()],
        ),
    );
    assert_eq!(out.unit_status, active());
    assert!(h.files().is_empty());
    assert!(relation_sets(&out).is_empty());
    assert!(
        !out.tool_calls
            .iter()
            .any(|c| c.starts_with("relation-get") && c.contains("--app")),
        "a non-leader does not read its app bag: {:?}",
        out.tool_calls
    );
}

#[test]
fn fileset_is_trimmed_and_normalised_as_the_python_library_writes_it() {
    let h = Harness::new();
    let out = h.run(
        Event::ConfigChanged,
        related_leader([("fileset", " /var/backups/ ,, /srv//data ,")]),
    );
    assert_eq!(out.unit_status, active());
    assert_eq!(app_bag(&out)["fileset"], "/var/backups,/srv/data");
}

#[test]
fn every_reconcile_hook_writes_the_same_bag() {
    let config = [
        ("fileset", "/var/backups"),
        ("run-after-restore", "#!/bin/sh\n"),
    ];
    for leader in [true, false] {
        for event in reconcile_events(leader) {
            let h = Harness::new();
            let label = event.to_string();
            let out = h.run(event, state(leader, config, vec![juju_info(), backup()]));
            assert_eq!(out.unit_status, active(), "{label}");
            if leader {
                assert_eq!(
                    app_bag(&out).clone(),
                    [
                        ("fileset".to_owned(), "/var/backups".to_owned()),
                        (
                            "run-after-restore".to_owned(),
                            h.script_path("run-after-restore")
                        ),
                    ]
                    .into(),
                    "{label}"
                );
            } else {
                assert!(app_bag(&out).is_empty(), "{label}");
            }
        }
    }
}

#[test]
fn every_backup_relation_gets_the_request() {
    let h = Harness::new();
    let second = Relation::new("backup", "other-agent").id(7);
    let out = h.run(
        Event::ConfigChanged,
        state(
            true,
            [("fileset", "/srv")],
            vec![juju_info(), backup(), second],
        ),
    );
    assert_eq!(out.unit_status, active());
    for rel in out.relations.iter().filter(|r| r.endpoint == "backup") {
        assert_eq!(rel.local_app_data["fileset"], "/srv", "relation {}", rel.id);
    }
    assert_eq!(relation_sets(&out).len(), 2);
}

#[test]
fn invalid_config_leaves_the_bag_and_scripts_as_they_were() {
    let h = Harness::new();
    let good = h.run(
        Event::ConfigChanged,
        related_leader([
            ("fileset", "/var/backups"),
            ("run-before-backup", "#!/bin/sh\necho one\n"),
        ]),
    );
    let files = h.files();
    let bag = app_bag(&good).clone();

    let mut bad = good.clone();
    bad.config = config([
        ("fileset", "var/backups"),
        ("run-before-backup", "#!/bin/sh\necho two\n"),
        ("run-after-backup", "#!/bin/sh\n"),
    ]);
    let out = h.run(Event::ConfigChanged, bad);
    assert_eq!(out.unit_status, blocked("invalid config: fileset"));
    assert_eq!(app_bag(&out), &bag);
    assert_eq!(h.files(), files, "scripts untouched");
    assert!(relation_sets(&out).is_empty());
}
