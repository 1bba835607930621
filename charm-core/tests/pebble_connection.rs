//! The client when Pebble is not (yet) up, gone, or not Pebble at all.

use std::time::Duration;

use charm_core::pebble::fake::FakePebble;
use charm_core::pebble::{Client, Container, Error, Layer, PushOptions, Service};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

fn assert_connection_error(err: Error, want: &str) {
    match &err {
        Error::Connection { message, .. } => {
            assert!(
                message.contains(want),
                "{message:?} should mention {want:?}"
            )
        }
        other => panic!("expected a connection error, got {other:?}"),
    }
    assert!(err.is_connection());
}

#[tokio::test]
async fn missing_socket_means_cannot_connect_and_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pebble.socket");
    let client = Client::new(&socket);

    assert!(!client.can_connect().await);
    let err = client.system_info().await.unwrap_err();
    assert!(
        err.to_string().contains(&socket.display().to_string()),
        "{err}"
    );
    assert_connection_error(err, "socket not found");

    let layer = Layer::new().with_service("web", Service::new("/bin/web"));
    assert_connection_error(
        client.add_layer("base", &layer, true).await.unwrap_err(),
        "socket not found",
    );
    assert_connection_error(
        client.replan_services().await.unwrap_err(),
        "socket not found",
    );
    assert_connection_error(
        client
            .push_bytes("/etc/x", "data", &PushOptions::default())
            .await
            .unwrap_err(),
        "socket not found",
    );
    assert_connection_error(
        client.pull_bytes("/etc/x").await.unwrap_err(),
        "socket not found",
    );
}

#[tokio::test]
async fn refused_connection_means_cannot_connect() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pebble.socket");
    // A socket file nobody listens on: what a stopped Pebble leaves behind.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let client = Client::new(&socket);
    assert!(!client.can_connect().await);
    assert_connection_error(
        client.services(&[]).await.unwrap_err(),
        "connection refused",
    );
}

#[tokio::test]
async fn container_finds_its_socket_under_the_base_directory() {
    let base = tempfile::tempdir().unwrap();
    let container = Container::with_socket_base("cloudcasa", base.path()).unwrap();
    assert!(!container.can_connect().await, "no Pebble yet");

    let fake = FakePebble::start_at(Container::socket_path(base.path(), "cloudcasa"))
        .await
        .unwrap();
    assert!(container.can_connect().await);
    assert_eq!(
        container.pebble().system_info().await.unwrap().version,
        charm_core::pebble::fake::FAKE_VERSION
    );

    fake.stop();
    assert!(!container.can_connect().await, "Pebble went away");
}

/// A raw HTTP response with a correct length.
fn http_reply(status_line: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status_line}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves each connection with `reply` after reading the request head.
async fn serve_raw(listener: UnixListener, reply: Vec<u8>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let reply = reply.clone();
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            let _ = stream.read(&mut buffer).await;
            let _ = stream.write_all(&reply).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[tokio::test]
async fn malformed_responses_are_protocol_errors_not_panics() {
    let cases = [
        (http_reply("200 OK", "hello"), "invalid JSON"),
        (
            http_reply("200 OK", r#"{"type":"sync","result":7}"#),
            "cannot decode result",
        ),
        (
            http_reply(
                "202 Accepted",
                r#"{"type":"async","status-code":202,"change":"1"}"#,
            ),
            "expected a sync response",
        ),
    ];
    for (reply, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("pebble.socket");
        let server = tokio::spawn(serve_raw(UnixListener::bind(&socket).unwrap(), reply));
        let client = Client::new(&socket);
        assert!(!client.can_connect().await);
        match client.system_info().await.unwrap_err() {
            Error::Protocol { request, message } => {
                assert_eq!(request, "GET /v1/system-info");
                assert!(
                    message.contains(want),
                    "{message:?} should mention {want:?}"
                );
            }
            other => panic!("expected a protocol error, got {other:?}"),
        }
        server.abort();
    }
}

#[tokio::test]
async fn async_response_without_change_id_is_a_protocol_error() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pebble.socket");
    let reply = http_reply(
        "202 Accepted",
        r#"{"type":"async","status-code":202,"change":""}"#,
    );
    let server = tokio::spawn(serve_raw(UnixListener::bind(&socket).unwrap(), reply));
    let err = Client::new(&socket)
        .start_services(&["web"])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Protocol { message, .. } if message.contains("without a change id")),
        "{err:?}"
    );
    server.abort();
}

#[tokio::test]
async fn connection_closed_without_answer_is_a_connection_error() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pebble.socket");
    let server = tokio::spawn(serve_raw(UnixListener::bind(&socket).unwrap(), Vec::new()));
    let err = Client::new(&socket).system_info().await.unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    server.abort();
}

#[tokio::test]
async fn silent_server_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pebble.socket");
    let listener = UnixListener::bind(&socket).unwrap();
    // Accept and hold connections without answering.
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let client = Client::new(&socket).with_timeout(Duration::from_millis(200));
    match client.system_info().await.unwrap_err() {
        Error::Timeout { what, after } => {
            assert_eq!(what, "GET /v1/system-info");
            assert_eq!(after, Duration::from_millis(200));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    server.abort();
}
