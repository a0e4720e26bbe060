//! `AuthUser`: the bearer-token extractor every protected handler takes. It verifies the JWT
//! (HS256 pinned, issuer, audience, expiry), checks that the token was not revoked and that its
//! user still exists and is active, and gives the handler the user, organization and role.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use super::domain::Role;
use super::repo;
use crate::app::AppState;
use crate::audit::AuditCtx;
use crate::db::pipeline::PipelinedQuery;
use crate::db::{Db, DbConn, OrgId, UserId};
use crate::error::AppError;

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: UserId,
    pub org_id: OrgId,
    pub role: Role,
    pub jti: String,
    /// Expiry of the presented token (unix seconds).
    pub exp: i64,
    pub request_id: String,
}

impl AuthUser {
    /// `403` unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), AppError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(AppError::forbidden_role(self.role))
        }
    }

    /// The audit context of this caller.
    pub fn audit(&self) -> AuditCtx {
        audit_ctx(self.org_id, self.user_id, &self.request_id)
    }
}

/// The audit context of a checked caller.
fn audit_ctx(org: OrgId, user: UserId, request_id: &str) -> AuditCtx {
    AuditCtx {
        org,
        actor: Some(user),
        request_id: Some(request_id.to_owned()),
    }
}

fn unauthorized() -> AppError {
    AppError::Unauthorized("a valid bearer token is required".into())
}

/// A bearer token whose signature, issuer, audience and expiry are verified, but whose user is
/// not looked up yet. Handlers on hot paths take it instead of [`AuthUser`] and run their unit of
/// work through [`Bearer::read`] or [`Bearer::write`]: the user lookup (revocation, active flag,
/// current role) and the role check run in the same trip to the blocking pool (or, for a read by
/// key on SQLite, at once: [`Db::read_by_key`]), before the work
/// (on the pooled connection the work then uses; a SQLite write then moves to the pool's writer
/// connection); the work only ever sees a checked [`AuthUser`]. [`Bearer::read_guarded`] is the
/// exception: its query checks the caller itself, through [`Guard::holds`].
#[derive(Debug, Clone)]
pub struct Bearer {
    user_id: UserId,
    org_id: OrgId,
    jti: String,
    exp: i64,
    request_id: String,
}

impl Bearer {
    /// Verifies the `Authorization: Bearer` token of `req` (no database access).
    fn from_http(req: &HttpRequest) -> Result<Self, AppError> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .ok_or_else(|| AppError::internal("application state missing"))?;
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
            })
            .ok_or_else(unauthorized)?;
        let claims = state.keys.verify(token).map_err(|_| unauthorized())?;
        Ok(Self {
            user_id: claims.sub.parse().map_err(|_| unauthorized())?,
            org_id: claims.org.parse().map_err(|_| unauthorized())?,
            jti: claims.jti,
            exp: claims.exp,
            request_id: crate::http::request_id(req),
        })
    }

    /// Looks the token's user up: `401` when the token was revoked or the user is gone or
    /// inactive. The role is read from the database, so a demotion takes effect at once.
    pub fn check(self, conn: &mut DbConn) -> Result<AuthUser, AppError> {
        let user = repo::find_token_user(conn, self.org_id, self.user_id, &self.jti)?
            .filter(|u| u.active)
            .ok_or_else(unauthorized)?;
        Ok(self.into_user(user.role))
    }

    /// The caller's role, checked through the worker's pipelined connection (`db::pipeline`):
    /// `Some` when its user is found, active and holds one of `roles`; `None` for anything else
    /// (no pipeline, a refusal, a failure), and the caller is then checked on the pool, which
    /// gives the refusal.
    async fn role_pipelined(&self, db: &Db, roles: &[Role]) -> Option<Role> {
        let pipeline = db.pipeline()?;
        let user =
            repo::find_token_user_pipelined(pipeline, self.org_id, self.user_id, &self.jti).await?;
        (user.active && roles.contains(&user.role)).then_some(user.role)
    }

    /// The checked caller, holding `role`.
    fn into_user(self, role: Role) -> AuthUser {
        AuthUser {
            user_id: self.user_id,
            org_id: self.org_id,
            role,
            jti: self.jti,
            exp: self.exp,
            request_id: self.request_id,
        }
    }

    /// The caller checked (`401`), then its role against `roles` (`403`).
    fn authorize(self, conn: &mut DbConn, roles: &[Role]) -> Result<AuthUser, AppError> {
        let user = self.check(conn)?;
        user.require(roles)?;
        Ok(user)
    }

    /// Checks the caller (`401`), then its role against `roles` (`403`), then runs `f`, all in one
    /// trip on one pooled connection.
    pub async fn read<T, F>(self, db: &Db, roles: &'static [Role], f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConn, &AuthUser) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        db.read(self.authorized(roles, f)).await
    }

    /// [`Bearer::read`] when `f` reads rows by key ([`Db::read_by_key`]).
    pub async fn read_by_key<T, F>(
        self,
        db: &Db,
        roles: &'static [Role],
        f: F,
    ) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConn, &AuthUser) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        db.read_by_key(self.authorized(roles, f)).await
    }

    /// `f` after the caller's check, as one unit of work.
    fn authorized<T, F>(
        self,
        roles: &'static [Role],
        f: F,
    ) -> impl FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static
    where
        F: FnOnce(&mut DbConn, &AuthUser) -> Result<T, AppError> + Send + 'static,
    {
        move |conn| {
            let user = self.authorize(conn, roles)?;
            f(conn, &user)
        }
    }

    /// A read that checks the caller in its own query, so a request makes one database round trip
    /// where [`Bearer::read`] makes two. `f` puts [`Guard::holds`] in the `WHERE` of its query
    /// and answers `Some` only from rows that query returned. Any other outcome (`None`, or an
    /// error) is reported only after the full check (`401`, then `403`), so a refused caller
    /// never learns whether the thing exists or whether its input was valid, as with
    /// [`Bearer::read`]. `Ok(None)`: the caller may read, and there is nothing to show.
    pub async fn read_guarded<T, F>(
        self,
        db: &Db,
        roles: &'static [Role],
        f: F,
    ) -> Result<Option<T>, AppError>
    where
        F: FnOnce(&mut DbConn, &Guard<'_>) -> Result<Option<T>, AppError> + Send + 'static,
        T: Send + 'static,
    {
        db.read(self.guarded(roles, f)).await
    }

    /// [`Bearer::read_guarded`] when `f` reads rows by key ([`Db::read_by_key`]).
    pub async fn read_guarded_by_key<T, F>(
        self,
        db: &Db,
        roles: &'static [Role],
        f: F,
    ) -> Result<Option<T>, AppError>
    where
        F: FnOnce(&mut DbConn, &Guard<'_>) -> Result<Option<T>, AppError> + Send + 'static,
        T: Send + 'static,
    {
        db.read_by_key(self.guarded(roles, f)).await
    }

    /// [`Bearer::read_guarded_by_key`], answered first, where there is one, through the worker's
    /// pipelined connection (`db::pipeline`): `query` (built with [`Guard::holds`] in its
    /// `WHERE`) finds the row, and `accept` makes the answer of it. Anything else (no pipeline, no
    /// row, a row `accept` refuses) runs `f` on the pool, which answers as
    /// [`Bearer::read_guarded`] does; so a refused caller is told only what `f` tells it. `query`
    /// is `None` when there is nothing to read by (a malformed key, which `f` answers).
    pub async fn read_guarded_by_key_pipelined<T, Q, U, A, F>(
        self,
        db: &Db,
        roles: &'static [Role],
        query: Option<impl FnOnce(&Guard<'_>) -> Q>,
        accept: A,
        f: F,
    ) -> Result<Option<T>, AppError>
    where
        Q: PipelinedQuery<U>,
        U: Send,
        A: FnOnce(U) -> Option<T>,
        F: FnOnce(&mut DbConn, &Guard<'_>) -> Result<Option<T>, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let accept = |rows: Vec<U>| crate::db::pipeline::by_key(rows).and_then(accept);
        if let Some(found) = self.pipelined(db, roles, query, accept).await {
            return Ok(Some(found));
        }
        self.read_guarded_by_key(db, roles, f).await
    }

    /// [`Bearer::read_guarded`], answered first, where there is one, through the worker's
    /// pipelined connection from one short page of rows in index order ([`Pipeline::page`]):
    /// `query` (built with [`Guard::holds`] in its `WHERE`) reads the page, and `accept` makes
    /// the answer of its rows. Anything else (no pipeline, no row, rows `accept` refuses) runs `f`
    /// on the pool, which answers as [`Bearer::read_guarded`] does. `query` is `None` when the
    /// request's read is not such a page.
    ///
    /// [`Pipeline::page`]: crate::db::pipeline::Pipeline::page
    pub async fn read_guarded_page_pipelined<T, Q, U, A, F>(
        self,
        db: &Db,
        roles: &'static [Role],
        query: Option<impl FnOnce(&Guard<'_>) -> Q>,
        accept: A,
        f: F,
    ) -> Result<Option<T>, AppError>
    where
        Q: PipelinedQuery<U>,
        U: Send,
        A: FnOnce(Vec<U>) -> Option<T>,
        F: FnOnce(&mut DbConn, &Guard<'_>) -> Result<Option<T>, AppError> + Send + 'static,
        T: Send + 'static,
    {
        if let Some(found) = self.pipelined(db, roles, query, accept).await {
            return Ok(Some(found));
        }
        self.read_guarded(db, roles, f).await
    }

    /// The caller checked together with one row by key, where there is one, through the worker's
    /// pipelined connection: a write's checks before the write is queued (`query` reads the rows
    /// the write refers to), or what a read needs before its work (a code search's table
    /// generation). `accept` makes the checked input of its row. `query` MUST put
    /// [`Guard::holds`] in its `WHERE`: the caller's audit context is handed out with the answer
    /// (a read may ignore it) because a row found is the proof that the caller holds one of
    /// `roles`. `None` (no pipeline, no row, a row `accept` refuses): check on the pool
    /// ([`Bearer::read_by_key`]), which gives any refusal.
    pub(crate) async fn check_pipelined<T, Q, U>(
        &self,
        db: &Db,
        roles: &'static [Role],
        query: impl FnOnce(&Guard<'_>) -> Q,
        accept: impl FnOnce(U) -> Option<T>,
    ) -> Option<(AuditCtx, T)>
    where
        Q: PipelinedQuery<U>,
        U: Send,
    {
        let accept = |rows: Vec<U>| crate::db::pipeline::by_key(rows).and_then(accept);
        let checked = self.pipelined(db, roles, Some(query), accept).await?;
        Some((
            audit_ctx(self.org_id, self.user_id, &self.request_id),
            checked,
        ))
    }

    /// The pipelined part of [`Bearer::read_guarded_by_key_pipelined`],
    /// [`Bearer::read_guarded_page_pipelined`] and [`Bearer::check_pipelined`]: `accept`'s answer
    /// from the rows of `query`, or `None` (then the pool answers).
    async fn pipelined<T, Q, U>(
        &self,
        db: &Db,
        roles: &'static [Role],
        query: Option<impl FnOnce(&Guard<'_>) -> Q>,
        accept: impl FnOnce(Vec<U>) -> Option<T>,
    ) -> Option<T>
    where
        Q: PipelinedQuery<U>,
        U: Send,
    {
        let (pipeline, query) = (db.pipeline()?, query?);
        let guard = Guard {
            bearer: self,
            roles,
        };
        let answer = pipeline.page(query(&guard)).await.and_then(accept)?;
        pipeline.answered();
        Some(answer)
    }

    /// `f` with the caller's condition, and the full check when it found nothing, as one unit of
    /// work ([`Bearer::read_guarded`]).
    fn guarded<T, F>(
        self,
        roles: &'static [Role],
        f: F,
    ) -> impl FnOnce(&mut DbConn) -> Result<Option<T>, AppError> + Send + 'static
    where
        F: FnOnce(&mut DbConn, &Guard<'_>) -> Result<Option<T>, AppError> + Send + 'static,
    {
        move |conn| {
            let guard = Guard {
                bearer: &self,
                roles,
            };
            match f(conn, &guard) {
                Ok(Some(found)) => Ok(Some(found)),
                other => {
                    self.authorize(conn, roles)?;
                    other
                }
            }
        }
    }

    /// As [`Bearer::read`], with `f` in one write transaction ([`Db::write_after`]); the caller
    /// is checked before the transaction begins, so a refused request never takes the write lock.
    pub async fn write<T, F>(self, db: &Db, roles: &'static [Role], f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConn, &AuthUser) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        db.write_after(
            move |conn| self.authorize(conn, roles),
            move |conn, user| f(conn, &user),
        )
        .await
    }
}

/// What the query of a [`Bearer::read_guarded`] gets: the caller's organization and the condition
/// that the caller may read.
pub struct Guard<'a> {
    bearer: &'a Bearer,
    roles: &'static [Role],
}

impl Guard<'_> {
    /// The caller's organization (from the token; [`Guard::holds`] checks the caller belongs to it).
    /// A query that scopes its rows with it must also filter on [`Guard::holds`]: without it,
    /// [`Bearer::read_guarded`] would answer a refused caller.
    pub fn org(&self) -> OrgId {
        self.bearer.org_id
    }

    /// True when the caller may read: `Bearer::authorize`'s checks as one condition of the read's
    /// own `WHERE` ([`repo::caller_holds`]).
    pub fn holds(&self) -> repo::caller_holds_in {
        let b = self.bearer;
        repo::caller_holds(b.org_id, b.user_id, b.jti.clone(), self.roles)
    }
}

impl FromRequest for Bearer {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Self::from_http(req))
    }
}

impl FromRequest for AuthUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let bearer = Bearer::from_http(req);
        let db = req
            .app_data::<web::Data<AppState>>()
            .map(|state| state.db.clone());
        Box::pin(async move {
            let bearer = bearer?;
            let db = db.ok_or_else(|| AppError::internal("application state missing"))?;
            // The token's user, by key: through the worker's pipelined connection where there is
            // one, else (or when it finds no active user, to answer from the pool) on the pool.
            if let Some(role) = bearer.role_pipelined(&db, &Role::ALL).await {
                return Ok(bearer.into_user(role));
            }
            db.read_by_key(move |conn| bearer.check(conn)).await
        })
    }
}
