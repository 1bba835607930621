//! The tests' pod image, built and run here without a cluster: `test-pause` is static (it goes
//! FROM scratch), exits 0 with `--exit`, sleeps otherwise and ends at once on SIGTERM (as PID 1
//! of a container it would otherwise wait out the kubelet's grace period); each image name
//! has its own digest, the same on every build; a push lands that digest in a real registry.

use std::process::Command;
use std::time::{Duration, Instant};

use image_backup_copier::testing::TestRegistry;
use kube_testing::images::{self, EXIT_ARG, Registry};

#[test]
fn test_pause_exits_with_exit_and_at_once_on_sigterm() {
    let binary = images::build_static("test-pause", "test-pause").unwrap();
    let status = Command::new(&binary).arg(EXIT_ARG).status().unwrap();
    assert!(status.success());

    // As the cloudcasa agent's image is run: with arguments it does not know.
    let mut child = Command::new(&binary)
        .args(["/usr/local/bin/kubeagentmanager", "--tls", "true"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "it must keep running");
    let pid = i32::try_from(child.id()).unwrap();
    let started = Instant::now();
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn each_image_name_has_its_own_stable_digest_and_pushes_as_it() {
    let web = images::pause_image("web").unwrap();
    assert_eq!(images::pause_image("web").unwrap().digest(), web.digest());
    assert_ne!(images::pause_image("init").unwrap().digest(), web.digest());

    let registry = TestRegistry::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pushed = runtime
        .block_on(Registry::new(&registry.host()).unwrap().push_pause("web"))
        .unwrap();
    assert_eq!(
        pushed.reference,
        format!("{}/kube-testing/web:v1", registry.host())
    );
    assert_eq!(pushed.digest, web.digest().to_string());
    let inspected = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
        .arg(format!("docker://{}", pushed.reference))
        .output()
        .expect("skopeo (apt-get install -y skopeo)");
    assert!(
        inspected.status.success(),
        "{}",
        String::from_utf8_lossy(&inspected.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&inspected.stdout).trim(),
        pushed.digest
    );
}
