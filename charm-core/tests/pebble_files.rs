//! File operations over a real socket to the fake Pebble.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::pin::Pin;
use std::task::{Context, Poll};

use charm_core::pebble::fake::FakePebble;
use charm_core::pebble::{Error, FileType, MakeDirOptions, Owner, PathErrorKind, PushOptions};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

fn path_error(err: Error) -> (String, PathErrorKind, String) {
    match err {
        Error::Path {
            path,
            kind,
            message,
        } => (path, kind, message),
        other => panic!("expected a path error, got {other:?}"),
    }
}

/// Produces `len` bytes of a position-dependent pattern without holding them in memory,
/// optionally failing after `fail_after` bytes.
struct Pattern {
    len: u64,
    pos: u64,
    fail_after: Option<u64>,
}

fn pattern_byte(pos: u64) -> u8 {
    (pos % 251) as u8
}

impl AsyncRead for Pattern {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.fail_after.is_some_and(|limit| self.pos >= limit) {
            return Poll::Ready(Err(io::Error::other("disk on fire")));
        }
        let n = (buf.remaining() as u64).min(self.len - self.pos).min(8192) as usize;
        for i in 0..n {
            buf.put_slice(&[pattern_byte(self.pos + i as u64)]);
        }
        self.pos += n as u64;
        Poll::Ready(Ok(()))
    }
}

/// Checks written bytes against the pattern without storing them.
#[derive(Default)]
struct PatternCheck {
    pos: u64,
    mismatches: u64,
}

impl AsyncWrite for PatternCheck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        for &byte in buf {
            if byte != pattern_byte(self.pos) {
                self.mismatches += 1;
            }
            self.pos += 1;
        }
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn push_then_pull_round_trips_with_permissions_and_owner() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();
    let options = PushOptions {
        make_dirs: true,
        permissions: Some(0o600),
        owner: Owner {
            user: Some("cloudcasa".into()),
            group: Some("cloudcasa".into()),
            ..Owner::default()
        },
    };
    client
        .push_bytes("/etc/cloudcasa/config.yaml", "clusterid: abc\n", &options)
        .await
        .unwrap();

    let host = fake.host_path("/etc/cloudcasa/config.yaml");
    assert_eq!(std::fs::read_to_string(&host).unwrap(), "clusterid: abc\n");
    assert_eq!(
        std::fs::metadata(&host).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        client
            .pull_string("/etc/cloudcasa/config.yaml")
            .await
            .unwrap(),
        "clusterid: abc\n"
    );

    let info = client
        .list_files("/etc/cloudcasa/config.yaml", None, false)
        .await
        .unwrap();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].path, "/etc/cloudcasa/config.yaml");
    assert_eq!(info[0].name, "config.yaml");
    assert_eq!(info[0].file_type, FileType::File);
    assert_eq!(info[0].size, Some(15));
    assert_eq!(info[0].permissions, 0o600);
    assert_eq!(info[0].user.as_deref(), Some("cloudcasa"));
    assert_eq!(info[0].group.as_deref(), Some("cloudcasa"));
    assert!(!info[0].last_modified.is_empty());

    // Overwriting replaces the content, with the default mode.
    client
        .push_bytes("/etc/cloudcasa/config.yaml", "v2", &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(
        client
            .pull_string("/etc/cloudcasa/config.yaml")
            .await
            .unwrap(),
        "v2"
    );
    assert_eq!(
        std::fs::metadata(&host).unwrap().permissions().mode() & 0o777,
        0o644
    );
}

#[tokio::test]
async fn large_files_stream_both_ways() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();
    let len = 32 * 1024 * 1024 + 7;
    let source = Pattern {
        len,
        pos: 0,
        fail_after: None,
    };
    client
        .push(
            "/data/big.bin",
            source,
            &PushOptions {
                make_dirs: true,
                ..PushOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        std::fs::metadata(fake.host_path("/data/big.bin"))
            .unwrap()
            .len(),
        len
    );

    let mut check = PatternCheck::default();
    let written = client.pull_to("/data/big.bin", &mut check).await.unwrap();
    assert_eq!(written, len);
    assert_eq!(check.pos, len);
    assert_eq!(check.mismatches, 0);
}

#[tokio::test]
async fn failing_local_source_leaves_nothing_behind() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();
    let source = Pattern {
        len: 1024 * 1024,
        pos: 0,
        fail_after: Some(100_000),
    };
    match client
        .push("/half.bin", source, &PushOptions::default())
        .await
        .unwrap_err()
    {
        Error::LocalIo { context, source } => {
            assert!(context.contains("/half.bin"), "{context}");
            assert!(source.to_string().contains("disk on fire"));
        }
        other => panic!("expected a local I/O error, got {other:?}"),
    }
    // The fake sees the upload break off; give it a moment to clean up.
    for _ in 0..50 {
        let leftovers = std::fs::read_dir(fake.root()).unwrap().count();
        if leftovers == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!client.exists("/half.bin").await.unwrap());
    assert_eq!(
        std::fs::read_dir(fake.root()).unwrap().count(),
        0,
        "no temporary file left"
    );
}

#[tokio::test]
async fn per_path_errors_are_path_errors() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();

    let (path, kind, message) = path_error(
        client
            .push_bytes("/missing/dir/file", "x", &PushOptions::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(path, "/missing/dir/file");
    assert_eq!(kind, PathErrorKind::NotFound);
    assert!(message.contains("/missing/dir/file"), "{message}");

    let err = client.pull_bytes("/nope").await.unwrap_err();
    assert!(err.is_not_found());
    let (path, kind, _) = path_error(err);
    assert_eq!((path.as_str(), kind), ("/nope", PathErrorKind::NotFound));

    client
        .make_dir("/dir", &MakeDirOptions::default())
        .await
        .unwrap();
    let (_, kind, message) = path_error(client.pull_bytes("/dir").await.unwrap_err());
    assert_eq!(kind, PathErrorKind::GenericFileError);
    assert_eq!(message, "can only read a regular file: \"/dir\"");

    let (_, kind, _) = path_error(client.list_files("/nope", None, false).await.unwrap_err());
    assert_eq!(kind, PathErrorKind::NotFound);

    for err in [
        client
            .push_bytes("relative", "x", &PushOptions::default())
            .await
            .unwrap_err(),
        client.pull_bytes("relative").await.unwrap_err(),
        client
            .list_files("relative", None, false)
            .await
            .unwrap_err(),
        client
            .push_bytes(
                "/x",
                "x",
                &PushOptions {
                    permissions: Some(0o7777),
                    ..PushOptions::default()
                },
            )
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    }
}

#[tokio::test]
async fn list_with_pattern_and_itself() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();
    let options = PushOptions {
        make_dirs: true,
        ..PushOptions::default()
    };
    for name in ["a.yaml", "b.yaml", "c.txt"] {
        client
            .push_bytes(&format!("/conf/{name}"), name, &options)
            .await
            .unwrap();
    }
    client
        .make_dir("/conf/sub", &MakeDirOptions::default())
        .await
        .unwrap();

    let all = client.list_files("/conf", None, false).await.unwrap();
    let names: Vec<&str> = all.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["a.yaml", "b.yaml", "c.txt", "sub"]);
    assert_eq!(all[3].file_type, FileType::Directory);
    assert_eq!(all[3].size, None);
    assert_eq!(all[0].path, "/conf/a.yaml");

    let yaml = client
        .list_files("/conf", Some("*.yaml"), false)
        .await
        .unwrap();
    assert_eq!(yaml.len(), 2);

    let itself = client.list_files("/conf", None, true).await.unwrap();
    assert_eq!(itself.len(), 1);
    assert_eq!(itself[0].path, "/conf");
    assert_eq!(itself[0].file_type, FileType::Directory);

    assert!(client.exists("/conf/a.yaml").await.unwrap());
    assert!(!client.exists("/conf/z.yaml").await.unwrap());
    assert!(client.is_dir("/conf/sub").await.unwrap());
    assert!(!client.is_dir("/conf/a.yaml").await.unwrap());
    assert!(!client.is_dir("/nowhere").await.unwrap());

    let err = client
        .list_files("/conf", Some("[unclosed"), false)
        .await
        .unwrap_err();
    let (_, kind, message) = path_error(err);
    assert_eq!(kind, PathErrorKind::GenericFileError);
    assert!(message.contains("pattern"), "{message}");
}

#[tokio::test]
async fn make_dir_and_remove() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();

    client
        .make_dir(
            "/srv/a/b",
            &MakeDirOptions {
                make_parents: true,
                permissions: Some(0o750),
                ..MakeDirOptions::default()
            },
        )
        .await
        .unwrap();
    let host = fake.host_path("/srv/a/b");
    assert!(host.is_dir());
    assert_eq!(
        std::fs::metadata(&host).unwrap().permissions().mode() & 0o777,
        0o750
    );
    // With make_parents an existing directory is fine; without, it is an error.
    client
        .make_dir(
            "/srv/a/b",
            &MakeDirOptions {
                make_parents: true,
                ..MakeDirOptions::default()
            },
        )
        .await
        .unwrap();
    let (_, kind, message) = path_error(
        client
            .make_dir("/srv/a/b", &MakeDirOptions::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(kind, PathErrorKind::GenericFileError);
    assert!(message.starts_with("mkdir /srv/a/b: "), "{message}");
    let (_, kind, _) = path_error(
        client
            .make_dir("/x/y/z", &MakeDirOptions::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(kind, PathErrorKind::NotFound);

    client
        .push_bytes("/srv/a/b/file", "x", &PushOptions::default())
        .await
        .unwrap();
    let (_, kind, _) = path_error(client.remove_path("/srv/a", false).await.unwrap_err());
    assert_eq!(kind, PathErrorKind::GenericFileError, "not empty");
    client.remove_path("/srv/a/b/file", false).await.unwrap();
    assert!(!client.exists("/srv/a/b/file").await.unwrap());
    client.remove_path("/srv", true).await.unwrap();
    assert!(!fake.host_path("/srv").exists());

    let (_, kind, _) = path_error(client.remove_path("/srv", false).await.unwrap_err());
    assert_eq!(kind, PathErrorKind::NotFound);
    client.remove_path("/srv", true).await.unwrap();
}

#[tokio::test]
async fn paths_cannot_escape_the_container_root() {
    let fake = FakePebble::start().await.unwrap();
    let client = fake.client();
    client
        .push_bytes("/../../escape.txt", "x", &PushOptions::default())
        .await
        .unwrap();
    assert!(fake.host_path("/escape.txt").is_file());
    assert_eq!(client.pull_string("/escape.txt").await.unwrap(), "x");
    let name_with_spaces = "/with space & ampersand=.txt";
    client
        .push_bytes(name_with_spaces, "y", &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(client.pull_string(name_with_spaces).await.unwrap(), "y");
}
