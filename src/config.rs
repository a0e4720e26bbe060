//! Typed configuration: command-line flags with environment fallbacks (clap), checked once at
//! start-up. A bad setting is reported as one line naming the setting, and the process exits 2.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file (created when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection string, kept as given (it may hold a password: never log it).
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses `DATABASE_URL`: unset → `{data_dir}/officina.db`; `sqlite://path`, `sqlite:path` or a
    /// plain path → SQLite; `postgres://…` or `postgresql://…` → PostgreSQL.
    pub fn parse(raw: Option<&str>, data_dir: &Path) -> Result<Self, String> {
        let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(Self::Sqlite(data_dir.join("officina.db")));
        };
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(raw.to_owned()));
        }
        let path = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .unwrap_or(raw);
        if path.is_empty() {
            return Err("an sqlite URL needs a file path, e.g. sqlite://officina.db".into());
        }
        if path == ":memory:" || path.contains("mode=memory") {
            return Err(
                "an in-memory SQLite database is one database per pooled connection; use a file path"
                    .into(),
            );
        }
        if let Some((scheme, _)) = raw.split_once("://")
            && scheme != "sqlite"
        {
            return Err(format!(
                "unsupported scheme '{scheme}://'; use postgres://…, sqlite://PATH or a file path"
            ));
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    /// A description safe to log (no credentials).
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(p) => format!("sqlite {}", p.display()),
            Self::Postgres(url) => {
                let host = url
                    .split_once('@')
                    .map(|(_, rest)| rest)
                    .or_else(|| url.split_once("://").map(|(_, rest)| rest))
                    .unwrap_or("");
                format!("postgres {host}")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Settings shared by every command.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Database: unset → ./officina.db (SQLite); sqlite://PATH, a file path, or postgres://…
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Directory for the default SQLite file (default: the current directory).
    #[arg(long, env = "OFFICINA_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// JWT signing secret (at least 32 bytes). Unset → generated once and kept in the database.
    #[arg(
        long,
        env = "OFFICINA_JWT_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub jwt_secret: Option<String>,
    /// Access token lifetime in seconds (60 to 86400).
    #[arg(long, env = "OFFICINA_TOKEN_TTL_SECS", global = true)]
    pub token_ttl_secs: Option<String>,
    /// Log format: pretty or json.
    #[arg(long, env = "OFFICINA_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    /// Longest wait of a log line below WARN in memory, in milliseconds (0 to 60000; 0 writes
    /// each line at once).
    #[arg(long, env = "OFFICINA_LOG_FLUSH_MS", global = true)]
    pub log_flush_ms: Option<String>,
    /// PostgreSQL reads by key (and a patient's page of specimens) through one pipelined
    /// connection per worker: on or off (default on; used only where the URL allows it, see the
    /// README).
    #[arg(long, env = "OFFICINA_PG_PIPELINE", global = true)]
    pub pg_pipeline: Option<String>,
}

#[derive(Debug, Parser)]
#[command(
    name = "officina",
    version,
    about = "Back office for medical and dental practices"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations and serve the HTTP API.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, env = "OFFICINA_BIND")]
        bind: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage organizations (practices).
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Seed a demo practice with one user per role, print the logins, then serve.
    Demo {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, env = "OFFICINA_BIND")]
        bind: Option<String>,
    },
    /// Print the OpenAPI document (JSON) on stdout.
    Openapi,
    /// Load or import code sets.
    Codes {
        #[command(subcommand)]
        command: CodesCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum CodesCommand {
    /// Load the shipped code sets (ICD-10-CM FY2026, place of service), with a progress bar.
    Load,
    /// Import a practice's licensed code table (CSV) for one organization.
    Import {
        /// Organization id.
        #[arg(long)]
        org: String,
        /// Code system: cpt, cdt, hcpcs or loinc.
        #[arg(long)]
        system: String,
        /// The CSV file.
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization; prints its id alone on stdout.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        npi: Option<String>,
        #[arg(long = "tax-id")]
        tax_id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password comes from OFFICINA_PASSWORD or one line on stdin. Prints the id.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: String,
    },
}

/// A configuration problem: which setting, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub setting: &'static str,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "configuration error: {}: {}", self.setting, self.message)
    }
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseUrl,
    pub data_dir: PathBuf,
    pub jwt_secret: Option<Vec<u8>>,
    pub token_ttl_secs: i64,
    pub log_format: LogFormat,
    /// How long log lines below WARN may wait in memory (`telemetry`); zero: not at all.
    pub log_flush: Duration,
    /// PostgreSQL reads by key through each worker's pipelined connection (`db::pipeline`).
    pub pg_pipeline: bool,
}

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_TOKEN_TTL_SECS: i64 = 3600;
pub const DEFAULT_LOG_FLUSH_MS: u64 = 100;

impl Config {
    pub fn from_args(args: &GlobalArgs) -> Result<Self, ConfigError> {
        let data_dir = args.data_dir.clone().unwrap_or_else(|| PathBuf::from("."));
        if args.data_dir.is_some() && !data_dir.is_dir() {
            return Err(ConfigError {
                setting: "OFFICINA_DATA_DIR",
                message: format!("'{}' is not an existing directory", data_dir.display()),
            });
        }
        let database =
            DatabaseUrl::parse(args.database_url.as_deref(), &data_dir).map_err(|message| {
                ConfigError {
                    setting: "DATABASE_URL",
                    message,
                }
            })?;
        let jwt_secret = match args.jwt_secret.as_deref() {
            None | Some("") => None,
            Some(s) if s.len() < 32 => {
                return Err(ConfigError {
                    setting: "OFFICINA_JWT_SECRET",
                    message: format!("must be at least 32 bytes long (got {})", s.len()),
                });
            }
            Some(s) => Some(s.as_bytes().to_vec()),
        };
        let token_ttl_secs = number_in(
            args.token_ttl_secs.as_deref(),
            DEFAULT_TOKEN_TTL_SECS,
            60..=86_400,
            "OFFICINA_TOKEN_TTL_SECS",
            "a number of seconds between 60 and 86400",
        )?;
        let log_format = match args
            .log_format
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("") | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError {
                    setting: "OFFICINA_LOG_FORMAT",
                    message: format!("'{other}' is not one of: pretty, json"),
                });
            }
        };
        let log_flush_ms = number_in(
            args.log_flush_ms.as_deref(),
            DEFAULT_LOG_FLUSH_MS,
            0..=60_000,
            "OFFICINA_LOG_FLUSH_MS",
            "a number of milliseconds up to 60000",
        )?;
        let pg_pipeline = match args
            .pg_pipeline
            .as_deref()
            .map(|s| s.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("") | Some("on") => true,
            Some("off") => false,
            Some(other) => {
                return Err(ConfigError {
                    setting: "OFFICINA_PG_PIPELINE",
                    message: format!("'{other}' is not one of: on, off"),
                });
            }
        };
        Ok(Self {
            database,
            data_dir,
            jwt_secret,
            token_ttl_secs,
            log_format,
            log_flush: Duration::from_millis(log_flush_ms),
            pg_pipeline,
        })
    }
}

/// A whole number setting: `default` when unset or empty, else a number (spaces around it
/// allowed) within `range`; otherwise the error names `setting` and says the value is not `what`.
fn number_in<T>(
    raw: Option<&str>,
    default: T,
    range: std::ops::RangeInclusive<T>,
    setting: &'static str,
    what: &str,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd,
{
    match raw {
        None | Some("") => Ok(default),
        Some(s) => match s.trim().parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ConfigError {
                setting,
                message: format!("'{s}' is not {what}"),
            }),
        },
    }
}

/// Parses a listen address (`OFFICINA_BIND` / `--bind`).
pub fn parse_bind(raw: Option<&str>) -> Result<SocketAddr, ConfigError> {
    let raw = raw
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_BIND);
    raw.parse().map_err(|_| ConfigError {
        setting: "OFFICINA_BIND",
        message: format!("'{raw}' is not an address like 127.0.0.1:8080"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_forms() {
        let dir = Path::new("/data");
        assert_eq!(
            DatabaseUrl::parse(None, dir),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("/data/officina.db")))
        );
        assert_eq!(
            DatabaseUrl::parse(Some("sqlite://x.db"), dir),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("x.db")))
        );
        assert_eq!(
            DatabaseUrl::parse(Some("/tmp/a.db"), dir),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("/tmp/a.db")))
        );
        assert!(matches!(
            DatabaseUrl::parse(Some("postgres://u:p@h/db"), dir),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(DatabaseUrl::parse(Some("mysql://h/db"), dir).is_err());
        assert!(DatabaseUrl::parse(Some(":memory:"), dir).is_err());
    }

    #[test]
    fn redaction_hides_credentials() {
        let url = DatabaseUrl::Postgres("postgres://user:secret@db:5432/x".into());
        assert_eq!(url.redacted(), "postgres db:5432/x");
    }

    #[test]
    fn bind_is_checked() {
        assert!(parse_bind(None).is_ok());
        let err = parse_bind(Some("nonsense")).unwrap_err();
        assert_eq!(err.setting, "OFFICINA_BIND");
    }
}
