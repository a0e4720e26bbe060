//! Assembles the actix-web application: state, routes, middleware, docs, fallbacks; and serves it.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::domain::TokenKeys;
use crate::claims::repo::{ClaimCreation, CreatedClaim};
use crate::db::Db;
use crate::db::combine::Combiner;
use crate::error::AppError;
use crate::http::middleware::{RouteTable, fallback, request_context};
use crate::lab::repo::{Registered, Registration};

/// What every handler can reach.
pub struct AppState {
    pub db: Db,
    pub keys: TokenKeys,
    /// Specimen registrations queued per organization, written together: on PostgreSQL in one
    /// statement where it can (sent while the batch before it still runs, where reads are
    /// pipelined too), else in a shared transaction.
    pub registrations: Combiner<Registration, Registered>,
    /// Claim creations, likewise.
    pub claim_creations: Combiner<ClaimCreation, CreatedClaim>,
}

impl AppState {
    pub fn new(db: Db, keys: TokenKeys) -> Self {
        Self {
            db,
            keys,
            registrations: Combiner::new(crate::lab::repo::register_all)
                .one_statement(crate::lab::repo::register_all_in_one_statement)
                .pipelined(crate::lab::repo::send_registrations),
            claim_creations: Combiner::new(crate::claims::repo::create_claims),
        }
    }
}

/// Every documented route. Each bounded context contributes its `configure`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.configure(crate::health::configure);
    cfg.service(
        utoipa_actix_web::scope("/api/v1")
            .configure(crate::auth::routes::configure)
            .configure(crate::audit::routes::configure)
            .configure(crate::orgs::routes::configure)
            .configure(crate::directory::routes::configure)
            .configure(crate::patients::routes::configure)
            .configure(crate::patients::coverage_routes::configure)
            .configure(crate::lab::configure)
            .configure(crate::claims::routes::configure)
            .configure(crate::billing::batches_routes::configure)
            .configure(crate::coding::routes::configure)
            .configure(crate::billing::acks::configure)
            .configure(crate::billing::remittances::configure)
            .configure(crate::reports::configure),
    );
}

fn query_error(
    err: actix_web::error::QueryPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    AppError::BadRequest(format!("invalid query string: {err}")).into()
}

fn path_error(_: actix_web::error::PathError, _: &actix_web::HttpRequest) -> actix_web::Error {
    AppError::NotFound("no such resource".into()).into()
}

/// Starts the HTTP server on an already bound listener (tests bind port 0).
pub fn serve(
    listener: TcpListener,
    state: AppState,
    workers: Option<usize>,
) -> Result<Server, AppError> {
    let state = web::Data::new(state);
    let doc = crate::openapi::document();
    let table = web::Data::new(Arc::new(RouteTable::from_openapi(&doc)));
    let mut server = HttpServer::new(move || {
        let (app, _) = App::new()
            .into_utoipa_app()
            .openapi(crate::openapi::base())
            .app_data(state.clone())
            .app_data(table.clone())
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .app_data(web::PathConfig::default().error_handler(path_error))
            .configure(routes)
            .split_for_parts();
        app.service(SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", doc.clone()))
            .route(
                "/docs",
                web::get().to(|| async {
                    HttpResponse::PermanentRedirect()
                        .insert_header(("Location", "/docs/"))
                        .finish()
                }),
            )
            .default_service(web::to(fallback))
            .wrap(from_fn(request_context))
    })
    .listen(listener)
    .map_err(|e| AppError::internal(format!("cannot listen: {e}")))?;
    if let Some(n) = workers {
        server = server.workers(n);
    }
    Ok(server.run())
}

/// Binds `addr`, reporting a clear error.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))
}
