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
            "debug_lines_go_to_stdout_and_each_level_to_one_call",
            debug_lines_go_to_stdout_and_each_level_to_one_call,
        ),
        ("warnings_stay_warnings", warnings_stay_warnings),
        (
            "unchanged_status_and_bag_are_not_written_again",
            unchanged_status_and_bag_are_not_written_again,
        ),
        (
            "status_is_set_again_where_juju_sets_it",
            status_is_set_again_where_juju_sets_it,
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

fn debug_lines_go_to_stdout_and_each_level_to_one_call() {
    let s = setup();
    s.demo_scenario();
    s.canned("config-get", r#"{"fileset": "/etc,/srv", "verbose": true}"#);
    let out = s.run("hooks/config-changed", &[]);
    assert!(out.status.success(), "{out:?}");
    // Two INFO lines with DEBUG lines around them: one juju-log call, at INFO.
    assert_eq!(
        s.logs(),
        vec![(
            "INFO".to_string(),
            "fileset: /etc,/srv\nhanding the new fileset /etc,/srv to the backup agent".to_string()
        )]
    );
    assert_eq!(s.calls().len(), s.tool_calls().len() + 1);
    // DEBUG lines cost no process: Juju records the hook's stdout at DEBUG.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("charm-core ") && lines[0].ends_with(" up and running."));
    assert_eq!(lines[1], "Emitting Juju event config_changed.");
}

fn warnings_stay_warnings() {
    let s = setup();
    s.demo_scenario();
    s.canned("config-get", r#"{"fileset": "etc", "verbose": true}"#);
    let out = s.run("hooks/config-changed", &[]);
    assert!(out.status.success(), "{out:?}");
    // `juju debug-log --level WARNING` shows it: the WARNING line is not in an INFO call.
    assert_eq!(
        s.logs(),
        vec![(
            "WARNING".to_string(),
            r#"fileset path "etc" is not absolute"#.to_string()
        )]
    );
    assert!(
        s.tool_calls().contains(
            &[
                "status-set",
                "--application=False",
                "blocked",
                "--",
                "invalid config: fileset"
            ]
            .map(String::from)
            .to_vec()
        ),
        "{:?}",
        s.tool_calls()
    );
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

fn status_is_set_again_where_juju_sets_it() {
    let s = setup();
    s.demo_scenario();
    let status_sets = |hook: &str| {
        s.reset_calls();
        let out = s.run(hook, &[]);
        assert!(out.status.success(), "{hook}: {out:?}");
        s.tool_calls()
            .iter()
            .filter(|c| c[0] == "status-set")
            .count()
    };
    assert_eq!(status_sets("hooks/config-changed"), 1);
    assert_eq!(status_sets("hooks/config-changed"), 0, "unchanged: skipped");
    // Juju shows "installing charm software" during install: set it even if unchanged.
    assert_eq!(status_sets("hooks/install"), 1);
    // The demo reports no status in stop; Juju sets maintenance after it, so the next hook
    // (on Kubernetes: the restarted pod's) sets the status again.
    assert_eq!(status_sets("hooks/stop"), 0);
    assert_eq!(status_sets("hooks/config-changed"), 1);
}

fn unknown_hook_exits_zero_with_a_debug_line() {
    let s = setup();
    let out = s.run("hooks/frobnicate", &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(s.calls().is_empty(), "not even juju-log: {:?}", s.calls());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Event frobnicate not defined for Demo."),
        "{stdout}"
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
    // An action's stdout is its output for the user: DEBUG lines go through juju-log.
    assert!(
        out.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let logs = s.logs();
    assert!(
        logs.iter()
            .any(|(level, m)| level == "DEBUG" && m.contains("Emitting Juju event")),
        "{logs:?}"
    );
}
