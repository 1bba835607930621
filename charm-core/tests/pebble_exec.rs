//! Exec over Pebble's websockets against the fake: simulated commands and real processes.

use std::time::{Duration, Instant};

use charm_core::pebble::fake::{ExecResult, FakePebble};
use charm_core::pebble::{Error, ExecOptions, Layer, Service};

#[tokio::test]
async fn handler_gets_stdin_environment_and_answers() {
    let fake = FakePebble::start().await.unwrap();
    fake.on_exec(["backup"], |invocation| ExecResult {
        exit_code: 0,
        stdout: format!(
            "{} {} {}",
            invocation.command.join(" "),
            invocation
                .environment
                .get("TARGET")
                .map_or("-", String::as_str),
            String::from_utf8_lossy(&invocation.stdin)
        )
        .into_bytes(),
        stderr: b"note".to_vec(),
    });
    let client = fake.client();
    let mut options = ExecOptions::new(["backup", "now"]);
    options.environment.insert("TARGET".into(), "s3".into());
    let output = client.exec(&options, "input data").await.unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "backup now s3 input data"
    );
    assert_eq!(output.stderr, b"note");
}

#[tokio::test]
async fn non_zero_exit_is_an_exec_error_with_output() {
    let fake = FakePebble::start().await.unwrap();
    fake.on_exec(["false"], |_| ExecResult {
        exit_code: 3,
        stdout: b"partial".to_vec(),
        stderr: b"bad things".to_vec(),
    });
    let err = fake
        .client()
        .exec(&ExecOptions::new(["false", "--loudly"]), "")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bad things"), "{err}");
    match err {
        Error::Exec {
            command,
            exit_code,
            stdout,
            stderr,
        } => {
            assert_eq!(command, ["false", "--loudly"]);
            assert_eq!(exit_code, 3);
            assert_eq!(stdout, b"partial");
            assert_eq!(stderr, b"bad things");
        }
        other => panic!("expected an exec error, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_executable_and_bad_options_are_api_errors() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();
    match client
        .exec(&ExecOptions::new(["nope"]), "")
        .await
        .unwrap_err()
    {
        Error::Api {
            status_code,
            message,
            ..
        } => {
            assert_eq!(status_code, 400);
            assert_eq!(message, "cannot find executable \"nope\"");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    fake.on_exec(["ls"], |_| ExecResult::default());
    let mut options = ExecOptions::new(["ls"]);
    options.working_dir = Some("/no/such/dir".into());
    let err = client.exec(&options, "").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot find working directory \"/no/such/dir\""),
        "{err}"
    );
    let mut options = ExecOptions::new(["ls"]);
    options.service_context = Some("ghost".into());
    let err = client.exec(&options, "").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("context service \"ghost\" not found"),
        "{err}"
    );
    assert!(matches!(
        client.exec(&ExecOptions::default(), "").await,
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn service_context_supplies_environment() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();
    let layer = Layer::new().with_service(
        "web",
        Service::new("/bin/web")
            .with_env("A", "from-service")
            .with_env("B", "from-service"),
    );
    client.add_layer("base", &layer, false).await.unwrap();
    fake.on_exec(["env"], |invocation| ExecResult {
        exit_code: 0,
        stdout: format!("{:?}", invocation.environment).into_bytes(),
        stderr: Vec::new(),
    });
    let mut options = ExecOptions::new(["env"]);
    options.service_context = Some("web".into());
    options.environment.insert("B".into(), "override".into());
    let output = client.exec(&options, "").await.unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        r#"{"A": "from-service", "B": "override"}"#
    );
}

#[tokio::test]
async fn host_processes_stream_large_input_and_output() {
    let fake = FakePebble::start().await.unwrap();
    fake.allow_host_exec(true);
    let client = fake.client();
    let input: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
    let output = client
        .exec(&ExecOptions::new(["cat"]), input.clone())
        .await
        .unwrap();
    assert_eq!(output.stdout.len(), input.len());
    assert!(output.stdout == input);
    assert!(output.stderr.is_empty());
}

#[tokio::test]
async fn host_process_exit_code_and_separate_or_combined_stderr() {
    let fake = FakePebble::start().await.unwrap();
    fake.allow_host_exec(true);
    let client = fake.client();
    let options = ExecOptions::new(["sh", "-c", "echo out; echo err >&2; exit 3"]);

    match client.exec(&options, "").await.unwrap_err() {
        Error::Exec {
            exit_code,
            stdout,
            stderr,
            ..
        } => {
            assert_eq!(exit_code, 3);
            assert_eq!(stdout, b"out\n");
            assert_eq!(stderr, b"err\n");
        }
        other => panic!("expected an exec error, got {other:?}"),
    }

    let mut combined = Vec::new();
    let code = client
        .exec_streaming(
            &options,
            tokio::io::empty(),
            &mut combined,
            None::<&mut Vec<u8>>,
        )
        .await
        .unwrap();
    assert_eq!(code, 3);
    let text = String::from_utf8(combined).unwrap();
    assert!(text.contains("out\n") && text.contains("err\n"), "{text:?}");
}

#[tokio::test]
async fn host_process_runs_in_working_dir_under_the_root() {
    let fake = FakePebble::start().await.unwrap();
    fake.allow_host_exec(true);
    let client = fake.client();
    client
        .make_dir("/work", &charm_core::pebble::MakeDirOptions::default())
        .await
        .unwrap();
    let mut options = ExecOptions::new(["pwd"]);
    options.working_dir = Some("/work".into());
    let output = client.exec(&options, "").await.unwrap();
    let pwd = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        std::path::Path::new(pwd.trim()).canonicalize().unwrap(),
        fake.host_path("/work").canonicalize().unwrap()
    );
}

#[tokio::test]
async fn timeout_kills_the_command() {
    let fake = FakePebble::start().await.unwrap();
    fake.allow_host_exec(true);
    let mut options = ExecOptions::new(["sleep", "30"]);
    options.timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    match fake.client().exec(&options, "").await.unwrap_err() {
        Error::Timeout { what, after } => {
            assert!(what.contains("sleep"), "{what}");
            assert_eq!(after, Duration::from_millis(300));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the command was not killed"
    );
}
