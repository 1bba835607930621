//! `RegistryCopier` against real `docker-registry` servers (the copier's `TestRegistry`):
//! credentials from dockerconfigjson documents, progress, and the existence check.

use image_backup_controller::copier::{
    CopyErrorKind, CopyRequest, DockerConfig, ImageCopier, RegistryCopier,
};
use image_backup_controller::image::ImageRef;
use image_backup_copier::testing::{
    TestImage, TestRegistry, push_image, test_client, test_client_options,
};
use image_backup_copier::{BackupNaming, CopyOptions};
use tokio::sync::watch;

fn dockerconfigjson(registry: &TestRegistry, user: &str, password: &str) -> DockerConfig {
    let json =
        serde_json::json!({"auths": {registry.host(): {"username": user, "password": password}}});
    DockerConfig(serde_json::to_vec(&json).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_with_secret_credentials_and_checks_existence() {
    let source = TestRegistry::start();
    let backup = TestRegistry::builder()
        .basic_auth("backup", "s3cret")
        .start();
    let image = TestImage::random(&[300_000, 5_000], None);
    let source_ref = source.reference("team/app:1.0");
    push_image(&test_client(&[&source]), &source_ref, &image)
        .await
        .unwrap();

    // Base options carry no credentials: they come from the secret, as in the controller.
    let copier = RegistryCopier::new(CopyOptions {
        client: test_client_options(&[]),
        ..CopyOptions::default()
    })
    .unwrap();
    let naming = BackupNaming::preserving(&backup.host(), Some("mirror")).unwrap();
    let destination = naming.backup_reference(&source_ref).unwrap();
    let request = |credentials| CopyRequest {
        source: ImageRef::parse(&source_ref.to_string()).unwrap(),
        destination: destination.clone(),
        credentials,
    };

    let refused = copier
        .copy(request(vec![]), watch::channel(0).0)
        .await
        .unwrap_err();
    assert_eq!(refused.kind, CopyErrorKind::Auth, "{refused}");

    let secret = dockerconfigjson(&backup, "backup", "s3cret");
    let (progress, bytes) = watch::channel(0);
    let outcome = copier
        .copy(request(vec![secret.clone()]), progress)
        .await
        .unwrap();
    assert_eq!(outcome.source_digest, image.manifest.digest.to_string());
    assert_eq!(outcome.backup_digest, outcome.source_digest);
    assert!(outcome.bytes_copied >= 305_000, "{outcome:?}");
    assert_eq!(
        *bytes.borrow(),
        outcome.bytes_copied,
        "progress adds up to the report"
    );

    let name = destination.to_string();
    assert!(
        copier
            .exists(&name, &outcome.backup_digest, vec![secret.clone()])
            .await
            .unwrap()
    );
    let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    assert!(
        !copier
            .exists(&name, other, vec![secret.clone()])
            .await
            .unwrap()
    );
    let missing = backup.reference("mirror/nothing:1").to_string();
    assert!(
        !copier
            .exists(&missing, &outcome.backup_digest, vec![secret])
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_secret_is_an_auth_error_naming_the_problem() {
    let copier = RegistryCopier::new(CopyOptions::default()).unwrap();
    let request = CopyRequest {
        source: ImageRef::parse("127.0.0.1:1/a:1").unwrap(),
        destination: "127.0.0.1:1/b:1".parse().unwrap(),
        credentials: vec![DockerConfig(b"not json".to_vec())],
    };
    let error = copier.copy(request, watch::channel(0).0).await.unwrap_err();
    assert_eq!(error.kind, CopyErrorKind::Auth);
    assert!(error.message.contains("not JSON"), "{error}");
}
