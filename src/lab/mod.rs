//! The lab: specimens, custody chain, aliquots, results, labels, send-out manifests, charges and
//! turnaround.

pub mod api;
pub mod documents;
pub mod domain;
pub mod labels;
pub mod manifests;
mod pg_rows;
pub mod repo;
pub mod routes;
pub mod schema;
pub mod turnaround;

use utoipa_actix_web::service_config::ServiceConfig;

/// Every lab route.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.configure(labels::configure)
        .configure(manifests::configure)
        .configure(turnaround::configure)
        .configure(routes::configure);
}
