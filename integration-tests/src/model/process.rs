//! Running `dispatch` as a real process: a clean environment, the unit's charm directory as
//! cwd, stdin closed, output captured, and a time limit.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How a dispatch process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// The exit code; `None` when killed by a signal or by the time limit.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub timed_out: bool,
}

impl Exit {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// What to run and how.
pub struct Spec<'a> {
    pub program: &'a Path,
    pub args: &'a [&'a str],
    pub cwd: &'a Path,
    /// The whole environment: nothing is inherited.
    pub env: &'a [(String, String)],
    /// Bytes for stdin; `None` closes it.
    pub stdin: Option<&'a [u8]>,
    pub limit: Duration,
}

/// Runs a process; a start failure (missing or non-executable `dispatch`) is reported as an
/// error message, as Juju would fail the hook.
pub fn run(spec: Spec<'_>) -> Result<Exit, String> {
    let Spec {
        program,
        args,
        cwd,
        env,
        stdin,
        limit,
    } = spec;
    let start = Instant::now();
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child =
        spawn(&mut command).map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let bytes = bytes.to_vec();
        thread::spawn(move || {
            use std::io::Write;
            let _ = pipe.write_all(&bytes);
        });
    }
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() > limit => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => thread::sleep(Duration::from_millis(1)),
            Err(e) => return Err(format!("waiting for {}: {e}", program.display())),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok(Exit {
        code: status.and_then(|s| s.code()).filter(|_| !timed_out),
        stdout,
        stderr,
        elapsed: start.elapsed(),
        timed_out,
    })
}

/// Spawns, retrying while the executable is "busy". Tests write charms' `dispatch` files
/// while other threads start processes: a child forked in between holds the file open for
/// writing until it execs, and exec of the fresh file fails with ETXTBSY meanwhile.
fn spawn(command: &mut Command) -> std::io::Result<std::process::Child> {
    const ETXTBSY: i32 = 26;
    let mut attempt = 0;
    loop {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && attempt < 50 => {
                attempt += 1;
                thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn spec<'a>(
        program: &'a Path,
        cwd: &'a Path,
        env: &'a [(String, String)],
        limit: Duration,
    ) -> Spec<'a> {
        Spec {
            program,
            args: &[],
            cwd,
            env,
            stdin: None,
            limit,
        }
    }

    #[test]
    fn passes_arguments_and_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let program = script(dir.path(), r#"read line; echo "$1:$line""#);
        let exit = run(Spec {
            args: &["arg"],
            stdin: Some(b"input\n"),
            ..spec(&program, dir.path(), &[], Duration::from_secs(10))
        })
        .unwrap();
        assert_eq!(exit.stdout, "arg:input\n");
    }

    fn script(dir: &Path, body: &str) -> std::path::PathBuf {
        let path = dir.join("dispatch");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn captures_output_and_code_with_only_the_given_env() {
        let dir = tempfile::tempdir().unwrap();
        let program = script(
            dir.path(),
            r#"echo "$ONLY ${HOME:-no-home} $(pwd)"; echo oops >&2; exit 3"#,
        );
        let env = vec![("ONLY".to_owned(), "this".to_owned())];
        let exit = run(spec(&program, dir.path(), &env, Duration::from_secs(10))).unwrap();
        assert_eq!(exit.code, Some(3));
        let cwd = dir.path().canonicalize().unwrap();
        assert_eq!(exit.stdout, format!("this no-home {}\n", cwd.display()));
        assert_eq!(exit.stderr, "oops\n");
        assert!(!exit.success() && !exit.timed_out);
    }

    #[test]
    fn a_hook_past_its_limit_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let program = script(dir.path(), "while :; do :; done");
        let exit = run(spec(&program, dir.path(), &[], Duration::from_millis(200))).unwrap();
        assert!(exit.timed_out);
        assert_eq!(exit.code, None);
    }

    #[test]
    fn a_dispatch_that_cannot_start_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let dispatch = dir.path().join("dispatch");
        let missing = run(spec(&dispatch, dir.path(), &[], Duration::from_secs(1)));
        assert!(missing.unwrap_err().contains("dispatch"));
        let program = script(dir.path(), "exit 0");
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o644)).unwrap();
        let not_executable =
            run(spec(&program, dir.path(), &[], Duration::from_secs(1))).unwrap_err();
        assert!(
            not_executable.contains("ermission denied"),
            "{not_executable}"
        );
    }
}
