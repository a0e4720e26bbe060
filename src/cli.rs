//! The `officina` command: parses flags and environment, then runs one subcommand.
//! Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::Parser;
use diesel::prelude::*;

use crate::app::{self, AppState};
use crate::audit::AuditCtx;
use crate::auth::domain::{self, Email, Role, TokenKeys, check_password};
use crate::auth::repo::{self as users, NewUser};
use crate::config::{
    Cli, CodesCommand, Command, Config, ConfigError, OrgCommand, UserCommand, parse_bind,
};
use crate::db::pipeline::NotUsed;
use crate::db::schema::instance_settings::dsl as s;
use crate::db::{self, Db, DbConn, OrgId};
use crate::error::AppError;
use crate::orgs::repo::{self as orgs, NewOrg};

/// A failure of a command, with the exit code it maps to.
#[derive(Debug)]
pub enum CliError {
    Config(ConfigError),
    Runtime(String),
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

impl From<AppError> for CliError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Validation(errs) => Self::Runtime(
                errs.iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => Self::Runtime(other.to_string()),
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Config(e)) => {
            eprintln!("officina: {e}");
            ExitCode::from(2)
        }
        Err(CliError::Runtime(msg)) => {
            eprintln!("officina: {msg}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    let config = Config::from_args(&cli.global)?;
    if let Command::Openapi = cli.command {
        print!("{}", crate::openapi::document_json());
        return Ok(());
    }
    // Kept until the command ends: dropping it writes the log lines still buffered.
    let _logs = crate::telemetry::init(config.log_format, config.log_flush);
    match cli.command {
        Command::Openapi => Ok(()),
        Command::Migrate => {
            let mut conn = one_conn(&config)?;
            let n = db::run_migrations(&mut conn)?;
            println!("{n} migration(s) applied; the schema is current");
            let rebuilt = crate::lab::documents::rebuild_at_start(&mut conn);
            if rebuilt > 0 {
                println!("{rebuilt} specimen view(s) rewritten in this build's format");
            }
            Ok(())
        }
        Command::Serve { bind } => {
            let addr = parse_bind(bind.as_deref())?;
            let mut conn = ready_conn(&config)?;
            crate::lab::documents::rebuild_at_start(&mut conn);
            drop(conn);
            serve(&config, open_db(&config)?, addr)
        }
        Command::Demo { bind } => {
            let addr = parse_bind(bind.as_deref())?;
            let logins = crate::demo::seed(&mut ready_conn(&config)?)?;
            crate::demo::print_logins(&logins, addr);
            serve(&config, open_db(&config)?, addr)
        }
        Command::Codes {
            command: CodesCommand::Load,
        } => {
            let mut conn = ready_conn(&config)?;
            let summary = crate::coding::cli::load_shipped(&mut conn, true)?;
            println!("{summary}");
            Ok(())
        }
        Command::Codes {
            command: CodesCommand::Import { org, system, file },
        } => {
            let org: OrgId = org.trim().parse().map_err(|_| {
                CliError::Runtime(format!("--org: '{org}' is not an organization id"))
            })?;
            let mut conn = ready_conn(&config)?;
            let summary = crate::coding::cli::import_file(&mut conn, org, &system, &file)?;
            println!("{summary}");
            Ok(())
        }
        Command::Org {
            command: OrgCommand::Create { name, npi, tax_id },
        } => {
            let new = NewOrg::parse(&name, npi.as_deref(), tax_id.as_deref())?;
            let mut conn = ready_conn(&config)?;
            let org = db::write_tx(&mut conn, |c| orgs::create_org(c, new))?;
            println!("{}", org.id);
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Create {
                    org,
                    email,
                    name,
                    role,
                },
        } => {
            let org: OrgId = org.trim().parse().map_err(|_| {
                CliError::Runtime(format!("--org: '{org}' is not an organization id"))
            })?;
            let password = read_password()?;
            let new = checked_new_user(&email, &name, &role, &password)?;
            let mut conn = ready_conn(&config)?;
            let user = db::write_tx(&mut conn, |c| {
                orgs::get_org(c, org)?
                    .ok_or_else(|| AppError::NotFound(format!("organization {org} not found")))?;
                users::create_user(c, &AuditCtx::cli(org), new)
            })?;
            println!("{}", user.id);
            Ok(())
        }
    }
}

fn checked_new_user(
    email: &str,
    name: &str,
    role: &str,
    password: &str,
) -> Result<NewUser, CliError> {
    let mut problems = Vec::new();
    let email = Email::parse(email)
        .map_err(|e| problems.push(format!("--email: {}", e.message)))
        .ok();
    let role = role
        .parse::<Role>()
        .map_err(|e| problems.push(format!("--role: {}", e.message)))
        .ok();
    if name.trim().is_empty() {
        problems.push("--name: is required".into());
    }
    if let Err(e) = check_password(password) {
        problems.push(format!("password: {}", e.message));
    }
    match (email, role) {
        (Some(email), Some(role)) if problems.is_empty() => {
            let password_hash = domain::hash_password(password).map_err(CliError::Runtime)?;
            Ok(NewUser {
                email,
                name: name.trim().to_owned(),
                role,
                password_hash,
            })
        }
        _ => Err(CliError::Runtime(problems.join("; "))),
    }
}

/// The password from `OFFICINA_PASSWORD`, else one line of standard input.
fn read_password() -> Result<String, CliError> {
    if let Ok(p) = std::env::var("OFFICINA_PASSWORD")
        && !p.is_empty()
    {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Runtime(format!("cannot read the password from stdin: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Opens the pool; a connection failure names `DATABASE_URL` (exit 2).
pub fn open_db(config: &Config) -> Result<Db, CliError> {
    let db = Db::connect(&config.database).map_err(|e| {
        CliError::Config(ConfigError {
            setting: "DATABASE_URL",
            message: format!("{} ({})", e, config.database.redacted()),
        })
    })?;
    Ok(if config.pg_pipeline {
        db
    } else {
        db.without_pipeline()
    })
}

/// One connection (no pool); a connection failure names `DATABASE_URL` (exit 2).
pub fn one_conn(config: &Config) -> Result<DbConn, CliError> {
    db::connect_once(&config.database).map_err(|e| {
        CliError::Config(ConfigError {
            setting: "DATABASE_URL",
            message: format!("{} ({})", e, config.database.redacted()),
        })
    })
}

/// One connection with every migration applied.
pub fn ready_conn(config: &Config) -> Result<DbConn, CliError> {
    let mut conn = one_conn(config)?;
    let n = db::run_migrations(&mut conn)?;
    if n > 0 {
        tracing::info!(migrations = n, "applied database migrations");
    }
    Ok(conn)
}

/// The JWT secret: the configured one, else one generated on first start and kept in the
/// database (shared by every instance on the same database, and surviving restarts).
pub fn jwt_secret(config: &Config, conn: &mut DbConn) -> Result<Vec<u8>, AppError> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.clone());
    }
    let candidate = domain::random_secret(32);
    crate::on_inner!(conn, |c| diesel::insert_into(s::instance_settings)
        .values((s::name.eq("jwt_secret"), s::value.eq(&candidate)))
        .on_conflict_do_nothing()
        .execute(c))?;
    let stored: String = s::instance_settings
        .filter(s::name.eq("jwt_secret"))
        .select(s::value)
        .first(conn)?;
    Ok(stored.into_bytes())
}

fn serve(config: &Config, db: Db, addr: std::net::SocketAddr) -> Result<(), CliError> {
    let secret = {
        let mut conn = db.conn()?;
        jwt_secret(config, &mut conn)?
    };
    let listener = app::bind(addr).map_err(|message| {
        CliError::Config(ConfigError {
            setting: "OFFICINA_BIND",
            message,
        })
    })?;
    tracing::info!(%addr, database = %config.database.redacted(), "officina listening; API docs at /docs/");
    match db.pipeline_status() {
        Ok(()) => tracing::info!("PostgreSQL reads by key: one pipelined connection per worker"),
        Err(NotUsed::Sqlite) => {}
        Err(why) => tracing::info!(reason = %why, "PostgreSQL reads by key: on the pool only"),
    }
    let _ = std::io::stdout().flush();
    let state = AppState::new(db, TokenKeys::new(&secret, config.token_ttl_secs));
    actix_web::rt::System::new().block_on(async move {
        let server = app::serve(listener, state, None).map_err(CliError::from)?;
        server
            .await
            .map_err(|e| CliError::Runtime(format!("server stopped: {e}")))
    })
}
