//! Authentication: basic (a real registry with htpasswd) and bearer tokens (a token gateway in
//! front of a real registry).

mod common;

use common::fake::BearerGateway;
use common::{copier, skopeo_raw};
use image_backup_copier::registry::Client;
use image_backup_copier::testing::{
    TestImage, TestRegistry, push_image, test_client, test_client_options,
};
use image_backup_copier::{
    Copier, CopyOptions, CredentialStore, Credentials, ErrorKind, NoProgress, Reference,
};

#[tokio::test]
async fn copies_between_registries_with_different_basic_credentials() {
    let a = TestRegistry::builder()
        .basic_auth("alice", "wonder:land")
        .start();
    let b = TestRegistry::builder().basic_auth("bob", "builder").start();
    let client = test_client(&[&a, &b]);
    let image = TestImage::random(&[100_000, 2000], None);
    let src = a.reference("private/app:1");
    push_image(&client, &src, &image).await.unwrap();
    let dst = b.reference("backup/app:1");
    let report = copier(&[&a, &b])
        .copy(&src, &dst, NoProgress)
        .await
        .unwrap();
    assert_eq!(report.destination_digest, image.manifest.digest);
    assert_eq!(skopeo_raw(&dst, &b), image.manifest.bytes.to_vec());
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_auth_failures() {
    let a = TestRegistry::builder()
        .basic_auth("alice", "secret")
        .start();
    let b = TestRegistry::start();
    let image = TestImage::random(&[1000], None);
    let src = a.reference("app:1");
    push_image(&test_client(&[&a]), &src, &image).await.unwrap();

    let mut wrong = test_client_options(&[&b]);
    wrong
        .credentials
        .insert(&a.host(), Credentials::basic("alice", "guess"));
    let err = Copier::new(CopyOptions {
        client: wrong,
        ..CopyOptions::default()
    })
    .unwrap()
    .copy(&src, &b.reference("app:1"), NoProgress)
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains(&a.host()), "{err}");
    assert!(err.to_string().contains("rejected"), "{err}");

    let err = copier(&[&b])
        .copy(&src, &b.reference("app:1"), NoProgress)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("no credentials"), "{err}");
}

#[tokio::test]
async fn bearer_token_flow_with_one_token_per_scope() {
    let a = TestRegistry::start();
    let b = TestRegistry::start();
    let gateway_a = BearerGateway::start(a.host(), "reader", "r").await;
    let gateway_b = BearerGateway::start(b.host(), "writer", "w").await;
    let image = TestImage::random(&[200_000, 3000, 10], None);
    push_image(&test_client(&[&a]), &a.reference("team/app:1"), &image)
        .await
        .unwrap();

    let mut credentials = CredentialStore::new();
    credentials.insert(&gateway_a.host, Credentials::basic("reader", "r"));
    credentials.insert(&gateway_b.host, Credentials::basic("writer", "w"));
    let mut options = CopyOptions::default();
    options.client.credentials = credentials;
    let copier = Copier::new(options).unwrap();
    let src = Reference::parse(&format!("{}/team/app:1", gateway_a.host)).unwrap();
    let dst = Reference::parse(&format!("{}/backup/app:1", gateway_b.host)).unwrap();
    let report = copier.copy(&src, &dst, NoProgress).await.unwrap();
    assert_eq!(report.destination_digest, image.manifest.digest);
    assert_eq!(report.blobs_copied, 4);

    // Tokens are cached per scope: one pull token for the source; a pull and a push one for
    // the destination, however many blobs were copied.
    let a_tokens = gateway_a.token_requests.lock().unwrap().clone();
    assert_eq!(a_tokens, [["repository:team/app:pull"]]);
    let b_tokens = gateway_b.token_requests.lock().unwrap().clone();
    assert_eq!(
        b_tokens,
        [
            ["repository:backup/app:pull"],
            ["repository:backup/app:pull,push"]
        ]
    );
    assert_eq!(
        skopeo_raw(&b.reference("backup/app:1"), &b),
        image.manifest.bytes.to_vec()
    );

    // Wrong basic credentials at the token service: an auth error naming the registry.
    let mut bad = CredentialStore::new();
    bad.insert(&gateway_a.host, Credentials::basic("reader", "nope"));
    let client = Client::new(image_backup_copier::ClientOptions {
        credentials: bad,
        ..Default::default()
    })
    .unwrap();
    let err = client
        .get_manifest(&(&src).into(), &src.selector())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("token service"), "{err}");
}
