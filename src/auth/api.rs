//! Auth and user DTOs. Request fields are optional strings so that every problem comes back as a
//! field error in one `422`, not as a serde `400` about the first one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::domain::{Email, Role, check_password};
use super::repo::User;
use crate::error::{AppError, FieldErrors, FieldIssue};

#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    #[schema(example = "admin@demo.officina.test")]
    pub email: Option<String>,
    #[schema(example = "officina-demo-admin")]
    pub password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the token expires.
    #[schema(example = 3600)]
    pub expires_in: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    #[schema(example = "lab2@clinic.example")]
    pub email: Option<String>,
    #[schema(example = "Lena Lab")]
    pub name: Option<String>,
    /// One of `admin`, `manager`, `biller`, `lab`, `clinician`, `auditor`.
    #[schema(example = "lab")]
    pub role: Option<String>,
    /// 12 to 128 characters.
    pub password: Option<String>,
}

/// A checked user creation.
pub struct CreateUser {
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub password: String,
}

fn check_name(errs: &mut FieldErrors, field: &str, raw: &str) -> Option<String> {
    let n = raw.trim();
    if n.chars().count() > 200 {
        errs.add(field, "too_long", "must have at most 200 characters");
        return None;
    }
    Some(n.to_owned())
}

impl CreateUserRequest {
    pub fn validate(self) -> Result<CreateUser, AppError> {
        let mut errs = FieldErrors::new();
        let email = errs
            .require("email", self.email.as_deref())
            .and_then(|e| errs.check("email", Email::parse(e)));
        let name = errs
            .require("name", self.name.as_deref())
            .and_then(|n| check_name(&mut errs, "name", n));
        let role = errs
            .require("role", self.role.as_deref())
            .and_then(|r| errs.check("role", r.parse::<Role>()));
        let password = match self.password.as_deref() {
            Some(p) if !p.is_empty() => errs
                .check("password", check_password(p))
                .map(|_| p.to_owned()),
            _ => {
                errs.add("password", "required", "is required");
                None
            }
        };
        errs.into_result()?;
        match (email, name, role, password) {
            (Some(email), Some(name), Some(role), Some(password)) => Ok(CreateUser {
                email,
                name,
                role,
                password,
            }),
            _ => Err(AppError::internal("validated user fields missing")),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    pub name: Option<String>,
    /// New role.
    pub role: Option<String>,
    /// `false` disables the account: its tokens stop working at once.
    pub active: Option<bool>,
    /// A new password (12 to 128 characters); also unlocks the account.
    pub password: Option<String>,
    /// The version being changed (or send `If-Match`); a stale one is `409`.
    pub version: Option<i32>,
}

pub struct UpdateUser {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub password: Option<String>,
    pub version: Option<i32>,
}

impl UpdateUserRequest {
    pub fn validate(self) -> Result<UpdateUser, AppError> {
        let mut errs = FieldErrors::new();
        let name = match self.name.as_deref() {
            Some(n) if n.trim().is_empty() => {
                errs.add("name", "required", "must not be blank");
                None
            }
            Some(n) => check_name(&mut errs, "name", n),
            None => None,
        };
        let role = self
            .role
            .as_deref()
            .and_then(|r| errs.check("role", r.parse::<Role>()));
        let password = self.password.as_deref().and_then(|p| {
            errs.check("password", check_password(p))
                .map(|_| p.to_owned())
        });
        errs.into_result()?;
        Ok(UpdateUser {
            name,
            role,
            active: self.active,
            password,
            version: self.version,
        })
    }
}

/// A user of the organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    /// True while the account is locked after repeated failed logins.
    pub locked: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub org_id: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        let now = crate::db::now();
        Self {
            id: u.id.to_string(),
            email: u.email,
            name: u.name,
            role: u.role,
            active: u.active,
            locked: u.locked_until.is_some_and(|t| t > now),
            last_login_at: u.last_login_at.map(|t| t.and_utc()),
            org_id: u.org_id.to_string(),
            version: u.version,
            created_at: u.created_at.and_utc(),
            updated_at: u.updated_at.and_utc(),
        }
    }
}

/// Filters for `GET /api/v1/users`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct UsersQuery {
    /// Only users with this role.
    pub role: Option<String>,
    /// Only active (`true`) or disabled (`false`) users.
    pub active: Option<String>,
}

impl UsersQuery {
    pub fn parse(&self, errs: &mut FieldErrors) -> (Option<Role>, Option<bool>) {
        let role = self
            .role
            .as_deref()
            .and_then(|r| errs.check("role", r.parse::<Role>()));
        let active = self
            .active
            .as_deref()
            .and_then(|a| errs.check("active", parse_bool(a)));
        (role, active)
    }
}

pub fn parse_bool(raw: &str) -> Result<bool, FieldIssue> {
    match raw.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(FieldIssue::new("invalid_type", "must be true or false")),
    }
}
