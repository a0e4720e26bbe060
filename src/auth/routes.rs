//! Login, logout, the current user, and user management.

use std::sync::LazyLock;

use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::api::*;
use super::domain::{self, Email, Role};
use super::extract::AuthUser;
use super::repo;
use crate::app::AppState;
use crate::audit::AuditCtx;
use crate::db::UserId;
use crate::error::{AppError, FieldErrors, Problem};
use crate::http::pagination::Paged;
use crate::http::{Json, PageQuery, etag, if_match_version};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(token)
        .service(logout)
        .service(me)
        .service(list_users)
        .service(create_user)
        .service(get_user)
        .service(update_user);
}

/// Compared against when the e-mail is unknown, so both failures take the same time.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| domain::hash_password(&domain::random_secret(16)).unwrap_or_default());

fn bad_login() -> AppError {
    AppError::Unauthorized("invalid e-mail or password".into())
}

async fn verify_off_thread(password: String, hash: String) -> Result<bool, AppError> {
    web::block(move || domain::verify_password(&password, &hash))
        .await
        .map_err(|e| AppError::internal(format!("blocking task failed: {e}")))
}

/// Exchange an e-mail and password for a bearer token.
#[utoipa::path(
    tag = "auth",
    operation_id = "create_token",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "A bearer token", body = TokenResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong e-mail or password, or disabled account", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Account locked after repeated failures; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/token")]
async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<TokenRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let mut errs = FieldErrors::new();
    let email = errs
        .require("email", body.email.as_deref())
        .map(str::to_owned);
    let password = match body.password {
        Some(p) if !p.is_empty() => Some(p),
        _ => {
            errs.add("password", "required", "is required");
            None
        }
    };
    errs.into_result()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(bad_login());
    };
    let Ok(email) = Email::parse(&email) else {
        return Err(bad_login());
    };
    let record = state
        .db
        .read(move |c| repo::find_for_login(c, &email))
        .await?;
    let Some(record) = record else {
        verify_off_thread(password, DUMMY_HASH.clone()).await?;
        return Err(bad_login());
    };
    let now = crate::db::now();
    if let Some(until) = record.user.locked_until.filter(|t| *t > now) {
        let secs = (until - now).num_seconds().max(1) as u64;
        return Err(AppError::TooManyRequests {
            detail: "too many failed logins on this account; try again later".into(),
            retry_after_secs: secs,
        });
    }
    let ok = verify_off_thread(password, record.password_hash.clone()).await?;
    let user = record.user;
    let ctx = AuditCtx {
        org: user.org_id,
        actor: Some(user.id),
        request_id: Some(crate::http::request_id(&req)),
    };
    if !ok {
        if user.active {
            let id = user.id;
            state
                .db
                .write(move |c| repo::record_failed_login(c, &ctx, id))
                .await?;
        }
        return Err(bad_login());
    }
    if !user.active {
        return Err(bad_login());
    }
    let id = user.id;
    state
        .db
        .write(move |c| repo::record_login(c, &ctx, id))
        .await?;
    let (access_token, _) = state
        .keys
        .issue(
            user.id,
            user.org_id,
            user.role,
            chrono::Utc::now().timestamp(),
        )
        .map_err(AppError::internal)?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: state.keys.ttl_secs,
        }))
}

/// Revoke the presented token.
#[utoipa::path(
    tag = "auth",
    operation_id = "logout",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The token no longer works"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/logout")]
async fn logout(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, AppError> {
    let ctx = user.audit();
    let expires = chrono::DateTime::from_timestamp(user.exp, 0)
        .map(|t| t.naive_utc())
        .unwrap_or_else(crate::db::now);
    let jti = user.jti.clone();
    state
        .db
        .write(move |c| repo::revoke(c, &ctx, &jti, expires))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn load_user(state: &AppState, user: &AuthUser, id: UserId) -> Result<repo::User, AppError> {
    let org = user.org_id;
    state
        .db
        .read(move |c| repo::find_user(c, org, id))
        .await?
        .ok_or_else(|| AppError::not_found("user"))
}

/// The signed-in user.
#[utoipa::path(
    tag = "auth",
    operation_id = "get_me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = UserView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/me")]
async fn me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, AppError> {
    let me = load_user(&state, &user, user.user_id).await?;
    Ok(HttpResponse::Ok().json(UserView::from(me)))
}

/// Parses a path id; a malformed id names no record, so it is a `404`.
pub fn path_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, AppError> {
    raw.parse().map_err(|_| AppError::not_found(what))
}

/// List the organization's users.
#[utoipa::path(
    tag = "users",
    operation_id = "list_users",
    security(("bearer" = [])),
    params(UsersQuery, PageQuery),
    responses(
        (status = 200, description = "A page of users", body = Paged<UserView>),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter or pagination", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users")]
async fn list_users(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<UsersQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    user.require(&[Role::Admin, Role::Auditor])?;
    let mut errs = FieldErrors::new();
    let (role, active) = q.parse(&mut errs);
    let page = page.parse(&mut errs);
    errs.into_result()?;
    let org = user.org_id;
    let limit = page.limit;
    let rows = state
        .db
        .read(move |c| repo::list_users(c, org, role, active, &page))
        .await?;
    let paged = Paged::from_rows(rows, limit, |u| u.id.to_string()).map(UserView::from);
    Ok(HttpResponse::Ok().json(paged))
}

/// Create a user in the caller's organization.
#[utoipa::path(
    tag = "users",
    operation_id = "create_user",
    security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users")]
async fn create_user(
    state: web::Data<AppState>,
    user: AuthUser,
    body: Json<CreateUserRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&[Role::Admin])?;
    let cmd = body.into_inner().validate()?;
    let password = cmd.password;
    let hash = web::block(move || domain::hash_password(&password))
        .await
        .map_err(|e| AppError::internal(format!("blocking task failed: {e}")))?
        .map_err(AppError::internal)?;
    let ctx = user.audit();
    let new = repo::NewUser {
        email: cmd.email,
        name: cmd.name,
        role: cmd.role,
        password_hash: hash,
    };
    let created = state
        .db
        .write(move |c| repo::create_user(c, &ctx, new))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(etag(created.version))
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/users/{}", created.id),
        ))
        .json(UserView::from(created)))
}

/// One user.
#[utoipa::path(
    tag = "users",
    operation_id = "get_user",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/{id}")]
async fn get_user(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    user.require(&[Role::Admin, Role::Auditor])?;
    let id = path_id(&id, "user")?;
    let found = load_user(&state, &user, id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(found.version))
        .json(UserView::from(found)))
}

/// Change a user's name, role, active flag or password.
#[utoipa::path(
    tag = "users",
    operation_id = "update_user",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version being changed"),
    ),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "Updated", body = UserView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stale version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/users/{id}")]
async fn update_user(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<String>,
    body: Json<UpdateUserRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&[Role::Admin])?;
    let id: UserId = path_id(&id, "user")?;
    let cmd = body.into_inner().validate()?;
    if id == user.user_id {
        let mut errs = FieldErrors::new();
        if cmd.role.is_some_and(|r| r != Role::Admin) {
            errs.add(
                "role",
                "self_demotion",
                "an administrator cannot remove their own admin role",
            );
        }
        if cmd.active == Some(false) {
            errs.add(
                "active",
                "self_disable",
                "an administrator cannot disable their own account",
            );
        }
        errs.into_result()?;
    }
    let version = if_match_version(&req)?.or(cmd.version);
    let password_hash = match cmd.password {
        Some(p) => Some(
            web::block(move || domain::hash_password(&p))
                .await
                .map_err(|e| AppError::internal(format!("blocking task failed: {e}")))?
                .map_err(AppError::internal)?,
        ),
        None => None,
    };
    let patch = repo::UserPatch {
        name: cmd.name,
        role: cmd.role,
        active: cmd.active,
        password_hash,
    };
    let ctx = user.audit();
    let updated = state
        .db
        .write(move |c| repo::update_user(c, &ctx, id, version, patch))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(updated.version))
        .json(UserView::from(updated)))
}
