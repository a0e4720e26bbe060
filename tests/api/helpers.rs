//! The test harness: `TestApp::spawn()` starts the real app on 127.0.0.1:0 over a fresh database.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::LazyLock;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use officina::app::{self, AppState};
use officina::audit::AuditCtx;
use officina::auth::domain::{self, Email, Role, TokenKeys};
use officina::auth::repo::{self as users, NewUser};
use officina::config::DatabaseUrl;
use officina::db::{self, Db, OrgId, UserId};
use officina::orgs::repo::{self as orgs, NewOrg};
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::Value;

/// The password of every seeded user; hashed once per test binary (argon2 is slow on purpose).
pub const PASSWORD: &str = "correct-horse-battery";
static PASSWORD_HASH: LazyLock<String> = LazyLock::new(|| domain::hash_password(PASSWORD).unwrap());

/// A port free at this instant on 127.0.0.1, for a process that binds it itself.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh database: a temporary SQLite file, or a new PostgreSQL database dropped afterwards.
pub struct TestDb {
    pub url: DatabaseUrl,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    pub fn new() -> Self {
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|s| !s.is_empty())
        {
            Some(base) => {
                let name = format!("officina_t_{}", uuid::Uuid::now_v7().simple());
                let mut admin =
                    diesel::PgConnection::establish(&base).expect("connect to TEST_DATABASE_URL");
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                let (prefix, _) = base
                    .rsplit_once('/')
                    .expect("TEST_DATABASE_URL has a database name");
                TestDb {
                    url: DatabaseUrl::Postgres(format!("{prefix}/{name}")),
                    _dir: None,
                    pg_admin: Some((base, name)),
                }
            }
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("officina.db");
                TestDb {
                    url: DatabaseUrl::Sqlite(path),
                    _dir: Some(dir),
                    pg_admin: None,
                }
            }
        }
    }

    /// The URL as `DATABASE_URL` would give it.
    pub fn env_url(&self) -> String {
        match &self.url {
            DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            DatabaseUrl::Postgres(u) => u.clone(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, name)) = &self.pg_admin
            && let Ok(mut admin) = diesel::PgConnection::establish(base)
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// An organization seeded for a test, with one user (and token) per role.
pub struct Org {
    pub id: OrgId,
    pub users: HashMap<Role, UserId>,
    pub tokens: HashMap<Role, String>,
    pub emails: HashMap<Role, String>,
}

impl Org {
    pub fn token(&self, role: Role) -> &str {
        &self.tokens[&role]
    }
    pub fn user(&self, role: Role) -> UserId {
        self.users[&role]
    }
}

pub struct TestApp {
    pub address: String,
    pub db: Db,
    pub keys: TokenKeys,
    pub secret: Vec<u8>,
    pub client: reqwest::Client,
    pub test_db: TestDb,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Res {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    /// Asserts an RFC 9457 problem with this status.
    pub fn assert_problem(&self, status: u16) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        assert!(
            self.content_type().starts_with("application/problem+json"),
            "not problem+json: {}",
            self.content_type()
        );
        assert_eq!(self.body["status"], status);
        assert!(self.body["type"].is_string() && self.body["title"].is_string());
    }
    /// The `field` of every error of a 422.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        let test_db = TestDb::new();
        let db = Db::connect(&test_db.url).expect("connect test database");
        {
            let mut conn = db.conn().unwrap();
            db::run_migrations(&mut conn).unwrap();
        }
        let secret = domain::random_secret(32).into_bytes();
        let keys = TokenKeys::new(&secret, 3600);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(db.clone(), keys.clone());
        let server = app::serve(listener, state, Some(2)).unwrap();
        tokio::spawn(server);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestApp {
            address,
            db,
            keys,
            secret,
            client,
            test_db,
        }
    }

    /// Creates an organization with one user per role and a valid token for each.
    pub async fn seed_org(&self, name: &str) -> Org {
        let name = name.to_owned();
        let tag = uuid::Uuid::now_v7().simple().to_string();
        let db = self.db.clone();
        let (org_id, created) = tokio::task::spawn_blocking(move || {
            let mut conn = db.conn().unwrap();
            db::write_tx(&mut conn, |c| {
                let org = orgs::create_org(c, NewOrg::parse(&name, None, None)?)?;
                let mut created = Vec::new();
                for role in Role::ALL {
                    let email = format!("{role}-{tag}@example.org");
                    let user = users::create_user(
                        c,
                        &AuditCtx::cli(org.id),
                        NewUser {
                            email: Email::parse(&email).unwrap(),
                            name: format!("Test {role}"),
                            role,
                            password_hash: PASSWORD_HASH.clone(),
                        },
                    )?;
                    created.push((role, user.id, email));
                }
                Ok::<_, officina::error::AppError>((org.id, created))
            })
            .unwrap()
        })
        .await
        .unwrap();
        let now = chrono::Utc::now().timestamp();
        let mut org = Org {
            id: org_id,
            users: HashMap::new(),
            tokens: HashMap::new(),
            emails: HashMap::new(),
        };
        for (role, id, email) in created {
            let (token, _) = self.keys.issue(id, org_id, role, now).unwrap();
            org.users.insert(role, id);
            org.tokens.insert(role, token);
            org.emails.insert(role, email);
        }
        org
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Res {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.address, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        read(req.send().await.expect("request failed")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Res {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Res {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Res {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    /// `org`'s user of `role` deactivated by its admin (`PATCH /users/{id}`, asserted `200`).
    pub async fn disable(&self, org: &Org, role: Role) {
        let res = self
            .patch(
                &format!("/api/v1/users/{}", org.user(role)),
                org.token(Role::Admin),
                &serde_json::json!({"active": false}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
    }

    /// Sends raw bytes with a content type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Res {
        let mut req = self
            .client
            .post(format!("{}{}", self.address, path))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        read(req.send().await.expect("request failed")).await
    }
}

pub async fn read(res: reqwest::Response) -> Res {
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Res {
        status,
        headers,
        body,
        text,
    }
}

/// A step of [`statements_of`].
pub type Step = Box<dyn FnOnce(&mut db::DbConn) + Send>;

/// Runs each step on one fresh connection to the app's database (nothing prepared yet) and
/// answers the statements it ran (their SQL, without the transaction's own) and those diesel
/// prepared and cached on the way, one pair of lists per step.
pub async fn statements_of(app: &TestApp, steps: Vec<Step>) -> Vec<(Vec<String>, Vec<String>)> {
    use diesel::Connection;
    use diesel::connection::InstrumentationEvent;
    use std::sync::{Arc, Mutex};
    let url = app.test_db.url.clone();
    tokio::task::spawn_blocking(move || {
        let seen: Arc<Mutex<(Vec<String>, Vec<String>)>> = Arc::default();
        let mut conn = officina::db::connect_once(&url).unwrap();
        let log = seen.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            let mut log = log.lock().unwrap();
            match event {
                InstrumentationEvent::StartQuery { query, .. } => {
                    let sql = query.to_string();
                    let sql = sql.split(" -- binds: ").next().unwrap_or_default();
                    let transaction = ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"];
                    if !transaction.iter().any(|t| sql.starts_with(t)) {
                        log.0.push(sql.to_owned());
                    }
                }
                InstrumentationEvent::CacheQuery { sql, .. } => log.1.push(sql.to_owned()),
                _ => {}
            }
        });
        steps
            .into_iter()
            .map(|step| {
                step(&mut conn);
                std::mem::take(&mut *seen.lock().unwrap())
            })
            .collect()
    })
    .await
    .unwrap()
}

/// The statements of a second step of [`statements_of`] were all prepared by the first, which
/// prepared something, and the second prepared nothing more.
pub fn assert_prepared_once(
    first: &(Vec<String>, Vec<String>),
    second: &(Vec<String>, Vec<String>),
) {
    assert!(
        !first.1.is_empty(),
        "the first step prepares its statements"
    );
    assert!(
        second.1.is_empty(),
        "the second step prepared {:?}",
        second.1
    );
    for sql in &second.0 {
        assert!(first.1.contains(sql), "run but not prepared before: {sql}");
    }
}
