//! The `officina` binary: commands operators and scripts depend on.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::TestDb;

/// The `officina` binary on `db`, with no password, bind address or JWT secret from the
/// environment.
pub fn officina(db: &TestDb) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_officina"));
    cmd.env("DATABASE_URL", db.env_url())
        .env_remove("OFFICINA_PASSWORD")
        .env_remove("OFFICINA_BIND")
        .env_remove("OFFICINA_JWT_SECRET")
        .env("RUST_LOG", "warn");
    cmd
}

#[test]
fn org_create_then_user_create_print_ids() {
    let db = TestDb::new();
    let out = officina(&db).args(["migrate"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = officina(&db)
        .args([
            "org",
            "create",
            "--name",
            "Harbor Dental",
            "--npi",
            "1234567893",
            "--tax-id",
            "12-3456789",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let org = String::from_utf8(out.stdout).unwrap();
    let org = org.trim();
    assert!(
        uuid::Uuid::parse_str(org).is_ok(),
        "stdout is the id alone: {org:?}"
    );

    // Password from the environment.
    let out = officina(&db)
        .args([
            "user",
            "create",
            "--org",
            org,
            "--email",
            "a@harbor.example",
            "--name",
            "Ann",
            "--role",
            "admin",
        ])
        .env("OFFICINA_PASSWORD", "a-long-enough-password")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(uuid::Uuid::parse_str(String::from_utf8(out.stdout).unwrap().trim()).is_ok());

    // Password from one line of stdin.
    let mut child = officina(&db)
        .args([
            "user",
            "create",
            "--org",
            org,
            "--email",
            "b@harbor.example",
            "--name",
            "Bo",
            "--role",
            "biller",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"another-long-password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn org_create_refuses_a_bad_npi() {
    let db = TestDb::new();
    let out = officina(&db)
        .args(["org", "create", "--name", "X", "--npi", "1234567890"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("npi"));
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_configuration_is_one_line_naming_the_setting_and_exit_2() {
    let db = TestDb::new();
    let cases: [(&str, &str, &[&str]); 6] = [
        ("OFFICINA_BIND", "not-an-address", &["serve"]),
        ("DATABASE_URL", "mysql://localhost/x", &["migrate"]),
        ("OFFICINA_JWT_SECRET", "short", &["migrate"]),
        ("OFFICINA_LOG_FORMAT", "xml", &["migrate"]),
        ("OFFICINA_LOG_FLUSH_MS", "soon", &["migrate"]),
        ("OFFICINA_PG_PIPELINE", "maybe", &["migrate"]),
    ];
    for (var, value, args) in cases {
        let out = officina(&db).args(args).env(var, value).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{var}: {stderr}");
        assert!(stderr.contains(var), "{var}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}

#[test]
fn openapi_command_prints_the_document() {
    let db = TestDb::new();
    let out = officina(&db).arg("openapi").output().unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}

/// A plain `GET` on the server's port; the status line's code, or `None` when it is not up.
fn get_status(port: u16, path: &str) -> Option<u16> {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split(' ').nth(1)?.parse().ok()
}

/// `officina serve` with JSON request logs to a file, killed if the test ends before it stops.
struct Serving {
    child: std::process::Child,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl Serving {
    fn start(db: &TestDb, flush_ms: &str) -> Serving {
        use std::time::{Duration, Instant};
        let port = crate::helpers::free_port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = officina(db)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env(
                "OFFICINA_JWT_SECRET",
                "log-test-signing-secret-0123456789abcdef",
            )
            .env("OFFICINA_LOG_FORMAT", "json")
            .env("OFFICINA_LOG_FLUSH_MS", flush_ms)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let mut serving = Serving { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        while get_status(port, "/health/live") != Some(200) {
            let exited = serving.child.try_wait().unwrap();
            assert!(exited.is_none(), "serve exited: {}", serving.logged());
            assert!(Instant::now() < deadline, "serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        serving
    }

    fn logged(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap()
    }

    /// SIGTERM, then the exit; the log's lines, each parsed.
    fn stop(mut self) -> Vec<serde_json::Value> {
        use std::time::{Duration, Instant};
        let signalled = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(signalled.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "serve did not stop");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status}");
        self.logged()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn logs_request(lines: &[serde_json::Value], route: &str, status: u16) -> bool {
    lines
        .iter()
        .any(|l| l["fields"]["route"] == route && l["fields"]["status"] == status)
}

/// Request lines are buffered (`telemetry`) but reach stderr while the server runs.
#[test]
fn serve_writes_its_request_log_while_running() {
    use std::time::{Duration, Instant};
    let db = TestDb::new();
    assert!(officina(&db).args(["migrate"]).status().unwrap().success());
    let serving = Serving::start(&db, "100");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !serving.logged().contains(r#""route":"/health/live""#) {
        assert!(
            Instant::now() < deadline,
            "no request line: {}",
            serving.logged()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let lines = serving.stop();
    assert!(logs_request(&lines, "/health/live", 200));
}

/// Lines still buffered when the server stops on a signal are written before it exits.
#[test]
fn serve_writes_the_buffered_request_lines_when_it_stops() {
    let db = TestDb::new();
    assert!(officina(&db).args(["migrate"]).status().unwrap().success());
    // Lines may wait a minute: only the stop can write them within this test.
    let serving = Serving::start(&db, "60000");
    assert_eq!(get_status(serving.port, "/api/v1/specimens"), Some(401));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !serving.logged().contains("/api/v1/specimens"),
        "written before the stop: {}",
        serving.logged()
    );
    let lines = serving.stop();
    assert!(logs_request(&lines, "/api/v1/specimens", 401), "{lines:?}");
}
