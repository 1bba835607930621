//! End-to-end cost of one hook: the demo charm (`examples/demo-charm`) runs `config-changed`
//! as a real process, the way Juju runs `dispatch`, against stand-in hook tools, and the
//! benchmark prints wall time, CPU time and hook-tool calls.
//!
//! `cargo bench -p charm-core --bench hook` (runs: `CHARM_CORE_BENCH_RUNS`, default 200).
//!
//! Three situations of a leader with one backup relation, as backup-integrator's
//! config-changed meets them (the demo makes the same reads and writes: config, relations,
//! leadership, its application bag; the bag and the status; one INFO line when it changes
//! something):
//! - changed: the bag holds an older fileset, the status is already the one wanted;
//! - changed, status too: the same on a unit whose status is not the one wanted yet (first hook);
//! - unchanged: bag and status already as wanted (most hooks of a settled unit).
//!
//! The summary puts the call counts (`juju-log` included: every call is a process start of
//! Juju's `jujuc`) beside ops 3.5's for backup-integrator's config-changed (issue 15: 12 when
//! something changed, 8 when nothing did).
//!
//! This one binary is the driver, the charm and the stand-in tools (see
//! `tests/support/mod.rs`, shared with the end-to-end test).
//!
//! CPU time comes from `getrusage(RUSAGE_CHILDREN)`, which also counts the stand-in tools the
//! charm starts. Their cost is measured separately (running a tool directly, same binary, same
//! environment) and subtracted to give the charm-side CPU; the raw total is printed too.

#[path = "../examples/demo-charm/charm.rs"]
mod charm;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use support::{Setup, expected_demo_calls, play_part};

fn demo_main() -> ExitCode {
    charm_core::main::<charm::Demo>()
}

fn main() -> ExitCode {
    if let Some(code) = play_part(demo_main) {
        return code;
    }
    match driver() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    if rc != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

struct Figures {
    runs: usize,
    walls: Vec<Duration>,
    cpu: Duration,
    tool_calls: usize,
    log_calls: usize,
}

fn run_charm(s: &Setup, exe: &Path) -> Result<Duration, String> {
    let start = Instant::now();
    let out = s
        .command(exe, "hooks/config-changed")
        .output()
        .map_err(|e| format!("cannot start the charm: {e}"))?;
    let wall = start.elapsed();
    if !out.status.success() {
        return Err(format!(
            "the charm failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(wall)
}

fn measure(s: &Setup, exe: &Path, runs: usize, forget: bool) -> Result<Figures, String> {
    s.reset_calls();
    let cpu0 = children_cpu();
    let mut walls = Vec::with_capacity(runs);
    for _ in 0..runs {
        if forget {
            s.forget_state();
        }
        walls.push(run_charm(s, exe)?);
    }
    let cpu = children_cpu() - cpu0;
    let calls = s.calls();
    let log_calls = calls.iter().filter(|c| c[0] == "juju-log").count();
    Ok(Figures {
        runs,
        walls,
        cpu,
        tool_calls: calls.len() - log_calls,
        log_calls,
    })
}

/// CPU and wall time of one stand-in tool run, measured by running it directly.
fn tool_cost(s: &Setup, runs: usize) -> Result<(Duration, Duration), String> {
    let tool = s.tools_dir.join("is-leader");
    let cpu0 = children_cpu();
    let start = Instant::now();
    for _ in 0..runs {
        let st = s
            .command(&tool, "hooks/config-changed")
            .status()
            .map_err(|e| format!("cannot run the stand-in: {e}"))?;
        if !st.success() {
            return Err(format!("stand-in failed: {st}"));
        }
    }
    let wall = start.elapsed() / runs as u32;
    let cpu = (children_cpu() - cpu0) / runs as u32;
    s.reset_calls();
    Ok((cpu, wall))
}

fn verify(s: &Setup, exe: &Path) -> Result<(), String> {
    s.reset_calls();
    s.forget_state();
    let out = s
        .command(exe, "hooks/config-changed")
        .output()
        .map_err(|e| format!("cannot start the charm: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the charm failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if s.tool_calls() != expected_demo_calls() {
        return Err(format!("unexpected tool calls: {:#?}", s.tool_calls()));
    }
    let sent: serde_json::Value =
        serde_json::from_str(&s.stdin_of("relation-set")).map_err(|e| e.to_string())?;
    if sent != serde_json::json!({"fileset": "/etc,/srv"}) {
        return Err(format!("unexpected relation-set input: {sent}"));
    }
    // The DEBUG key line reaches Juju's log through juju-log or the hook's stdout.
    let key_line = "Emitting Juju event config_changed.";
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !stdout.contains(key_line) && !s.logs().iter().any(|(_, m)| m.contains(key_line)) {
        return Err(format!(
            "no `{key_line}` line in {:?} or {stdout:?}",
            s.logs()
        ));
    }
    if !s
        .logs()
        .iter()
        .any(|(level, m)| level == "INFO" && m.contains("handing the new fileset"))
    {
        return Err(format!("no INFO line about the change in {:?}", s.logs()));
    }
    s.reset_calls();
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report(label: &str, f: &Figures, tool_cpu: Duration) {
    let mut walls = f.walls.clone();
    walls.sort();
    let median = walls[walls.len() / 2];
    let p90 = walls[walls.len() * 9 / 10];
    let per_run = f.cpu / f.runs as u32;
    let calls = f.tool_calls as f64 / f.runs as f64;
    let logs = f.log_calls as f64 / f.runs as f64;
    let tools_cpu = tool_cpu.mul_f64(calls + logs);
    let charm_cpu = per_run.saturating_sub(tools_cpu);
    println!("{label}");
    println!(
        "  wall per hook:        median {:.2} ms, p90 {:.2} ms",
        ms(median),
        ms(p90)
    );
    println!(
        "  CPU per hook (charm + stand-in tools): {:.2} ms",
        ms(per_run)
    );
    println!(
        "  charm-side CPU per hook (minus {:.1} tool runs x {:.2} ms): {:.2} ms",
        calls + logs,
        ms(tool_cpu),
        ms(charm_cpu)
    );
    println!("  hook-tool calls per hook: {calls:.1} (+ {logs:.1} juju-log)");
}

/// ops 3.5 running backup-integrator's config-changed (issue 15), `juju-log` included.
const OPS_CHANGED: usize = 12;
const OPS_UNCHANGED: usize = 8;

fn driver() -> Result<(), String> {
    let runs: usize = std::env::var("CHARM_CORE_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|r| *r > 0)
        .unwrap_or(200);
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let s = Setup::new()?;
    s.demo_scenario();
    verify(&s, &exe)?;

    let (tool_cpu, tool_wall) = tool_cost(&s, runs)?;
    println!(
        "demo charm, config-changed, {runs} runs as real processes (stand-in tool: {:.2} ms CPU, {:.2} ms wall per run)",
        ms(tool_cpu),
        ms(tool_wall)
    );
    // verify() left the status remembered: each run finds it already set.
    let changed = measure(&s, &exe, runs, false)?;
    report(
        "changed: reads config, relations, leadership, own app bag; writes the bag (status already as wanted)",
        &changed,
        tool_cpu,
    );
    let first = measure(&s, &exe, runs, true)?;
    report(
        "changed, status too: the same, and sets the status (first hook of a unit)",
        &first,
        tool_cpu,
    );
    s.canned("relation-get", r#"{"fileset": "/etc,/srv"}"#);
    s.forget_state();
    run_charm(&s, &exe)?;
    let unchanged = measure(&s, &exe, runs, false)?;
    report(
        "unchanged: same reads, bag and status already as wanted (both writes skipped)",
        &unchanged,
        tool_cpu,
    );
    let total = |f: &Figures| (f.tool_calls + f.log_calls) as f64 / f.runs as f64;
    println!("hook-tool calls per config-changed, juju-log included (each one a jujuc process):");
    println!(
        "  something changed:    {:>4.1}   ops 3.5 (backup-integrator): {OPS_CHANGED}",
        total(&changed)
    );
    println!(
        "  nothing changed:      {:>4.1}   ops 3.5 (backup-integrator): {OPS_UNCHANGED}",
        total(&unchanged)
    );
    println!(
        "  changed, status too:  {:>4.1}   (first hook of a unit)",
        total(&first)
    );
    Ok(())
}
