//! `officina demo`: a demo practice with one user per role, so a newcomer can log in at once.
//! Seeding is idempotent: a second run finds the practice and prints the same logins.

use diesel::prelude::*;

use crate::audit::AuditCtx;
use crate::auth::domain::{self, Email, Role};
use crate::auth::repo::{self as users, NewUser};
use crate::db::schema::instance_settings::dsl as s;
use crate::db::{self, DbConn, OrgId};
use crate::error::AppError;
use crate::orgs::repo::{self as orgs, NewOrg};

pub const DEMO_ORG_NAME: &str = "Riverside Family Practice & Lab";

/// One printed login.
pub struct Login {
    pub role: Role,
    pub email: String,
    pub password: String,
}

fn demo_login(role: Role) -> Login {
    Login {
        role,
        email: format!("{role}@demo.officina.test"),
        password: format!("officina-demo-{role}"),
    }
}

/// Creates the demo practice (once) and returns its logins.
pub fn seed(conn: &mut DbConn) -> Result<Vec<Login>, AppError> {
    let logins: Vec<Login> = Role::ALL.into_iter().map(demo_login).collect();
    // ICD-10-CM and place of service; skipped when the same editions are loaded already.
    crate::coding::cli::ensure_shipped(conn)?;
    let existing: Option<String> = s::instance_settings
        .filter(s::name.eq("demo_org_id"))
        .select(s::value)
        .first(conn)
        .optional()?;
    if existing.is_some() {
        return Ok(logins);
    }
    // Hash outside the write transaction: argon2 is slow on purpose.
    let hashes = logins
        .iter()
        .map(|l| domain::hash_password(&l.password).map_err(AppError::internal))
        .collect::<Result<Vec<_>, _>>()?;
    db::write_tx(conn, |c| {
        let org = orgs::create_org(
            c,
            NewOrg::parse(DEMO_ORG_NAME, Some("1234567893"), Some("12-3456789"))?,
        )?;
        let mut user_ids = std::collections::HashMap::new();
        for (login, hash) in logins.iter().zip(hashes) {
            let email = Email::parse(&login.email).map_err(|e| AppError::internal(e.message))?;
            let name = format!("Demo {}", capitalised(login.role.as_str()));
            let user = users::create_user(
                c,
                &AuditCtx::cli(org.id),
                NewUser {
                    email,
                    name,
                    role: login.role,
                    password_hash: hash,
                },
            )?;
            user_ids.insert(login.role, user.id);
        }
        seed_fees(c, &AuditCtx::cli(org.id))?;
        crate::demo_practice::seed(c, org.id, &user_ids)?;
        diesel::insert_into(s::instance_settings)
            .values((s::name.eq("demo_org_id"), s::value.eq(org.id.to_string())))
            .execute(c)?;
        Ok::<OrgId, AppError>(org.id)
    })?;
    Ok(logins)
}

/// A standard fee schedule with a few common procedures.
fn seed_fees(conn: &mut DbConn, ctx: &AuditCtx) -> Result<(), AppError> {
    use crate::coding::fees::{self, FeeScheduleKind, NewItem, NewSchedule};
    let standard = fees::create_schedule(
        conn,
        ctx,
        NewSchedule {
            kind: FeeScheduleKind::Standard,
            payer_id: None,
            name: "Standard charges".into(),
            effective_from: None,
            effective_to: None,
        },
    )?;
    for (code, modifier, amount_cents) in [
        ("99213", None, 12_500),
        ("99214", None, 18_500),
        ("99213", Some("25"), 13_500),
        ("85025", None, 3_500),
    ] {
        fees::upsert_item(
            conn,
            ctx,
            standard.id,
            NewItem {
                code: code.into(),
                modifier: modifier.map(str::to_owned),
                amount_cents,
            },
        )?;
    }
    Ok(())
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub fn print_logins(logins: &[Login], addr: std::net::SocketAddr) {
    println!("Officina demo practice \"{DEMO_ORG_NAME}\" is ready. Logins:");
    println!("  {:<10} {:<32} password", "role", "e-mail");
    for l in logins {
        println!("  {:<10} {:<32} {}", l.role.as_str(), l.email, l.password);
    }
    println!();
    println!(
        "API docs: http://{addr}/docs/  (POST /api/v1/auth/token, then Authorize with the token)"
    );
}
