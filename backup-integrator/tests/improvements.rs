//! The deliberate improvements over the Python charm.

mod common;

use std::fs;

use charm_core::Event;
use charm_core::testing::Relation;
use common::*;

#[test]
fn unchanged_scripts_and_bag_are_not_rewritten() {
    let (h, first) = published();
    assert_eq!(relation_sets(&first).len(), 1);
    let files = h.files();
    assert_eq!(files.len(), 1);

    let second = h.run(Event::ConfigChanged, first.clone());
    assert_eq!(h.files(), files, "same inode, content and mode");
    assert!(relation_sets(&second).is_empty(), "{:?}", second.tool_calls);
    let requests = |s: &charm_core::testing::State| {
        s.log_messages()
            .iter()
            .filter(|m| m.starts_with("Requesting backup"))
            .count()
    };
    assert_eq!((requests(&first), requests(&second)), (1, 0));
    assert!(
        !second
            .tool_calls
            .iter()
            .any(|c| c.starts_with("status-set")),
        "status unchanged, not set again: {:?}",
        second.tool_calls
    );
    assert_eq!(app_bag(&second), app_bag(&first));
}

#[test]
fn changed_script_is_replaced_atomically_and_the_bag_kept() {
    let (h, first) = published();
    let path = h.script_path("run-before-backup");
    let old = h.files();

    let out = reconfigure(
        &h,
        &first,
        &[
            ("fileset", "/srv"),
            ("run-before-backup", "#!/bin/sh\necho changed\n"),
        ],
    );
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "#!/bin/sh\necho changed\n"
    );
    let new = h.files();
    let key = "backup-integrator-0/scripts/run-before-backup";
    assert_ne!(new[key].inode, old[key].inode, "renamed into place");
    assert_eq!(new.len(), 1, "no temporary file left: {new:?}");
    assert!(relation_sets(&out).is_empty(), "the path did not change");
}

#[test]
fn unset_script_is_deleted_and_its_key_removed() {
    let h = Harness::new();
    let first = h.run(
        Event::ConfigChanged,
        related_leader([
            ("fileset", "/srv"),
            ("run-before-backup", SCRIPT),
            ("run-after-restore", "#!/bin/sh\n"),
        ]),
    );
    assert!(app_bag(&first).contains_key("run-before-backup"));

    let kept = [("fileset", "/srv"), ("run-after-restore", "#!/bin/sh\n")];
    let unset_to_empty = [kept[0], kept[1], ("run-before-backup", "")];
    for config in [&kept[..], &unset_to_empty[..]] {
        let out = reconfigure(&h, &first, config);
        assert_eq!(out.unit_status, active());
        assert!(
            !app_bag(&out).contains_key("run-before-backup"),
            "{config:?}"
        );
        assert!(app_bag(&out).contains_key("run-after-restore"));
        assert!(!h.script_dir().join("run-before-backup").exists());
        assert!(h.script_dir().join("run-after-restore").exists());
        assert_eq!(
            relation_sets(&out).len(),
            1,
            "one relation-set deleting the key"
        );
    }
}

#[test]
fn unsetting_every_script_leaves_no_directory() {
    let (h, first) = published();
    let out = reconfigure(&h, &first, &[("fileset", "/srv")]);
    assert_eq!(app_bag(&out).keys().collect::<Vec<_>>(), ["fileset"]);
    assert!(!h.unit_dir().exists());
}

#[test]
fn scripts_without_shebang_block() {
    for (option, content) in [
        ("run-before-backup", "run-before-backup"),
        ("run-after-backup", "echo hi\n"),
        ("run-before-restore", "\n#!/bin/sh\n"),
        ("run-after-restore", "\u{feff}#!/bin/sh\n"),
    ] {
        let h = Harness::new();
        let out = h.run(
            Event::ConfigChanged,
            related_leader([("fileset", "/srv"), (option, content)]),
        );
        assert_eq!(
            out.unit_status,
            blocked(&format!("invalid config: {option} must start with #!")),
        );
        assert!(app_bag(&out).is_empty());
        assert!(h.files().is_empty());
    }
}

#[test]
fn several_problems_are_reported_together() {
    let h = Harness::new();
    let out = h.run(
        Event::ConfigChanged,
        related_leader([
            ("fileset", "relative"),
            ("run-after-backup", "x"),
            ("run-before-backup", "y"),
        ]),
    );
    assert_eq!(
        out.unit_status,
        blocked(
            "invalid config: fileset, run-before-backup must start with #!, \
             run-after-backup must start with #!"
        )
    );
}

#[test]
fn invalid_config_wins_over_a_missing_relation() {
    let h = Harness::new();
    let out = h.run(
        Event::ConfigChanged,
        state(true, [("fileset", "relative")], vec![juju_info()]),
    );
    assert_eq!(out.unit_status, blocked("invalid config: fileset"));
}

#[test]
fn invalid_config_blocks_non_leaders_too() {
    let h = Harness::new();
    let out = h.run(
        Event::ConfigChanged,
        state(
            false,
            [("fileset", "/srv"), ("run-after-backup", "echo")],
            vec![juju_info(), backup()],
        ),
    );
    assert_eq!(
        out.unit_status,
        blocked("invalid config: run-after-backup must start with #!")
    );
}

#[test]
fn remove_deletes_the_unit_directory() {
    let (h, first) = published();
    // Another unit's (or application's) directory on the same machine stays.
    let other = h.root().join("backup-integrator-two-0/scripts");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("run-before-backup"), SCRIPT).unwrap();

    let out = h.run(Event::Remove, first);
    assert!(!h.unit_dir().exists());
    assert!(other.join("run-before-backup").exists());
    assert!(
        out.log_messages()
            .iter()
            .any(|m| m.contains("Removed") && m.contains("backup-integrator-0")),
        "{:?}",
        out.log_messages()
    );
    // Again (Juju retries a hook that failed later): nothing left to remove, still fine.
    let again = h.run(Event::Remove, out);
    assert!(!h.unit_dir().exists());
    assert!(relation_sets(&again).is_empty());
}

#[test]
fn remove_cleans_up_on_a_non_leader_too() {
    let h = Harness::new();
    fs::create_dir_all(h.script_dir()).unwrap();
    fs::write(h.script_dir().join("run-before-backup"), SCRIPT).unwrap();
    h.run(
        Event::Remove,
        state(false, [("fileset", "/srv")], vec![juju_info(), backup()]),
    );
    assert!(!h.unit_dir().exists());
}

#[test]
fn broken_backup_relation_waits() {
    let (h, first) = published();
    assert_eq!(first.unit_status, active());
    let out = h.run(broken(&backup()), first);
    assert_eq!(out.unit_status, waiting_for_relation());
    assert!(relation_sets(&out).is_empty());
}

#[test]
fn broken_relation_with_another_left_stays_active() {
    let h = Harness::new();
    let second = Relation::new("backup", "other-agent").id(9);
    let initial = state(
        true,
        [("fileset", "/srv")],
        vec![juju_info(), backup(), second.clone()],
    );
    let first = h.run(Event::ConfigChanged, initial);
    let out = h.run(broken(&second), first);
    assert_eq!(out.unit_status, active());
}

#[test]
fn script_dir_is_the_configured_root() {
    let h = Harness::new();
    let out = h.run(
        Event::ConfigChanged,
        related_leader([("fileset", "/srv"), ("run-after-backup", SCRIPT)]),
    );
    let path = &app_bag(&out)["run-after-backup"];
    let expected = h
        .root()
        .join("backup-integrator-0/scripts/run-after-backup");
    assert_eq!(path, &expected.display().to_string());
    assert!(expected.is_file());
}

#[test]
fn unit_name_slash_becomes_a_dash() {
    let h = Harness::for_unit("backup-integrator/12");
    let out = h.run(
        Event::ConfigChanged,
        related_leader([("fileset", "/srv"), ("run-after-backup", SCRIPT)]),
    );
    assert!(
        app_bag(&out)["run-after-backup"]
            .ends_with("/backup-integrator-12/scripts/run-after-backup")
    );
}

#[test]
fn a_relative_root_fails_the_hook_naming_it() {
    let h = Harness::new();
    let state = related_leader([("fileset", "/srv")]);
    let err = backup_integrator::script_root::scoped(std::path::Path::new("rel/dir"), || {
        charm_core::testing::Context::<backup_integrator::BackupIntegrator>::new(meta())
            .run(Event::ConfigChanged, state)
    })
    .unwrap_err();
    assert!(err.to_string().contains("\"rel/dir\""), "{err}");
    assert!(h.files().is_empty());
}
