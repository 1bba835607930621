//! `TestRegistry`: Debian's `docker-registry` (distribution v2) on a free loopback port, with
//! its storage in a temporary directory, killed when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::auth::Credentials;
use crate::reference::Reference;

const INSTALL_HINT: &str = "docker-registry (distribution v2) is needed for this test: \
    install it with `apt-get install -y docker-registry` (or set DOCKER_REGISTRY_BIN)";

/// A running registry. Killed (and its storage deleted) on drop.
pub struct TestRegistry {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    basic_auth: Option<(String, String)>,
}

/// Options for [`TestRegistry`].
#[derive(Default)]
pub struct TestRegistryBuilder {
    basic_auth: Option<(String, String)>,
    /// Test override of the binary lookup (`Some(None)`: pretend it is not installed).
    #[cfg(test)]
    binary: Option<Option<PathBuf>>,
}

/// One line of the registry's access log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessLogEntry {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// Response body bytes.
    pub bytes: u64,
}

impl TestRegistryBuilder {
    /// Require HTTP basic auth (an htpasswd file with a bcrypt hash).
    pub fn basic_auth(mut self, username: &str, password: &str) -> Self {
        self.basic_auth = Some((username.to_owned(), password.to_owned()));
        self
    }

    /// Starts the registry; panics (failing the test) with install instructions when
    /// `docker-registry` is missing.
    pub fn start(self) -> TestRegistry {
        match self.try_start() {
            Ok(registry) => registry,
            Err(message) => panic!("{message}"),
        }
    }

    pub fn try_start(self) -> Result<TestRegistry, String> {
        #[cfg(test)]
        let binary = self.binary.clone().unwrap_or_else(registry_binary);
        #[cfg(not(test))]
        let binary = registry_binary();
        let binary = binary.ok_or_else(|| INSTALL_HINT.to_owned())?;
        let dir = tempfile::Builder::new()
            .prefix("test-registry-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp dir: {e}"))?;
        if let Some((user, password)) = &self.basic_auth {
            let hash = bcrypt::hash(password, 4).map_err(|e| format!("bcrypt: {e}"))?;
            std::fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n"))
                .map_err(|e| format!("cannot write htpasswd: {e}"))?;
        }
        let mut registry = TestRegistry {
            child: None,
            dir,
            port: 0,
            basic_auth: self.basic_auth,
        };
        // Another process may take the port between our probe and the registry's bind: retry.
        let mut last_error = String::new();
        for _ in 0..5 {
            registry.port = free_port()?;
            match registry.spawn(&binary) {
                Ok(()) => return Ok(registry),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }
}

impl TestRegistry {
    /// An anonymous registry. Panics with install instructions if `docker-registry` is absent.
    pub fn start() -> TestRegistry {
        TestRegistryBuilder::default().start()
    }

    pub fn builder() -> TestRegistryBuilder {
        TestRegistryBuilder::default()
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `<host>/<path>` parsed, e.g. `registry.reference("a/b:1")`.
    pub fn reference(&self, path: &str) -> Reference {
        let text = format!("{}/{path}", self.host());
        match Reference::parse(&text) {
            Ok(r) => r,
            Err(e) => panic!("bad test reference: {e}"),
        }
    }

    pub fn credentials(&self) -> Option<Credentials> {
        self.basic_auth
            .as_ref()
            .map(|(u, p)| Credentials::basic(u.clone(), p.clone()))
    }

    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Kills the registry process (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the registry again on the same port and storage, after [`TestRegistry::kill`].
    pub fn restart(&mut self) {
        self.kill();
        let binary = registry_binary().unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        if let Err(e) = self.spawn(&binary) {
            panic!("cannot restart the test registry: {e}");
        }
    }

    /// Requests served so far, from the registry's access log.
    pub fn access_log(&self) -> Vec<AccessLogEntry> {
        let text = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        text.lines().filter_map(parse_access_line).collect()
    }

    /// The registry's own log (errors, warnings), for assertions messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    fn spawn(&mut self, binary: &Path) -> Result<(), String> {
        let dir = self.dir.path();
        let auth = if self.basic_auth.is_some() {
            format!(
                "auth:\n  htpasswd:\n    realm: test-registry\n    path: {}\n",
                dir.join("htpasswd").display()
            )
        } else {
            String::new()
        };
        let config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
             \x20 maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: test-registry-secret\n\
             {auth}",
            storage = dir.join("storage").display(),
            port = self.port,
        );
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config).map_err(|e| format!("cannot write config: {e}"))?;
        let open = |name: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))
                .map_err(|e| format!("cannot open {name}: {e}"))
        };
        let mut child = Command::new(binary)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(open("access.log")?)
            .stderr(open("registry.log")?)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "docker-registry exited with {status} on port {}: {}",
                    self.port,
                    self.log()
                ));
            }
            if probe(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "docker-registry did not answer on port {} within 20 s: {}",
                    self.port,
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.kill();
    }
}

fn registry_binary() -> Option<PathBuf> {
    find_binary(
        std::env::var_os("DOCKER_REGISTRY_BIN"),
        std::env::var_os("PATH"),
        &[Path::new("/usr/bin"), Path::new("/usr/sbin")],
    )
}

/// `$DOCKER_REGISTRY_BIN` if it is a file, else `docker-registry` on `PATH` or in `extra`.
fn find_binary(
    explicit: Option<std::ffi::OsString>,
    path: Option<std::ffi::OsString>,
    extra: &[&Path],
) -> Option<PathBuf> {
    if let Some(explicit) = explicit {
        let explicit = PathBuf::from(explicit);
        return explicit.is_file().then_some(explicit);
    }
    std::env::split_paths(&path.unwrap_or_default())
        .chain(extra.iter().map(|p| p.to_path_buf()))
        .map(|dir| dir.join("docker-registry"))
        .find(|candidate| candidate.is_file())
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// Whether `GET /v2/` gets an HTTP answer (200, or 401 with auth).
fn probe(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok()
        && (head.starts_with(b"HTTP/1.0 200")
            || head.starts_with(b"HTTP/1.1 200")
            || head.ends_with(b"401"))
}

/// `127.0.0.1 - - [date] "GET /v2/ HTTP/1.1" 200 2 "" "ua"` (combined log format).
fn parse_access_line(line: &str) -> Option<AccessLogEntry> {
    let request_start = line.find('"')? + 1;
    let request_end = request_start + line[request_start..].find('"')?;
    let mut request = line[request_start..request_end].split(' ');
    let method = request.next()?.to_owned();
    let path = request.next()?.to_owned();
    let mut rest = line[request_end + 1..].split_whitespace();
    let status = rest.next()?.parse().ok()?;
    let bytes = rest.next()?.parse().unwrap_or(0);
    Some(AccessLogEntry {
        method,
        path,
        status,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_combined_log_lines() {
        let e = parse_access_line(
            r#"127.0.0.1 - - [01/Jan/2025:00:00:00 +0000] "HEAD /v2/a/manifests/1 HTTP/1.1" 404 96 "" "image-backup/0.1.0""#,
        )
        .unwrap();
        assert_eq!(
            e,
            AccessLogEntry {
                method: "HEAD".into(),
                path: "/v2/a/manifests/1".into(),
                status: 404,
                bytes: 96
            }
        );
        assert!(parse_access_line("time=... level=info msg=hello").is_none());
    }

    #[test]
    fn missing_registry_fails_with_install_instructions() {
        let none = find_binary(Some("/nonexistent/docker-registry".into()), None, &[]);
        assert_eq!(none, None);
        assert_eq!(find_binary(None, Some("/nonexistent".into()), &[]), None);
        let err = match (TestRegistryBuilder {
            basic_auth: None,
            binary: Some(None),
        })
        .try_start()
        {
            Err(e) => e,
            Ok(_) => panic!("started without a binary"),
        };
        assert!(err.contains("apt-get install -y docker-registry"), "{err}");
    }
}
