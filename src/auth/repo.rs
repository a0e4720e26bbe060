//! User and token queries. Every query on practice data is scoped by organization; the login
//! lookup by e-mail is the one exception (e-mail is unique across the installation).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::domain::{Email, LOCKOUT_SECS, MAX_FAILED_LOGINS, Role};
use crate::audit::{self, AuditCtx};
use crate::db::schema::{revoked_tokens::dsl as rt, users::dsl as u};
use crate::db::{DbConn, OrgId, UserId, parse_id};
use crate::error::AppError;
use crate::http::Page;

#[derive(Debug, Clone, Queryable)]
struct UserRow {
    id: String,
    org_id: String,
    email: String,
    name: String,
    role: String,
    password_hash: String,
    active: bool,
    failed_logins: i32,
    locked_until: Option<NaiveDateTime>,
    last_login_at: Option<NaiveDateTime>,
    version: i32,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// A user as the rest of the application sees it (no password hash).
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub org_id: OrgId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub locked_until: Option<NaiveDateTime>,
    pub last_login_at: Option<NaiveDateTime>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl UserRow {
    fn into_user(self) -> Result<User, AppError> {
        Ok(User {
            id: parse_id(&self.id)?,
            org_id: parse_id(&self.org_id)?,
            email: self.email,
            name: self.name,
            role: self.role.parse().map_err(|_| {
                AppError::internal(format!("unknown role in database: {}", self.role))
            })?,
            active: self.active,
            locked_until: self.locked_until,
            last_login_at: self.last_login_at,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

pub fn find_user(conn: &mut DbConn, org: OrgId, id: UserId) -> Result<Option<User>, AppError> {
    u::users
        .filter(u::org_id.eq(org.to_string()))
        .filter(u::id.eq(id.to_string()))
        .first::<UserRow>(conn)
        .optional()?
        .map(UserRow::into_user)
        .transpose()
}

/// The user a bearer token names, unless the token (`jti`) was revoked: one query for the
/// extractor every authenticated request runs.
pub fn find_token_user(
    conn: &mut DbConn,
    org: OrgId,
    id: UserId,
    jti: &str,
) -> Result<Option<User>, AppError> {
    crate::db::first_row::<_, UserRow>(
        conn,
        token_user(org.to_string(), id.to_string(), jti.to_owned()),
    )?
    .map(UserRow::into_user)
    .transpose()
}

/// [`find_token_user`] through the worker's pipelined connection (`db::pipeline`); `None` when
/// it finds no user or cannot answer, and the caller reads on the pool.
pub async fn find_token_user_pipelined(
    pipeline: &crate::db::pipeline::Pipeline,
    org: OrgId,
    id: UserId,
    jti: &str,
) -> Option<User> {
    let query = token_user(org.to_string(), id.to_string(), jti.to_owned());
    pipeline.first::<_, UserRow>(query).await?.into_user().ok()
}

/// The query of [`find_token_user`]: the user by key, unless the token was revoked.
#[diesel::dsl::auto_type]
fn token_user(org: String, id: String, jti: String) -> _ {
    let revoked: diesel::dsl::Filter<rt::revoked_tokens, diesel::dsl::Eq<rt::jti, String>> =
        rt::revoked_tokens.filter(rt::jti.eq(jti));
    u::users
        .filter(u::org_id.eq(org))
        .filter(u::id.eq(id))
        .filter(diesel::dsl::not(diesel::dsl::exists(revoked)))
}

/// The check of [`find_token_user`] plus the role check, as one SQL condition that a read puts in
/// its own `WHERE`: true when the token's user exists in the organization, is active, holds one of
/// `roles` and the token (`jti`) was not revoked. It names no column of the outer query, so the
/// database evaluates it once per statement.
///
/// The roles go in as one parameter per role (unused ones repeat the first) rather than
/// as an `IN` list: a statement with a list is prepared again on every call on SQLite (diesel
/// does not cache it), one with a fixed number of parameters is prepared once per connection.
pub fn caller_holds(org: OrgId, id: UserId, jti: String, roles: &[Role]) -> caller_holds_in {
    debug_assert!(roles.len() <= Role::ALL.len(), "a role listed twice");
    // A spare slot repeats a role that may read: `""` would let in a user row whose role is
    // empty, which the pool's check refuses. With no role at all they stay `""`.
    let mut slots = [roles.first().map_or("", |r| r.as_str()); Role::ALL.len()];
    for (slot, role) in slots.iter_mut().zip(roles) {
        *slot = role.as_str();
    }
    let [r1, r2, r3, r4, r5, r6] = slots;
    caller_holds_in(org.to_string(), id.to_string(), jti, r1, r2, r3, r4, r5, r6)
}

/// [`caller_holds`], one parameter per role slot (the form `auto_type` can name); its return type
/// is the condition's type.
#[diesel::dsl::auto_type]
#[allow(clippy::too_many_arguments)]
pub fn caller_holds_in(
    org: String,
    id: String,
    jti: String,
    r1: &'static str,
    r2: &'static str,
    r3: &'static str,
    r4: &'static str,
    r5: &'static str,
    r6: &'static str,
) -> _ {
    let revoked: diesel::dsl::Filter<rt::revoked_tokens, diesel::dsl::Eq<rt::jti, String>> =
        rt::revoked_tokens.filter(rt::jti.eq(jti));
    diesel::dsl::exists(
        u::users
            .filter(u::org_id.eq(org))
            .filter(u::id.eq(id))
            .filter(u::active.eq(true))
            .filter(
                u::role
                    .eq(r1)
                    .or(u::role.eq(r2))
                    .or(u::role.eq(r3))
                    .or(u::role.eq(r4))
                    .or(u::role.eq(r5))
                    .or(u::role.eq(r6)),
            )
            .filter(diesel::dsl::not(diesel::dsl::exists(revoked)))
            .select(u::id),
    )
}

/// What login needs: the user, the stored hash and the failure count.
pub struct LoginRecord {
    pub user: User,
    pub password_hash: String,
    pub failed_logins: i32,
}

pub fn find_for_login(conn: &mut DbConn, email: &Email) -> Result<Option<LoginRecord>, AppError> {
    let Some(row) = u::users
        .filter(u::email.eq(email.as_str()))
        .first::<UserRow>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let password_hash = row.password_hash.clone();
    let failed_logins = row.failed_logins;
    Ok(Some(LoginRecord {
        user: row.into_user()?,
        password_hash,
        failed_logins,
    }))
}

pub fn email_taken(conn: &mut DbConn, email: &Email) -> Result<bool, AppError> {
    let n: i64 = u::users
        .filter(u::email.eq(email.as_str()))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// A validated new user.
pub struct NewUser {
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
}

pub fn create_user(conn: &mut DbConn, ctx: &AuditCtx, new: NewUser) -> Result<User, AppError> {
    if email_taken(conn, &new.email)? {
        return Err(AppError::field(
            "email",
            "taken",
            "a user with this e-mail already exists",
        ));
    }
    let id = UserId::new();
    let now = crate::db::now();
    diesel::insert_into(u::users)
        .values((
            u::id.eq(id.to_string()),
            u::org_id.eq(ctx.org.to_string()),
            u::email.eq(new.email.as_str()),
            u::name.eq(&new.name),
            u::role.eq(new.role.as_str()),
            u::password_hash.eq(&new.password_hash),
            u::active.eq(true),
            u::failed_logins.eq(0),
            u::version.eq(1),
            u::created_at.eq(now),
            u::updated_at.eq(now),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        ctx,
        "user.create",
        "user",
        Some(&id.to_string()),
        Some(serde_json::json!({ "role": new.role.as_str() })),
    )?;
    find_user(conn, ctx.org, id)?.ok_or_else(|| AppError::internal("created user vanished"))
}

/// Lists the organization's users in creation order; fetches `limit + 1` rows.
pub fn list_users(
    conn: &mut DbConn,
    org: OrgId,
    role: Option<Role>,
    active: Option<bool>,
    page: &Page,
) -> Result<Vec<User>, AppError> {
    let mut q = u::users.filter(u::org_id.eq(org.to_string())).into_boxed();
    if let Some(r) = role {
        q = q.filter(u::role.eq(r.as_str()));
    }
    if let Some(a) = active {
        q = q.filter(u::active.eq(a));
    }
    if let Some(after) = &page.after {
        q = q.filter(u::id.gt(after.clone()));
    }
    q.order(u::id.asc())
        .limit(page.limit + 1)
        .load::<UserRow>(conn)?
        .into_iter()
        .map(UserRow::into_user)
        .collect()
}

/// A validated change to a user.
#[derive(Debug, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub password_hash: Option<String>,
}

/// Applies a patch with optimistic concurrency (`expected_version`), audits the changed fields.
pub fn update_user(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: UserId,
    expected_version: Option<i32>,
    patch: UserPatch,
) -> Result<User, AppError> {
    let current = find_user(conn, ctx.org, id)?.ok_or_else(|| AppError::not_found("user"))?;
    if let Some(v) = expected_version
        && v != current.version
    {
        return Err(AppError::conflict(format!(
            "the user was changed since version {v}; the current version is {}",
            current.version
        )));
    }
    let mut changed = Vec::new();
    let name = patch.name.filter(|n| *n != current.name);
    let role = patch.role.filter(|r| *r != current.role);
    let active = patch.active.filter(|a| *a != current.active);
    if name.is_some() {
        changed.push("name");
    }
    if role.is_some() {
        changed.push("role");
    }
    if active.is_some() {
        changed.push("active");
    }
    if patch.password_hash.is_some() {
        changed.push("password");
    }
    if changed.is_empty() {
        return Ok(current);
    }
    let target = u::users
        .filter(u::org_id.eq(ctx.org.to_string()))
        .filter(u::id.eq(id.to_string()))
        .filter(u::version.eq(current.version));
    let n = diesel::update(target)
        .set((
            u::name.eq(name.unwrap_or(current.name.clone())),
            u::role.eq(role.unwrap_or(current.role).as_str()),
            u::active.eq(active.unwrap_or(current.active)),
            u::version.eq(current.version + 1),
            u::updated_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(AppError::conflict(
            "the user was changed concurrently; reload and retry",
        ));
    }
    if let Some(hash) = patch.password_hash {
        diesel::update(
            u::users
                .filter(u::org_id.eq(ctx.org.to_string()))
                .filter(u::id.eq(id.to_string())),
        )
        .set((
            u::password_hash.eq(hash),
            u::failed_logins.eq(0),
            u::locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    }
    audit::record(
        conn,
        ctx,
        "user.update",
        "user",
        Some(&id.to_string()),
        Some(serde_json::json!({ "changed": changed })),
    )?;
    find_user(conn, ctx.org, id)?.ok_or_else(|| AppError::internal("updated user vanished"))
}

/// Counts a failed login; locks the account after [`MAX_FAILED_LOGINS`]. Returns the lock expiry
/// when this failure locked it.
pub fn record_failed_login(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: UserId,
) -> Result<Option<NaiveDateTime>, AppError> {
    let target = u::users
        .filter(u::org_id.eq(ctx.org.to_string()))
        .filter(u::id.eq(id.to_string()));
    let count: i32 = diesel::update(target.clone())
        .set(u::failed_logins.eq(u::failed_logins + 1))
        .returning(u::failed_logins)
        .get_result(conn)?;
    let mut locked = None;
    if count >= MAX_FAILED_LOGINS {
        let until = crate::db::now() + chrono::Duration::seconds(LOCKOUT_SECS);
        diesel::update(target)
            .set((u::failed_logins.eq(0), u::locked_until.eq(Some(until))))
            .execute(conn)?;
        locked = Some(until);
    }
    audit::record(
        conn,
        ctx,
        "auth.login_failed",
        "user",
        Some(&id.to_string()),
        Some(serde_json::json!({ "locked": locked.is_some() })),
    )?;
    Ok(locked)
}

pub fn record_login(conn: &mut DbConn, ctx: &AuditCtx, id: UserId) -> Result<(), AppError> {
    let target = u::users
        .filter(u::org_id.eq(ctx.org.to_string()))
        .filter(u::id.eq(id.to_string()));
    diesel::update(target)
        .set((
            u::failed_logins.eq(0),
            u::locked_until.eq(None::<NaiveDateTime>),
            u::last_login_at.eq(Some(crate::db::now())),
        ))
        .execute(conn)?;
    audit::record(conn, ctx, "auth.login", "user", Some(&id.to_string()), None)
}

pub fn revoke(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    jti: &str,
    expires_at: NaiveDateTime,
) -> Result<(), AppError> {
    if is_revoked(conn, jti)? {
        return Ok(());
    }
    diesel::insert_into(rt::revoked_tokens)
        .values((
            rt::jti.eq(jti),
            rt::org_id.eq(ctx.org.to_string()),
            rt::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    // Revocations of tokens that expired anyway are no longer needed, once the leeway a token
    // is accepted for after its expiry has passed too.
    let useless = crate::db::now() - chrono::Duration::seconds(super::domain::LEEWAY_SECS as i64);
    diesel::delete(rt::revoked_tokens.filter(rt::expires_at.lt(useless))).execute(conn)?;
    audit::record(
        conn,
        ctx,
        "auth.logout",
        "user",
        ctx.actor.map(|a| a.to_string()).as_deref(),
        None,
    )
}

pub fn is_revoked(conn: &mut DbConn, jti: &str) -> Result<bool, AppError> {
    let n: i64 = rt::revoked_tokens
        .filter(rt::jti.eq(jti))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}
