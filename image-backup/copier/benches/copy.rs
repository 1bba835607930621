//! Copy benchmark: `cargo bench -p image-backup-copier` (needs docker-registry and skopeo).
//!
//! Prints, for a generated two-platform image of >= 200 MB copied between two local
//! registries: our time, `skopeo copy --all`'s time and the ratio; the re-copy time and request
//! count for the unchanged image; and our peak RSS copying a single 512 MB layer (measured in
//! a child process, which reports its own `VmHWM`). Targets: ratio <= 0.8, one request per
//! manifest on re-copy, peak RSS <= 64 MB. The figures are printed, never asserted: timing on
//! a shared machine is noisy.

use std::process::Command;
use std::time::Instant;

use image_backup_copier::testing::{
    TestImage, TestIndex, TestRegistry, push_image, push_index, test_client, test_client_options,
};
use image_backup_copier::{Copier, CopyOptions, NoProgress, Reference};

const MB: usize = 1024 * 1024;
const CHILD_ENV: &str = "IMAGE_BACKUP_BENCH_CHILD";

fn copier(registries: &[&TestRegistry]) -> Copier {
    Copier::new(CopyOptions {
        client: test_client_options(registries),
        ..CopyOptions::default()
    })
    .expect("copier")
}

fn skopeo_copy(src: &Reference, dst: &Reference) -> f64 {
    let started = Instant::now();
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--all",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .arg(format!("docker://{src}"))
        .arg(format!("docker://{dst}"))
        .output()
        .expect("skopeo is needed: apt-get install -y skopeo");
    assert!(
        out.status.success(),
        "skopeo copy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed().as_secs_f64()
}

/// Child mode: copy `src` to `dst` and print this process's peak RSS.
fn child(spec: &str) {
    let (src, dst) = spec.split_once(' ').expect("child spec");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let report = runtime.block_on(async {
        let copier = Copier::new(CopyOptions::default()).expect("copier");
        copier
            .copy(
                &Reference::parse(src).expect("src"),
                &Reference::parse(dst).expect("dst"),
                NoProgress,
            )
            .await
            .expect("copy")
    });
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap_or("VmHWM: ? kB");
    println!("{hwm}");
    println!("bytes_copied: {}", report.bytes_copied);
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let source = TestRegistry::start();
    let ours = TestRegistry::start();
    let theirs = TestRegistry::start();
    let client = test_client(&[&source]);

    let layers = [40 * MB, 30 * MB, 20 * MB, 10 * MB, 5 * MB];
    let index = TestIndex::new(vec![
        TestImage::random(&layers, Some("linux/amd64".parse().unwrap())),
        TestImage::random(&layers, Some("linux/arm64".parse().unwrap())),
    ]);
    let total: u64 = index.images.iter().map(TestImage::size).sum();
    let src = source.reference("bench/app:1");
    push_index(&client, &src, &index).await.expect("push");
    println!(
        "image: 2 platforms x {} layers, {:.1} MB in all",
        layers.len(),
        total as f64 / MB as f64
    );

    let copier = copier(&[&source, &ours]);
    let dst = ours.reference("bench/app:1");
    let started = Instant::now();
    let report = copier.copy(&src, &dst, NoProgress).await.expect("copy");
    let ours_s = started.elapsed().as_secs_f64();
    assert_eq!(report.destination_digest, index.manifest.digest);

    let skopeo_s = skopeo_copy(&src, &theirs.reference("bench/app:1"));
    println!(
        "copy:    image-backup {ours_s:.2} s ({:.0} MB/s), skopeo copy --all {skopeo_s:.2} s, ratio {:.2} (target <= 0.80)",
        total as f64 / MB as f64 / ours_s,
        ours_s / skopeo_s
    );

    let (log_src, log_dst) = (source.access_log().len(), ours.access_log().len());
    let started = Instant::now();
    let again = copier.copy(&src, &dst, NoProgress).await.expect("re-copy");
    let recopy_s = started.elapsed().as_secs_f64();
    let seen = source.access_log().len() - log_src + ours.access_log().len() - log_dst;
    let skopeo_recopy_s = skopeo_copy(&src, &theirs.reference("bench/app:1"));
    println!(
        "re-copy: image-backup {:.1} ms, {} requests (registries saw {seen}; the image has 3 manifests), already_present={}; skopeo {:.1} ms",
        recopy_s * 1000.0,
        again.requests,
        again.already_present,
        skopeo_recopy_s * 1000.0
    );

    let big = TestImage::random(&[512 * MB], None);
    let big_src = source.reference("bench/big:1");
    push_image(&client, &big_src, &big).await.expect("push big");
    drop(big);
    let exe = std::env::current_exe().expect("own path");
    let started = Instant::now();
    let out = Command::new(exe)
        .env(
            CHILD_ENV,
            format!("{big_src} {}", ours.reference("bench/big:1")),
        )
        .output()
        .expect("child");
    assert!(
        out.status.success(),
        "child copy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let hwm_kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    println!(
        "512 MB layer: copied in {:.2} s, peak RSS {:.1} MB (target <= 64 MB)",
        started.elapsed().as_secs_f64(),
        hwm_kb as f64 / 1024.0
    );
}
