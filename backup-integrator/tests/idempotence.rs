//! Running a hook twice, or hooks in another order Juju allows, leaves the same scripts, bag and
//! status.

mod common;

use std::collections::BTreeMap;

use charm_core::Event;
use charm_core::testing::State;
use common::*;

const CONFIG: [(&str, &str); 3] = [
    ("fileset", "/var/backups, /srv/data/"),
    ("run-before-backup", "#!/bin/sh\necho before\n"),
    ("run-after-restore", "#!/bin/sh\necho after\n"),
];

#[test]
fn every_hook_twice_changes_nothing_the_second_time() {
    let mut events = reconcile_events(true);
    events.extend(other_events());
    events.push(Event::Stop);
    for leader in [true, false] {
        for event in &events {
            if matches!(event, Event::LeaderElected) && !leader {
                continue;
            }
            let h = Harness::new();
            let start = state(leader, CONFIG, vec![juju_info(), backup()]);
            let once = h.run(event.clone(), start);
            let files = h.files();
            let twice = h.run(event.clone(), once.clone());
            assert_eq!(h.files(), files, "{event} leader={leader}");
            assert_eq!(twice.relations, once.relations, "{event} leader={leader}");
            assert_eq!(
                twice.unit_status, once.unit_status,
                "{event} leader={leader}"
            );
            assert!(
                relation_sets(&twice).is_empty(),
                "{event} leader={leader}: {:?}",
                twice.tool_calls
            );
            if leader {
                assert_eq!(files.len(), 2, "{event}");
                assert_eq!(once.unit_status, active(), "{event}");
            } else {
                assert!(files.is_empty(), "{event}");
            }
        }
    }
}

#[test]
fn remove_twice_and_broken_twice() {
    let h = Harness::new();
    let up = h.run(Event::ConfigChanged, related_leader(CONFIG));
    let broken_once = h.run(broken(&backup()), up.clone());
    let files = h.files();
    let broken_twice = h.run(broken(&backup()), broken_once.clone());
    assert_eq!(h.files(), files);
    assert_eq!(broken_twice.unit_status, waiting_for_relation());
    assert_eq!(broken_twice.relations, broken_once.relations);

    let removed = h.run(Event::Remove, up);
    h.run(Event::Remove, removed);
    assert!(h.files().is_empty());
}

/// What a sequence of hooks leaves: files, bag (root-independent) and status.
type EndState = (
    BTreeMap<String, (Vec<u8>, u32)>,
    BTreeMap<String, String>,
    Option<charm_core::Status>,
);

fn run_sequence(events: &[Event], start: State) -> EndState {
    let h = Harness::new();
    let mut state = start;
    for event in events {
        state = h.run(event.clone(), state);
    }
    (h.contents(), h.portable(app_bag(&state)), state.unit_status)
}

/// Every order of the reconciling hooks a new leader sees once related gives one end state.
#[test]
fn hook_order_does_not_matter() {
    let rel = backup();
    let hooks = [
        created(&rel),
        Event::LeaderElected,
        Event::ConfigChanged,
        changed(&rel),
        Event::UpgradeCharm,
    ];
    let start = related_leader(CONFIG);
    let reference = run_sequence(&hooks, start.clone());
    assert_eq!(reference.2, active());
    assert_eq!(
        reference.1["fileset"], "/var/backups,/srv/data",
        "{reference:?}"
    );
    assert_eq!(reference.0.len(), 2);
    let mut orders = 0;
    for_each_permutation(&hooks, &mut |order| {
        orders += 1;
        assert_eq!(run_sequence(order, start.clone()), reference, "{order:?}");
    });
    assert_eq!(orders, 120);
}

/// A config change seen before or after the relation appears ends the same way.
#[test]
fn config_before_or_after_the_relation() {
    let rel = backup();
    let unrelated = state(true, CONFIG, vec![juju_info()]);
    let related = related_leader(CONFIG);

    // Deployed, configured, then related.
    let h1 = Harness::new();
    let mut s = unrelated.clone();
    for event in [
        Event::Install,
        Event::LeaderElected,
        Event::ConfigChanged,
        Event::Start,
    ] {
        s = h1.run(event, s);
        assert_eq!(s.unit_status, waiting_for_relation());
        assert!(h1.files().is_empty());
    }
    s.relations.push(rel.clone());
    for event in [created(&rel), joined(&rel), changed(&rel)] {
        s = h1.run(event, s);
    }

    // Related first, configured afterwards (the relation hooks ran while blocked).
    let h2 = Harness::new();
    let mut t = state(true, [], vec![juju_info(), rel.clone()]);
    for event in [
        Event::Install,
        Event::LeaderElected,
        created(&rel),
        changed(&rel),
    ] {
        t = h2.run(event, t);
        assert_eq!(t.unit_status, blocked("missing fileset config"));
    }
    t.config = related.config.clone();
    t = h2.run(Event::ConfigChanged, t);

    assert_eq!(s.unit_status, active());
    assert_eq!(t.unit_status, active());
    assert_eq!(h1.contents(), h2.contents());
    assert_eq!(h1.portable(app_bag(&s)), h2.portable(app_bag(&t)));
}

/// Leadership moves to this unit: it publishes; moving away and back changes nothing more.
#[test]
fn leadership_changes() {
    let h = Harness::new();
    let follower = h.run(
        Event::LeaderSettingsChanged,
        state(false, CONFIG, vec![juju_info(), backup()]),
    );
    assert!(h.files().is_empty());
    let mut s = follower;
    s.leader = true;
    let leader = h.run(Event::LeaderElected, s);
    assert_eq!(leader.unit_status, active());
    let files = h.files();
    assert_eq!(files.len(), 2);
    let mut s = leader.clone();
    s.leader = false;
    let demoted = h.run(Event::LeaderSettingsChanged, s);
    assert_eq!(h.files(), files, "a non-leader leaves the files alone");
    let mut s = demoted;
    s.leader = true;
    let back = h.run(Event::LeaderElected, s);
    assert_eq!(h.files(), files);
    assert!(relation_sets(&back).is_empty());
    assert_eq!(back.relations, leader.relations);
}

fn for_each_permutation<T: Clone>(items: &[T], f: &mut impl FnMut(&[T])) {
    fn go<T: Clone>(done: &mut Vec<T>, rest: &mut Vec<T>, f: &mut impl FnMut(&[T])) {
        if rest.is_empty() {
            f(done);
            return;
        }
        for i in 0..rest.len() {
            let item = rest.remove(i);
            done.push(item);
            go(done, rest, f);
            let item = done.pop().expect("pushed above");
            rest.insert(i, item);
        }
    }
    go(&mut Vec::new(), &mut items.to_vec(), f);
}
