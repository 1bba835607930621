//! Copies that fail half-way must fail loudly and leave no destination tag.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use common::fake::{Behaviour, FakeUpstream};
use common::{copier, copier_with, has_blob, has_manifest};
use image_backup_copier::testing::{TestImage, TestRegistry, push_image, test_client};
use image_backup_copier::{
    Error, ErrorKind, NoProgress, ProgressEvent, Reference, RetryPolicy, UploadMode,
};

const MIB: usize = 1024 * 1024;

/// Kills `victim` as soon as the first blob bytes flow.
fn kill_on_first_bytes(victim: Arc<Mutex<TestRegistry>>) -> impl Fn(ProgressEvent) + Send + Sync {
    move |event| {
        if let ProgressEvent::BlobBytes { .. } = event {
            victim.lock().unwrap().kill();
        }
    }
}

/// A 48 MB image pushed to `a`, with the references to copy it to `b`.
async fn big_image(a: &TestRegistry, b: &TestRegistry) -> (TestImage, Reference, Reference) {
    let image = TestImage::random(&[16 * MIB, 16 * MIB, 16 * MIB], None);
    let src = a.reference("big/app:1");
    push_image(&test_client(&[a]), &src, &image).await.unwrap();
    (image, src, b.reference("big/app:1"))
}

#[tokio::test]
async fn source_registry_killed_mid_copy_leaves_no_tag() {
    let (a, b) = (TestRegistry::start(), TestRegistry::start());
    let (image, src, dst) = big_image(&a, &b).await;
    let copier = copier(&[&a, &b]);
    let client = test_client(&[&b]);
    let a = Arc::new(Mutex::new(a));
    let err = copier
        .copy(&src, &dst, kill_on_first_bytes(a.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transfer, "{err}");
    assert!(err.to_string().contains(&a.lock().unwrap().host()), "{err}");
    assert!(!has_manifest(&client, &dst).await, "a tag was left behind");
    let by_digest = dst
        .clone()
        .without_digest()
        .with_digest(image.manifest.digest);
    assert!(!has_manifest(&client, &by_digest).await);
}

#[tokio::test]
async fn destination_registry_killed_mid_copy_leaves_no_tag() {
    let (a, b) = (TestRegistry::start(), TestRegistry::start());
    let (image, src, dst) = big_image(&a, &b).await;
    let copier = copier(&[&a, &b]);
    let client = test_client(&[&b]);
    let b = Arc::new(Mutex::new(b));
    let err = copier
        .copy(&src, &dst, kill_on_first_bytes(b.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transfer, "{err}");
    // Back up on the same storage: no tag, no manifest.
    b.lock().unwrap().restart();
    assert!(!has_manifest(&client, &dst).await, "a tag was left behind");
    // And a second attempt completes the copy.
    let report = copier.copy(&src, &dst, NoProgress).await.unwrap();
    assert_eq!(report.destination_digest, image.manifest.digest);
}

async fn corrupted_copy(upload: UploadMode) {
    let image = TestImage::random(&[3 * MIB, 1000], None);
    let bad_layer = image.blobs()[1].0.clone();
    let upstream = FakeUpstream::start(
        &image,
        Behaviour {
            corrupt: vec![bad_layer.clone()],
            ..Behaviour::default()
        },
    )
    .await;
    let b = TestRegistry::start();
    let client = test_client(&[&b]);
    let src = Reference::parse(&format!("{}/upstream/app:1", upstream.host)).unwrap();
    let dst = b.reference("backup/app:1");
    let log = b.access_log().len();
    // One blob at a time, so the GET count below is exact.
    let err = copier_with(&[&b], |o| {
        o.upload = upload;
        o.jobs = 1;
    })
    .copy(&src, &dst, NoProgress)
    .await
    .unwrap_err();
    match &err {
        Error::DigestMismatch { what, expected, .. } => {
            assert_eq!(expected, &bad_layer);
            assert!(what.contains(&upstream.host), "{what}");
        }
        other => panic!("expected a digest mismatch, got {other}"),
    }
    assert_eq!(err.kind(), ErrorKind::Transfer);
    // Config, then the corrupted layer, once: corruption is not retried (the source would
    // serve the same bytes) and the copy stops there.
    assert_eq!(upstream.blob_gets.load(Ordering::SeqCst), 2);
    assert!(!has_manifest(&client, &dst).await, "a tag was left behind");
    assert!(
        !has_blob(&client, &dst, &bad_layer).await,
        "the corrupted blob was committed"
    );
    let aborted = b.access_log()[log..]
        .iter()
        .filter(|e| e.method == "DELETE" && e.path.contains("/blobs/uploads/"))
        .count();
    assert_eq!(aborted, 1, "the upload session was not cancelled");
}

#[tokio::test]
async fn corrupted_blob_is_a_digest_mismatch_and_nothing_is_tagged() {
    corrupted_copy(UploadMode::Monolithic).await;
}

#[tokio::test]
async fn corrupted_blob_in_chunked_mode_is_never_committed() {
    corrupted_copy(UploadMode::Chunked { chunk_size: MIB }).await;
}

#[tokio::test]
async fn transient_upstream_failures_are_retried() {
    let image = TestImage::random(&[100_000], None);
    for (status, retry_after) in [(503, false), (429, true)] {
        let upstream = FakeUpstream::start(
            &image,
            Behaviour {
                fail_blob_gets: 2,
                fail_status: status,
                retry_after,
                ..Behaviour::default()
            },
        )
        .await;
        let b = TestRegistry::start();
        let src = Reference::parse(&format!("{}/app:1", upstream.host)).unwrap();
        let dst = b.reference("app:1");
        let report = copier(&[&b]).copy(&src, &dst, NoProgress).await.unwrap();
        assert_eq!(report.destination_digest, image.manifest.digest);
        // 2 failures + 2 blobs.
        assert_eq!(
            upstream.blob_gets.load(Ordering::SeqCst),
            4,
            "status {status}"
        );
    }
}

#[tokio::test]
async fn retries_are_bounded() {
    let image = TestImage::random(&[1000], None);
    let upstream = FakeUpstream::start(
        &image,
        Behaviour {
            fail_blob_gets: usize::MAX,
            fail_status: 500,
            ..Behaviour::default()
        },
    )
    .await;
    let b = TestRegistry::start();
    let src = Reference::parse(&format!("{}/app:1", upstream.host)).unwrap();
    let err = copier_with(&[&b], |o| {
        o.client.retry = RetryPolicy {
            max_attempts: 3,
            ..o.client.retry.clone()
        };
        o.jobs = 1;
    })
    .copy(&src, &b.reference("app:1"), NoProgress)
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transfer);
    assert!(err.to_string().contains("500"), "{err}");
    // The first blob: 3 request-level tries, repeated by at most 3 blob-level tries.
    let gets = upstream.blob_gets.load(Ordering::SeqCst);
    assert!((3..=9).contains(&gets), "{gets} GETs");
}
