//! Copies between real registries (Debian's `docker-registry`), checked with skopeo.

mod common;

use std::sync::{Arc, Mutex};

use common::{blob_traffic, copier, copier_with, has_blob, has_manifest, skopeo_raw};
use image_backup_copier::testing::{
    TestImage, TestIndex, TestRegistry, push_image, push_index, test_client,
};
use image_backup_copier::{
    BlobOutcome, Digest, ErrorKind, NoProgress, Platform, ProgressEvent, Reference, UploadMode,
};

const KIB: usize = 1024;

fn platform(s: &str) -> Option<Platform> {
    Some(s.parse().unwrap())
}

#[tokio::test]
async fn copies_a_single_image_between_registries_keeping_its_digest() {
    let (a, b) = (TestRegistry::start(), TestRegistry::start());
    let client = test_client(&[&a, &b]);
    let image = TestImage::random(&[300 * KIB, 1500 * KIB, 10], None);
    let src = a.reference("team/app:1.0");
    push_image(&client, &src, &image).await.unwrap();

    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let dst = b.reference("backup/app:1.0");
    let report = copier(&[&a, &b])
        .copy(&src, &dst, move |e: ProgressEvent| {
            sink.lock().unwrap().push(e)
        })
        .await
        .unwrap();

    assert_eq!(report.source_digest, image.manifest.digest);
    assert_eq!(report.destination_digest, image.manifest.digest);
    assert!(!report.already_present && !report.platforms_filtered);
    assert_eq!(
        (
            report.blobs_copied,
            report.blobs_mounted,
            report.blobs_skipped
        ),
        (4, 0, 0)
    );
    assert_eq!(report.bytes_copied, image.size());
    assert_eq!(report.manifests_pushed, 1);
    assert_eq!(
        report.destination.to_string(),
        format!("{}/backup/app:1.0@{}", b.host(), image.manifest.digest)
    );
    // An independent client reads back the very bytes we pushed.
    assert_eq!(skopeo_raw(&dst, &b), image.manifest.bytes.to_vec());
    for (digest, _) in image.blobs() {
        assert!(has_blob(&client, &dst, &digest).await);
    }
    let events = events.lock().unwrap();
    let streamed: u64 = events
        .iter()
        .map(|e| match e {
            ProgressEvent::BlobBytes { bytes } => *bytes,
            _ => 0,
        })
        .sum();
    assert_eq!(streamed, image.size());
    assert!(
        matches!(events.last(), Some(ProgressEvent::ManifestPushed { target, .. }) if target == "1.0")
    );
}

#[tokio::test]
async fn copies_a_multi_arch_index_children_first() {
    let (a, b) = (TestRegistry::start(), TestRegistry::start());
    let client = test_client(&[&a, &b]);
    let shared = image_backup_copier::testing::random_bytes(200 * KIB);
    let amd = TestImage::with_layers(
        vec![
            shared.clone(),
            image_backup_copier::testing::random_bytes(100 * KIB),
        ],
        platform("linux/amd64"),
    );
    let arm = TestImage::with_layers(
        vec![
            shared,
            image_backup_copier::testing::random_bytes(120 * KIB),
        ],
        platform("linux/arm64/v8"),
    );
    let index = TestIndex::new(vec![amd.clone(), arm.clone()]);
    let src = a.reference("multi/app:v2");
    push_index(&client, &src, &index).await.unwrap();

    let dst = b.reference("multi/app:v2");
    let report = copier(&[&a, &b])
        .copy(&src, &dst, NoProgress)
        .await
        .unwrap();

    assert_eq!(report.destination_digest, index.manifest.digest);
    assert_eq!(report.media_type, "application/vnd.oci.image.index.v1+json");
    assert_eq!(report.manifests_pushed, 3);
    // The shared layer is copied once: 2 configs + 3 distinct layers.
    assert_eq!(report.blobs_copied, 5);
    assert_eq!(skopeo_raw(&dst, &b), index.manifest.bytes.to_vec());
    for image in [&amd, &arm] {
        let child = b.reference(&format!("multi/app@{}", image.manifest.digest));
        assert_eq!(skopeo_raw(&child, &b), image.manifest.bytes.to_vec());
    }
}

#[tokio::test]
async fn an_already_present_image_moves_no_blob_bytes() {
    let (a, b) = (TestRegistry::start(), TestRegistry::start());
    let client = test_client(&[&a, &b]);
    let index = TestIndex::new(vec![
        TestImage::random(&[64 * KIB, 64 * KIB], platform("linux/amd64")),
        TestImage::random(&[64 * KIB], platform("linux/arm64")),
    ]);
    let src = a.reference("app:1");
    push_index(&client, &src, &index).await.unwrap();
    let dst = b.reference("app:1");
    let copier = copier(&[&a, &b]);
    copier.copy(&src, &dst, NoProgress).await.unwrap();

    let (log_a, log_b) = (a.access_log().len(), b.access_log().len());
    let report = copier.copy(&src, &dst, NoProgress).await.unwrap();
    assert!(report.already_present);
    assert_eq!(report.destination_digest, index.manifest.digest);
    assert_eq!(report.media_type, index.manifest.media_type);
    assert_eq!(
        (
            report.bytes_copied,
            report.blobs_copied,
            report.blobs_skipped
        ),
        (0, 0, 0)
    );
    // One HEAD on each side, as both registries saw it.
    assert_eq!(report.requests, 2);
    assert_eq!(a.access_log().len() - log_a, 1);
    assert_eq!(b.access_log().len() - log_b, 1);
    assert!(blob_traffic(&a, log_a).is_empty() && blob_traffic(&b, log_b).is_empty());

    // Pinned by digest, only the destination is asked.
    let pinned = src.clone().with_digest(index.manifest.digest.clone());
    let report = copier.copy(&pinned, &dst, NoProgress).await.unwrap();
    assert!(report.already_present);
    assert_eq!(report.requests, 1);
}

#[tokio::test]
async fn retag_of_a_present_digest_only_pushes_the_tag() {
    let (a, b) = (TestRegistry::start(), TestRegistry::start());
    let client = test_client(&[&a, &b]);
    let image = TestImage::random(&[32 * KIB], None);
    let src = a.reference("app:1");
    push_image(&client, &src, &image).await.unwrap();
    let copier = copier(&[&a, &b]);
    copier
        .copy(&src, &b.reference("app:1"), NoProgress)
        .await
        .unwrap();
    let log_b = b.access_log().len();
    let report = copier
        .copy(&src, &b.reference("app:other"), NoProgress)
        .await
        .unwrap();
    assert_eq!(report.destination_digest, image.manifest.digest);
    assert_eq!(report.blobs_copied + report.blobs_skipped, 0);
    assert!(blob_traffic(&b, log_b).is_empty());
    assert!(has_manifest(&client, &b.reference("app:other")).await);
}

#[tokio::test]
async fn blobs_already_in_the_destination_are_skipped() {
    let (a, b) = (TestRegistry::start(), TestRegistry::start());
    let client = test_client(&[&a, &b]);
    let base = image_backup_copier::testing::random_bytes(256 * KIB);
    let v1 = TestImage::with_layers(vec![base.clone()], None);
    let v2 = TestImage::with_layers(
        vec![base, image_backup_copier::testing::random_bytes(KIB)],
        None,
    );
    push_image(&client, &a.reference("app:v1"), &v1)
        .await
        .unwrap();
    push_image(&client, &a.reference("app:v2"), &v2)
        .await
        .unwrap();
    let copier = copier(&[&a, &b]);
    copier
        .copy(&a.reference("app:v1"), &b.reference("app:v1"), NoProgress)
        .await
        .unwrap();
    let log_a = a.access_log().len();
    let report = copier
        .copy(&a.reference("app:v2"), &b.reference("app:v2"), NoProgress)
        .await
        .unwrap();
    assert_eq!((report.blobs_copied, report.blobs_skipped), (2, 1));
    assert_eq!(report.bytes_copied, v2.size() - 256 * KIB as u64);
    let base_digest = Digest::sha256(&v1.layers[0]);
    assert!(
        !blob_traffic(&a, log_a)
            .iter()
            .any(|l| l.contains(&base_digest.to_string())),
        "the shared base layer was downloaded again"
    );
}

#[tokio::test]
async fn copies_within_one_registry_by_mounting() {
    let a = TestRegistry::start();
    let client = test_client(&[&a]);
    let image = TestImage::random(&[512 * KIB, 64 * KIB], None);
    let src = a.reference("source/app:1");
    push_image(&client, &src, &image).await.unwrap();
    let log = a.access_log().len();
    let dst = a.reference("backup/app:1");
    let report = copier(&[&a]).copy(&src, &dst, NoProgress).await.unwrap();
    assert_eq!((report.blobs_mounted, report.blobs_copied), (3, 0));
    assert_eq!(report.bytes_copied, 0);
    assert!(
        blob_traffic(&a, log).is_empty(),
        "{:?}",
        blob_traffic(&a, log)
    );
    let mounts = a.access_log()[log..]
        .iter()
        .filter(|e| e.method == "POST" && e.path.contains("mount=") && e.status == 201)
        .count();
    assert_eq!(mounts, 3);
    assert_eq!(skopeo_raw(&dst, &a), image.manifest.bytes.to_vec());
}

#[tokio::test]
async fn digest_pinned_sources() {
    let (a, b) = (TestRegistry::start(), TestRegistry::start());
    let client = test_client(&[&a, &b]);
    let old = TestImage::random(&[8 * KIB], None);
    let new = TestImage::random(&[8 * KIB], None);
    push_image(&client, &a.reference("app:1"), &old)
        .await
        .unwrap();
    // `app:1` moves on; the pinned digest still names the old image.
    push_image(&client, &a.reference("app:1"), &new)
        .await
        .unwrap();
    let copier = copier(&[&a, &b]);

    let pinned = Reference::parse(&format!("{}/app:1@{}", a.host(), old.manifest.digest)).unwrap();
    let report = copier
        .copy(&pinned, &b.reference("app:1"), NoProgress)
        .await
        .unwrap();
    assert_eq!(report.destination_digest, old.manifest.digest);
    assert_eq!(
        skopeo_raw(&b.reference("app:1"), &b),
        old.manifest.bytes.to_vec()
    );

    // Digest only, destination without tag: pushed by digest, no tag made up.
    let digest_only =
        Reference::parse(&format!("{}/app@{}", a.host(), new.manifest.digest)).unwrap();
    let dst = b.reference("pinned");
    let report = copier.copy(&digest_only, &dst, NoProgress).await.unwrap();
    assert_eq!(report.destination_digest, new.manifest.digest);
    assert_eq!(report.destination.tag(), None);
    assert!(
        has_manifest(
            &client,
            &dst.clone().with_digest(new.manifest.digest.clone())
        )
        .await
    );
    assert!(!has_manifest(&client, &b.reference("pinned:latest")).await);

    // A destination pinned to another digest is refused before anything is pushed.
    let wrong = b
        .reference("other:1")
        .with_digest(old.manifest.digest.clone());
    let err = copier
        .copy(&digest_only, &wrong, NoProgress)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("pinned"), "{err}");
    assert!(!has_manifest(&client, &b.reference("other:1")).await);
}

#[tokio::test]
async fn copies_only_chosen_platforms() {
    let (a, b) = (TestRegistry::start(), TestRegistry::start());
    let client = test_client(&[&a, &b]);
    let amd = TestImage::random(&[16 * KIB], platform("linux/amd64"));
    let arm = TestImage::random(&[16 * KIB], platform("linux/arm64"));
    let index = TestIndex::new(vec![amd.clone(), arm.clone()]);
    let src = a.reference("app:1");
    push_index(&client, &src, &index).await.unwrap();
    let dst = b.reference("app:1");
    let report = copier_with(&[&a, &b], |o| {
        o.platforms = vec!["linux/arm64".parse().unwrap()]
    })
    .copy(&src, &dst, NoProgress)
    .await
    .unwrap();
    assert!(report.platforms_filtered);
    assert_eq!(report.source_digest, index.manifest.digest);
    assert_ne!(report.destination_digest, index.manifest.digest);
    assert_eq!(report.blobs_copied, 2);
    let raw = skopeo_raw(&dst, &b);
    assert_eq!(Digest::sha256(&raw), report.destination_digest);
    let text = String::from_utf8(raw).unwrap();
    assert!(text.contains(&arm.manifest.digest.to_string()));
    assert!(!text.contains(&amd.manifest.digest.to_string()));

    let err = copier_with(&[&a, &b], |o| {
        o.platforms = vec!["windows/amd64".parse().unwrap()]
    })
    .copy(&src, &b.reference("app:2"), NoProgress)
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("windows/amd64"), "{err}");
}

#[tokio::test]
async fn chunked_uploads_work_too() {
    let (a, b) = (TestRegistry::start(), TestRegistry::start());
    let client = test_client(&[&a, &b]);
    let image = TestImage::random(&[2500 * KIB, 3], None);
    let src = a.reference("app:1");
    push_image(&client, &src, &image).await.unwrap();
    let log = b.access_log().len();
    let report = copier_with(&[&a, &b], |o| {
        o.upload = UploadMode::Chunked {
            chunk_size: 1024 * KIB,
        }
    })
    .copy(&src, &b.reference("app:1"), NoProgress)
    .await
    .unwrap();
    assert_eq!(report.blobs_copied, 3);
    let patches = b.access_log()[log..]
        .iter()
        .filter(|e| e.method == "PATCH")
        .count();
    // 3 chunks for the big layer, one each for the small layer and the config.
    assert_eq!(patches, 5);
    assert_eq!(
        skopeo_raw(&b.reference("app:1"), &b),
        image.manifest.bytes.to_vec()
    );
}

#[tokio::test]
async fn missing_sources_are_not_found() {
    let (a, b) = (TestRegistry::start(), TestRegistry::start());
    let copier = copier(&[&a, &b]);
    let err = copier
        .copy(&a.reference("nope:1"), &b.reference("nope:1"), NoProgress)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("nope"), "{err}");
}

#[tokio::test]
async fn progress_reports_every_blob_outcome() {
    let a = TestRegistry::start();
    let client = test_client(&[&a]);
    let image = TestImage::random(&[KIB], None);
    push_image(&client, &a.reference("x/app:1"), &image)
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    copier(&[&a])
        .copy(&a.reference("x/app:1"), &a.reference("y/app:1"), tx)
        .await
        .unwrap();
    let mut outcomes = Vec::new();
    while let Ok(event) = rx.try_recv() {
        if let ProgressEvent::BlobFinished { outcome, .. } = event {
            outcomes.push(outcome);
        }
    }
    assert_eq!(outcomes, [BlobOutcome::Mounted, BlobOutcome::Mounted]);
}
