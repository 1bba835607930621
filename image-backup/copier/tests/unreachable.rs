//! Registries that cannot be reached: the error names the cause, and comes within one step
//! timeout (a hung registry is not asked again and again while the copy holds its slot).

use std::time::{Duration, Instant};

use image_backup_copier::{
    Cause, ClientOptions, Copier, CopyOptions, Error, ErrorKind, NoProgress, Reference, RetryPolicy,
};

const STEP: Duration = Duration::from_secs(1);

fn copier() -> Copier {
    Copier::new(CopyOptions {
        client: ClientOptions {
            connect_timeout: STEP,
            read_timeout: STEP,
            // Retries of refused connections are quick and few; timeouts are never retried.
            retry: RetryPolicy {
                max_attempts: 3,
                initial_backoff: Duration::from_millis(50),
                ..RetryPolicy::default()
            },
            ..ClientOptions::default()
        },
        ..CopyOptions::default()
    })
    .unwrap()
}

async fn copy_from(registry: &str) -> (Error, Duration) {
    let source = Reference::parse(&format!("{registry}/app:1")).unwrap();
    // Never reached: the source fails first.
    let destination = Reference::parse("127.0.0.1:9/backup/app:1").unwrap();
    let started = Instant::now();
    let error = copier()
        .copy(&source, &destination, NoProgress)
        .await
        .unwrap_err();
    (error, started.elapsed())
}

#[tokio::test]
async fn a_registry_that_accepts_but_never_answers_times_out_after_one_step() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = listener.accept().await {
            held.push(connection);
        }
    });
    let (error, took) = copy_from(&addr.to_string()).await;
    let message = error.to_string();
    assert!(
        message.contains("timed out after 1s waiting for data"),
        "{message}"
    );
    assert!(
        message.contains(&addr.to_string()),
        "names the URL: {message}"
    );
    assert!(!message.contains("error sending request"), "{message}");
    assert!(matches!(
        &error,
        Error::Transport {
            cause: Cause::TimedOut { .. },
            ..
        }
    ));
    assert!(error.is_timeout() && error.is_transient());
    assert_eq!(error.kind(), ErrorKind::Transfer);
    assert_eq!(error.host(), Some(addr.to_string()));
    // One step, not one per retry (3 tries would take 3 s and more).
    assert!(took < STEP * 2, "took {took:?}");
}

#[tokio::test]
async fn a_closed_port_is_connection_refused() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let registry = format!("127.0.0.1:{port}");
    let (error, took) = copy_from(&registry).await;
    let message = error.to_string();
    assert!(message.ends_with(": connection refused"), "{message}");
    assert!(matches!(
        &error,
        Error::Transport {
            cause: Cause::Refused,
            ..
        }
    ));
    assert_eq!(error.host(), Some(registry));
    assert!(took < STEP, "took {took:?}");
}

#[tokio::test]
async fn an_error_status_shows_the_registrys_error_code() {
    use axum::http::StatusCode;
    let app = axum::Router::new().fallback(|| async {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"errors":[{"code":"UNKNOWN","message":"storage backend unreachable"}]}"#,
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    // A HEAD has no body: the status says what it can.
    let (error, _) = copy_from(&addr.to_string()).await;
    let message = error.to_string();
    assert!(
        message.ends_with("registry answered HTTP 500 (Internal Server Error)"),
        "{message}"
    );
    assert!(error.is_transient() && !error.is_timeout());

    // Other requests show the registry's error codes instead of its JSON.
    let client = image_backup_copier::registry::Client::new(ClientOptions {
        retry: RetryPolicy::none(),
        ..ClientOptions::default()
    })
    .unwrap();
    let repo = image_backup_copier::registry::Repository {
        registry: addr.to_string(),
        name: "app".into(),
    };
    let digest = image_backup_copier::Digest::sha256(b"layer");
    let Err(error) = client.get_blob(&repo, &digest).await else {
        panic!("a 500 is an error");
    };
    let message = error.to_string();
    assert!(
        message.contains(
            "registry answered HTTP 500 (Internal Server Error): UNKNOWN (storage backend unreachable)"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn a_destination_that_stops_reading_an_upload_times_out_after_one_step() {
    use axum::http::{Method, StatusCode, header};
    use image_backup_copier::testing::{TestImage, TestRegistry, push_image, test_client};
    let source = TestRegistry::start();
    let image = TestImage::random(&[200_000], None);
    let src = source.reference("app:1");
    push_image(&test_client(&[&source]), &src, &image)
        .await
        .unwrap();

    // Opens upload sessions, then never reads a body nor answers.
    let app = axum::Router::new().fallback(|method: Method| async move {
        match method {
            Method::POST => Ok((
                StatusCode::ACCEPTED,
                [(header::LOCATION, "/v2/backup/app/blobs/uploads/1")],
            )),
            Method::PUT | Method::PATCH => std::future::pending().await,
            _ => Err(StatusCode::NOT_FOUND),
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let destination = Reference::parse(&format!("{addr}/backup/app:1")).unwrap();
    let started = Instant::now();
    let error = copier()
        .copy(&src, &destination, NoProgress)
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("timed out after 1s sending data"),
        "{message}"
    );
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(error.host(), Some(addr.to_string()));
    let took = started.elapsed();
    assert!(took < STEP * 3, "took {took:?}");
}
