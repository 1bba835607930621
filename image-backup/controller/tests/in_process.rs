//! The whole controller (`run_with`: caches, both reconcilers, leader election, HTTP and gRPC
//! servers) against an in-process API server over real HTTP, with the in-memory copier: a
//! ready Deployment ends with Done backups and, with `--rollout`, runs the backup images.

mod support;

use std::sync::Arc;
use std::time::Duration;

use image_backup_controller::ControllerConfig;
use image_backup_controller::copier::InMemoryCopier;
use image_backup_controller::run::run_with;
use support::fake_api::{self, FakeApi};
use support::objects::{deployment, eventually};

fn config(extra: &[&str]) -> ControllerConfig {
    let mut argv = vec![
        "test",
        "--backup-registry",
        "backup.local:5000/mirror",
        "--metrics-addr",
        "127.0.0.1:0",
        "--grpc-addr",
        "127.0.0.1:0",
        "--identity",
        "in-process-test",
    ];
    argv.extend_from_slice(extra);
    ControllerConfig::from_argv(argv).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_deployment_is_backed_up_and_rolled_out() {
    let fake = FakeApi::default();
    let client = fake.client().await;
    fake.put(
        &fake_api::deployments(),
        deployment("shop", "web", Some("busybox:1.36"), "nginx:1.14.2", 0),
    );
    fake.put(
        &fake_api::deployments(),
        deployment("kube-system", "dns", Some("busybox:1.36"), "coredns:1", 1),
    );

    let copier = InMemoryCopier::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(run_with(
        client,
        config(&["--rollout"]),
        Arc::new(copier.clone()),
        async {
            let _ = stopped.await;
        },
    ));

    // Leader election: the lease names us.
    eventually("the lease", Duration::from_secs(30), || {
        let lease = fake.get(
            &("/apis/coordination.k8s.io/v1".into(), "leases".into()),
            "image-backup",
            "image-backup-controller",
        )?;
        (lease["spec"]["holderIdentity"] == "in-process-test").then_some(())
    })
    .await;

    // Not ready yet: no backups.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(fake.list(&fake_api::imagebackups()).is_empty());

    // Ready (the status a kubelet would report): both images get a backup, copied to Done.
    fake.put(
        &fake_api::deployments(),
        deployment("shop", "web", Some("busybox:1.36"), "nginx:1.14.2", 1),
    );
    let backups = eventually("two Done backups", Duration::from_secs(30), || {
        let backups = fake.list(&fake_api::imagebackups());
        (backups.len() == 2 && backups.iter().all(|b| b["status"]["phase"] == "Done"))
            .then_some(backups)
    })
    .await;
    let mut images: Vec<_> = backups
        .iter()
        .map(|b| b["spec"]["image"].as_str().unwrap().to_string())
        .collect();
    images.sort();
    assert_eq!(
        images,
        [
            "docker.io/library/busybox:1.36",
            "docker.io/library/nginx:1.14.2"
        ]
    );
    assert_eq!(copier.copies().len(), 2, "each image copied once");

    // Rollout: the images are switched to the backups, originals recorded.
    let web = eventually("the rollout patch", Duration::from_secs(30), || {
        let web = fake.get(&fake_api::deployments(), "shop", "web")?;
        web["metadata"]["annotations"]["k8slab.io/original-images"]
            .is_string()
            .then_some(web)
    })
    .await;
    let pod = &web["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["image"],
        "backup.local:5000/mirror/docker.io/library/nginx:1.14.2"
    );
    assert_eq!(
        pod["initContainers"][0]["image"],
        "backup.local:5000/mirror/docker.io/library/busybox:1.36"
    );

    // The excluded namespace was never looked at, and nothing was copied twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.list(&fake_api::imagebackups()).len(), 2);
    assert_eq!(copier.copies().len(), 2);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), controller)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // A clean stop gives the lease up for the next leader.
    let lease = fake
        .get(
            &("/apis/coordination.k8s.io/v1".into(), "leases".into()),
            "image-backup",
            "image-backup-controller",
        )
        .unwrap();
    assert!(lease["spec"]["holderIdentity"].is_null(), "{lease}");
}
