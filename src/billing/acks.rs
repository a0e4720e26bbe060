//! Acknowledgements: `POST /api/v1/acknowledgements` takes a 999 (the batch accepted, partially
//! accepted or rejected, with its IK3/IK4 errors) or a 277CA (each claim, found by its patient
//! control number in TRN02, accepted or rejected with its STC codes, and the payer's claim number
//! from REF*1K); `GET` lists and reads what was received.
//!
//! Matching is exact and within the caller's organization: a 999's AK102 must be the GS06 (= ISA13)
//! of one of its batches, a 277CA's TRN02 one of its patient control numbers. Anything else is
//! reported in `unmatched`; a batch or claim whose state does not allow the move is reported in
//! `skipped` with the reason. The STC category mapping is documented in
//! [`crate::billing::x12::reader::ack277ca`]. A 999 that rejects the group (AK9 R) also rejects
//! every submitted claim of the batch; after a 277CA, a batch whose claims are all rejected
//! becomes `rejected`, one with some rejected `partially_accepted`.
//!
//! Files: this one (handlers), `acks_api` (DTOs), `acks_repo` (tables, queries, the import).

#[path = "acks_api.rs"]
pub mod api;
#[path = "acks_repo.rs"]
pub mod repo;

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use utoipa_actix_web::service_config::ServiceConfig;

use self::api::*;
use crate::app::AppState;
use crate::auth::routes::path_id;
use crate::auth::{AuthUser, Role};
use crate::billing::x12::reader;
use crate::db::{AcknowledgementId, BatchId};
use crate::error::{AppError, FieldErrors, FieldIssue, Problem};
use crate::http::PageQuery;
use crate::http::pagination::Paged;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(import_acknowledgement)
        .service(list_acknowledgements)
        .service(get_acknowledgement);
}

/// Who imports acknowledgements.
const IMPORTERS: [Role; 2] = [Role::Biller, Role::Manager];
/// Who reads them.
const READERS: [Role; 4] = [Role::Biller, Role::Manager, Role::Admin, Role::Auditor];

/// Largest acknowledgement file accepted.
pub const UPLOAD_LIMIT: usize = 20 * 1024 * 1024;

fn too_large() -> AppError {
    AppError::PayloadTooLarge(format!(
        "acknowledgement files are limited to {UPLOAD_LIMIT} bytes (20 MiB)"
    ))
}

/// Import a 999 or 277CA acknowledgement.
///
/// The body is the raw X12 file (`Content-Type: application/edi-x12`, `text/plain` or
/// `application/octet-stream`, at most 20 MiB). Delimiters are read from the ISA; CR/LF around
/// segment terminators is fine. A file that is not X12, is truncated, or whose control numbers or
/// counts do not match is `400` with the reason, and nothing changes. Otherwise every change
/// (batches, claims, payer claim numbers, audit rows) is made in one transaction. The same file
/// imported again changes nothing and answers the first import's summary with `duplicate: true`
/// (`200` instead of `201`).
#[utoipa::path(
    tag = "acknowledgements",
    operation_id = "import_acknowledgement",
    security(("bearer" = [])),
    request_body(content = String, content_type = "application/edi-x12", description = "A 999 (005010X231A1) or 277CA (005010X214) interchange",
        example = "ISA*00*          *00*          *ZZ*CLEARINGHOUSE  *ZZ*SUBMITTERID    *261128*0900*^*00501*000000101*0*P*:~GS*FA*CLEARINGHOUSE*SUBMITTERID*20261128*0900*101*X*005010X231A1~ST*999*0001*005010X231A1~AK1*HC*1*005010X222A1~AK2*837*0001*005010X222A1~IK5*A~AK9*A*1*1*1~SE*6*0001~GE*1*101~IEA*1*000000101~"),
    responses(
        (status = 201, description = "Imported: what it said and what changed", body = AcknowledgementView),
        (status = 200, description = "This exact file was imported before: nothing changed (`duplicate: true`)", body = AcknowledgementView),
        (status = 400, description = "Not X12, truncated, control number or count mismatch, or not a 999/277CA", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller and manager", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 20 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/edi-x12, text/plain or application/octet-stream", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/acknowledgements")]
async fn import_acknowledgement(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    user.require(&IMPORTERS)?;
    if !crate::http::body::is_x12(&req) {
        return Err(AppError::UnsupportedMediaType(
            "the body must be the raw X12 file (Content-Type: application/edi-x12, text/plain or application/octet-stream)".into(),
        ));
    }
    let body = crate::http::body::read_limited(
        payload,
        crate::http::body::declared_length(&req),
        UPLOAD_LIMIT,
        too_large,
    )
    .await?;
    let (body, file) = web::block(move || {
        let file = reader::read_acknowledgement(&body);
        (body, file)
    })
    .await
    .map_err(|e| AppError::internal(format!("blocking task failed: {e}")))?;
    let file = file.map_err(|e| AppError::BadRequest(e.message().to_owned()))?;
    let ctx = user.audit();
    let body = std::sync::Arc::new(body);
    let file = std::sync::Arc::new(file);
    let run = |ctx: crate::audit::AuditCtx| {
        let (body, file) = (body.clone(), file.clone());
        state.db.write(move |c| repo::import(c, &ctx, &body, &file))
    };
    // The same file imported concurrently: the second waits on the unique (org, hash) key and
    // fails; once more, it finds the first import and answers `duplicate: true`.
    let (view, created) = match run(ctx.clone()).await {
        Err(AppError::Conflict { .. }) => run(ctx).await?,
        other => other?,
    };
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// List received acknowledgements (oldest first).
#[utoipa::path(
    tag = "acknowledgements",
    operation_id = "list_acknowledgements",
    security(("bearer" = [])),
    params(AckQuery, PageQuery),
    responses(
        (status = 200, description = "A page of acknowledgements with their summaries", body = Paged<AcknowledgementView>),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller, manager, admin and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter or pagination", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/acknowledgements")]
async fn list_acknowledgements(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<AckQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    user.require(&READERS)?;
    let mut errs = FieldErrors::new();
    let kind = q.kind.as_deref().map(str::trim).and_then(|k| {
        errs.check(
            "kind",
            match k.to_ascii_lowercase().as_str() {
                "999" => Ok("999"),
                "277ca" => Ok("277ca"),
                _ => Err(FieldIssue::new(
                    "invalid_enum",
                    "must be one of: 999, 277ca",
                )),
            },
        )
    });
    let batch = q.batch_id.as_deref().and_then(|b| {
        errs.check(
            "batch_id",
            b.trim()
                .parse::<BatchId>()
                .map_err(|_| FieldIssue::new("invalid_id", "must be an id (UUID)")),
        )
    });
    let page = page.parse(&mut errs);
    errs.into_result()?;
    let org = user.org_id;
    let limit = page.limit;
    let rows = state
        .db
        .read(move |c| repo::list(c, org, kind, batch, &page))
        .await?;
    let paged = Paged::from_rows(rows, limit, |r| r.id.to_string());
    let items = paged
        .items
        .iter()
        .map(|r| r.view(false))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Paged {
        items,
        next_cursor: paged.next_cursor,
    }))
}

/// Read one acknowledgement: what it said and what it changed.
#[utoipa::path(
    tag = "acknowledgements",
    operation_id = "get_acknowledgement",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Acknowledgement id")),
    responses(
        (status = 200, description = "The acknowledgement", body = AcknowledgementView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller, manager, admin and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such acknowledgement in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/acknowledgements/{id}")]
async fn get_acknowledgement(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    user.require(&READERS)?;
    let id: AcknowledgementId = path_id(&id, "acknowledgement")?;
    let org = user.org_id;
    let row = state
        .db
        .read(move |c| repo::get(c, org, id))
        .await?
        .ok_or_else(|| AppError::not_found("acknowledgement"))?;
    Ok(HttpResponse::Ok().json(row.view(false)?))
}
