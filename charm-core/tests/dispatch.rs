//! End to end: the demo charm's `main` as a real process, the way Juju runs `dispatch`,
//! against stand-in hook-tool processes (see `support`). `harness = false` because this
//! binary is also the charm and the tools.

#[path = "../examples/demo-charm/charm.rs"]
mod charm;
mod support;

use std::process::ExitCode;

use support::{Setup, expected_demo_calls, play_part};

fn demo_main() -> ExitCode {
    charm_core::main::<charm::Demo>()
}

fn main() -> ExitCode {
    if let Some(code) = play_part(demo_main) {
        return code;
    }
    let tests: &[(&str, fn())] = &[
        (
            "config_changed_commits_with_six_calls",
            config_changed_commits_with_six_calls,
        ),
        (
            "logs_are_batched_into_one_juju_log_call",
            logs_are_batched_into_one_juju_log_call,
        ),
        (
            "unchanged_status_and_bag_are_not_written_again",
            unchanged_status_and_bag_are_not_written_again,
        ),
        (
            "unknown_hook_exits_zero_with_a_debug_line",
            unknown_hook_exits_zero_with_a_debug_line,
        ),
        (
            "malformed_environment_exits_one_naming_the_variable",
            malformed_environment_exits_one_naming_the_variable,
        ),
        (
            "missing_variable_for_the_hook_kind_is_named",
            missing_variable_for_the_hook_kind_is_named,
        ),
        (
            "malformed_tool_output_fails_the_hook_without_writes",
            malformed_tool_output_fails_the_hook_without_writes,
        ),
        (
            "failing_or_missing_tools_fail_the_hook",
            failing_or_missing_tools_fail_the_hook,
        ),
        (
            "actions_run_with_their_params",
            actions_run_with_their_params,
        ),
    ];
    let mut failed = 0;
    for (name, test) in tests {
        let result = std::panic::catch_unwind(test);
        match result {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" },
        tests.len() - failed
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn setup() -> Setup {
    match Setup::new() {
        Ok(s) => s,
        Err(e) => panic!("setup: {e}"),
    }
}

fn config_changed_commits_with_six_calls() {
    let s = setup();
    s.demo_scenario();
    let out = s.run("hooks/config-changed", &[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(s.tool_calls(), expected_demo_calls());
    let sent: serde_json::Value = serde_json::from_str(&s.stdin_of("relation-set")).unwrap();
    assert_eq!(sent, serde_json::json!({"fileset": "/etc,/srv"}));
    assert!(
        s.charm_dir.join(charm_core::state::STATE_FILE).exists(),
        "the last status is remembered in the charm directory"
    );
}

fn logs_are_batched_into_one_juju_log_call() {
    let s = setup();
    s.demo_scenario();
    s.canned("config-get", r#"{"fileset": "/etc,/srv", "verbose": true}"#);
    let out = s.run("hooks/config-changed", &[]);
    assert!(out.status.success(), "{out:?}");
    let logs = s.logs();
    // DEBUG lines, then the INFO line, then a DEBUG line: three runs of one level each.
    let levels: Vec<&str> = logs.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(levels, vec!["DEBUG", "INFO", "DEBUG"], "{logs:#?}");
    let first: Vec<&str> = logs[0].1.lines().collect();
    assert!(first[0].starts_with("charm-core ") && first[0].ends_with(" up and running."));
    assert_eq!(first[1], "Emitting Juju event config_changed.");
    assert_eq!(logs[1].1, "fileset: /etc,/srv");
}

fn unchanged_status_and_bag_are_not_written_again() {
    let s = setup();
    s.demo_scenario();
    s.canned("relation-get", r#"{"fileset": "/etc,/srv"}"#);
    assert!(s.run("hooks/config-changed", &[]).status.success());
    s.reset_calls();
    assert!(s.run("hooks/config-changed", &[]).status.success());
    let calls: Vec<String> = s.tool_calls().into_iter().map(|c| c[0].clone()).collect();
    assert_eq!(
        calls,
        vec!["config-get", "relation-ids", "is-leader", "relation-get"]
    );
    // A recreated pod loses the charm directory: the status is set again.
    s.forget_state();
    s.reset_calls();
    assert!(s.run("hooks/config-changed", &[]).status.success());
    assert!(s.tool_calls().iter().any(|c| c[0] == "status-set"));
}

fn unknown_hook_exits_zero_with_a_debug_line() {
    let s = setup();
    let out = s.run("hooks/frobnicate", &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(s.tool_calls().is_empty(), "{:?}", s.tool_calls());
    let logs = s.logs();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].0, "DEBUG");
    assert!(
        logs[0].1.contains("Event frobnicate not defined for Demo."),
        "{logs:?}"
    );
}

fn malformed_environment_exits_one_naming_the_variable() {
    let s = setup();
    let out = s.run("hooks/install", &[("JUJU_VERSION", "three")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("JUJU_VERSION") && stderr.contains("three"),
        "{stderr}"
    );
    assert!(
        s.logs()
            .iter()
            .any(|(l, m)| l == "ERROR" && m.contains("JUJU_VERSION"))
    );
    assert!(s.tool_calls().is_empty());
}

fn missing_variable_for_the_hook_kind_is_named() {
    let s = setup();
    let out = s.run(
        "hooks/backup-relation-joined",
        &[
            ("JUJU_RELATION", "backup"),
            ("JUJU_RELATION_ID", "backup:1"),
            ("JUJU_REMOTE_APP", "bacula-fd"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("JUJU_REMOTE_UNIT"), "{stderr}");
}

fn malformed_tool_output_fails_the_hook_without_writes() {
    let s = setup();
    s.demo_scenario();
    s.canned("relation-get", r#"{"fileset": "/etc""#);
    let out = s.run("hooks/config-changed", &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("relation-get --format=json -r backup:1 --app - demo"),
        "{stderr}"
    );
    let calls: Vec<String> = s.tool_calls().into_iter().map(|c| c[0].clone()).collect();
    assert!(
        !calls
            .iter()
            .any(|c| c == "relation-set" || c == "status-set"),
        "{calls:?}"
    );
    assert!(!s.charm_dir.join(charm_core::state::STATE_FILE).exists());
}

fn failing_or_missing_tools_fail_the_hook() {
    let s = setup();
    s.demo_scenario();
    s.failing("relation-set", 1, "ERROR relation not found\n");
    let out = s.run("hooks/config-changed", &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("relation backup:1 not found"), "{stderr}");

    let s = setup();
    s.demo_scenario();
    s.remove_tool("is-leader");
    let out = s.run("hooks/config-changed", &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`is-leader` is not on PATH"), "{stderr}");
}

fn actions_run_with_their_params() {
    let s = setup();
    s.demo_scenario();
    s.canned("action-get", r#"{"format": "plain"}"#);
    let out = s.run(
        "actions/show-fileset",
        &[
            ("JUJU_ACTION_NAME", "show-fileset"),
            ("JUJU_ACTION_UUID", "17"),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let calls = s.tool_calls();
    assert!(
        calls.contains(&vec![
            "action-set".to_string(),
            "fileset=/etc,/srv".to_string()
        ]),
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|c| c[0] == "status-set"),
        "actions report no status here"
    );
}
