//! Liveness and readiness probes.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::app::AppState;
use crate::error::Problem;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(live).service(ready);
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// The process is up.
#[utoipa::path(tag = "health", operation_id = "health_live",
    responses((status = 200, description = "Alive", body = Health)))]
#[get("/health/live")]
async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

/// The database answers and every migration is applied.
#[utoipa::path(tag = "health", operation_id = "health_ready",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Database unreachable or migrations pending", body = Problem, content_type = "application/problem+json"),
    ))]
#[get("/health/ready")]
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match state.db.read(crate::db::migrations_current).await {
        Ok(true) => HttpResponse::Ok().json(Health {
            status: "ok".into(),
        }),
        Ok(false) => Problem::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            Some("database migrations are pending".into()),
        )
        .response(),
        Err(_) => Problem::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            Some("the database is unreachable".into()),
        )
        .response(),
    }
}
