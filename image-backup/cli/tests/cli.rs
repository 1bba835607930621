//! The `image-backup` binary against real registries: outputs and exit codes.

use std::process::{Command, Output};

use image_backup_copier::testing::{
    TestImage, TestIndex, TestRegistry, push_image, push_index, test_client,
};

fn image_backup(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_image-backup"));
    cmd.args(args)
        // No credentials or insecure registries from the developer's own environment.
        .env("DOCKER_CONFIG", "/nonexistent")
        .env_remove("IMAGE_BACKUP_SRC_CREDS")
        .env_remove("IMAGE_BACKUP_DEST_CREDS")
        .env_remove("IMAGE_BACKUP_AUTHFILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run image-backup")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn copy_prints_a_summary_then_reports_already_present() {
    let (a, b) = (TestRegistry::start(), TestRegistry::start());
    let image = TestImage::random(&[50_000, 70_000], None);
    push_image(&test_client(&[&a]), &a.reference("app:1"), &image)
        .await
        .unwrap();
    let src = a.reference("app:1").to_string();
    let dst = b.reference("backup/app").to_string();

    let out = image_backup(&["copy", &src, &dst], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stdout(&out);
    assert!(
        line.starts_with(&format!(
            "copied {src} -> {dst}:1@{}",
            image.manifest.digest
        )),
        "{line}"
    );
    assert!(line.contains("3 blobs copied"), "{line}");

    let out = image_backup(&["copy", &src, &dst], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("already at"), "{}", stdout(&out));
}

#[tokio::test]
async fn json_report_and_platform_filter() {
    let (a, b) = (TestRegistry::start(), TestRegistry::start());
    let index = TestIndex::new(vec![
        TestImage::random(&[1000], Some("linux/amd64".parse().unwrap())),
        TestImage::random(&[1000], Some("linux/arm64".parse().unwrap())),
    ]);
    push_index(&test_client(&[&a]), &a.reference("app:1"), &index)
        .await
        .unwrap();
    let out = image_backup(
        &[
            "copy",
            &a.reference("app:1").to_string(),
            &b.reference("app:1").to_string(),
            "--json",
            "--platform",
            "linux/arm64",
            "--jobs",
            "2",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["source_digest"], index.manifest.digest.to_string());
    assert_eq!(report["platforms_filtered"], true);
    assert_ne!(report["destination_digest"], report["source_digest"]);
    assert_eq!(report["blobs_copied"], 2);
}

#[tokio::test]
async fn exit_codes_tell_failures_apart() {
    let secured = TestRegistry::builder().basic_auth("u", "p").start();
    let b = TestRegistry::start();
    let image = TestImage::random(&[1000], None);
    push_image(
        &test_client(&[&secured]),
        &secured.reference("app:1"),
        &image,
    )
    .await
    .unwrap();
    let src = secured.reference("app:1").to_string();
    let dst = b.reference("app:1").to_string();

    // Bad input: clap usage error naming the value.
    let out = image_backup(&["copy", "library/Nginx", &dst], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("library/Nginx"), "{}", stderr(&out));
    let out = image_backup(&["copy", &src, &dst, "--src-creds", "nocolon"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // Auth: no credentials for the secured registry, then wrong ones (as JSON).
    let out = image_backup(&["copy", &src, &dst], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = image_backup(
        &["copy", &src, &dst, "--json", "--src-creds", "u:wrong"],
        &[],
    );
    assert_eq!(out.status.code(), Some(3));
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error["kind"], "auth");
    assert!(error["error"].as_str().unwrap().contains(&secured.host()));

    // Credentials from the environment work.
    let out = image_backup(&["copy", &src, &dst], &[("IMAGE_BACKUP_SRC_CREDS", "u:p")]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Not found.
    let out = image_backup(&["copy", &b.reference("missing:1").to_string(), &dst], &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    // Transfer: nothing listens there.
    let out = image_backup(&["copy", "127.0.0.1:9/app:1", &dst, "--retries", "1"], &[]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("127.0.0.1:9"), "{}", stderr(&out));
}

#[tokio::test]
async fn credentials_from_a_docker_config_file() {
    let a = TestRegistry::builder().basic_auth("cfg", "s3cret").start();
    let b = TestRegistry::start();
    let image = TestImage::random(&[1000], None);
    push_image(&test_client(&[&a]), &a.reference("app:1"), &image)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"Y2ZnOnMzY3JldA=="}}}}}}"#,
            a.host()
        ),
    )
    .unwrap();
    let src = a.reference("app:1").to_string();
    let dst = b.reference("app:1").to_string();
    let out = image_backup(
        &["copy", &src, &dst, "--authfile", path.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let out = image_backup(
        &["copy", &src, &dst, "--authfile", "/nonexistent/config.json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/nonexistent/config.json"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn backup_ref_prints_the_backup_name() {
    let out = image_backup(
        &[
            "backup-ref",
            "quay.io/a/b:1",
            "--registry",
            "backup.example",
            "--prefix",
            "mirror",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "backup.example/mirror/quay.io/a/b:1\n");
    let out = image_backup(
        &[
            "backup-ref",
            "nginx:1.14.2",
            "--compat",
            "docker.io/backupregistry/",
        ],
        &[],
    );
    assert_eq!(
        stdout(&out),
        "docker.io/backupregistry/library_nginx:1.14.2\n"
    );
    let out = image_backup(
        &[
            "backup-ref",
            "nginx",
            "--registry",
            "backup.example",
            "--prefix",
            "Bad",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Bad"), "{}", stderr(&out));
}

#[test]
fn controller_failure_is_one_log_line_plain_or_json() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-kubeconfig");
    let run = |format: &str| {
        image_backup(
            &[
                "--log-format",
                format,
                "controller",
                "run",
                "--backup-registry",
                "backup.local:5000",
                "--kubeconfig",
                missing.to_str().unwrap(),
                "--metrics-addr",
                "127.0.0.1:0",
                "--grpc-addr",
                "127.0.0.1:0",
            ],
            &[("IMAGE_BACKUP_LOG", "warn")],
        )
    };

    let text = run("text");
    assert_eq!(text.status.code(), Some(1), "{}", stderr(&text));
    let err = stderr(&text);
    assert!(
        !err.contains('\u{1b}'),
        "no colour codes off a terminal: {err:?}"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("ERROR") && lines[0].contains("no-such-kubeconfig"),
        "{err}"
    );

    let json = run("json");
    assert_eq!(json.status.code(), Some(1));
    let err = stderr(&json);
    let line: serde_json::Value = serde_json::from_str(err.trim()).expect(&err);
    assert_eq!(line["level"], "ERROR", "{line}");
    assert!(
        line["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-kubeconfig"),
        "{line}"
    );
}
