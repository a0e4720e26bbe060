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
use crate::db::{OrgId, UserId};
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
        AuditCtx {
            org: self.org_id,
            actor: Some(self.user_id),
            request_id: Some(self.request_id.clone()),
        }
    }
}

fn unauthorized() -> AppError {
    AppError::Unauthorized("a valid bearer token is required".into())
}

impl FromRequest for AuthUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| rest.trim().to_owned())
            });
        let request_id = crate::http::request_id(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal("application state missing"))?;
            let token = token.ok_or_else(unauthorized)?;
            let claims = state.keys.verify(&token).map_err(|_| unauthorized())?;
            let user_id: UserId = claims.sub.parse().map_err(|_| unauthorized())?;
            let org_id: OrgId = claims.org.parse().map_err(|_| unauthorized())?;
            let jti = claims.jti.clone();
            let jti_check = jti.clone();
            let user = state
                .db
                .read(move |conn| repo::find_token_user(conn, org_id, user_id, &jti_check))
                .await?
                .ok_or_else(unauthorized)?;
            if !user.active {
                return Err(unauthorized());
            }
            // The role is read from the database, so a demotion takes effect at once.
            Ok(AuthUser {
                user_id,
                org_id,
                role: user.role,
                jti,
                exp: claims.exp,
                request_id,
            })
        })
    }
}
