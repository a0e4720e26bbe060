//! Batch handlers: create (Idempotency-Key), list, detail (JSON or CSV), approve (four eyes),
//! cancel, mark-submitted, and the 837 download.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use diesel::prelude::*;
use utoipa_actix_web::service_config::ServiceConfig;

use super::batches::{self, Batch, BatchStatus, Stamp};
use super::batches_api::*;
use crate::app::AppState;
use crate::audit::{self, AuditCtx};
use crate::auth::routes::path_id;
use crate::auth::{AuthUser, Role};
use crate::claims::domain::ClaimStatus;
use crate::claims::repo::{self as claims, Claim};
use crate::claims::schema::claims::dsl as c;
use crate::db::{BatchId, DbConn, OrgId};
use crate::directory::domain::ClaimKind;
use crate::error::{AppError, FieldErrors, Problem};
use crate::http::csv::{csv_response, wants_csv};
use crate::http::pagination::Paged;
use crate::http::{Json, PageQuery, etag, idempotency, if_match_version};
use crate::values::parse_text;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_batches)
        .service(create_batch)
        .service(get_batch)
        .service(approve_batch)
        .service(cancel_batch)
        .service(mark_submitted)
        .service(batch_x12);
}

/// Who reads batches.
const READERS: [Role; 4] = [Role::Admin, Role::Manager, Role::Biller, Role::Auditor];
/// Who builds, cancels, downloads and marks batches submitted.
const EDITORS: [Role; 2] = [Role::Biller, Role::Manager];
/// Who approves.
const APPROVERS: [Role; 1] = [Role::Manager];

fn load_view(conn: &mut DbConn, org: OrgId, b: Batch) -> Result<BatchView, AppError> {
    let ids = batches::claim_ids(conn, org, b.id)?;
    let history = batches::events(conn, org, b.id)?;
    BatchView::new(b, ids, history)
}

fn reason_of(body: &web::Bytes) -> Result<Option<String>, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let req: BatchActionRequest = crate::http::json::parse(body)?;
    let mut errs = FieldErrors::new();
    let r = crate::values::optional(&mut errs, "reason", req.reason.as_deref(), |v| {
        parse_text(v, 500)
    });
    errs.into_result()?;
    Ok(r)
}

/// The claims a new batch takes: the listed ones (each checked) or every ready claim.
fn pick_claims(
    conn: &mut DbConn,
    org: OrgId,
    input: &BatchInput,
    mut errs: FieldErrors,
) -> Result<Vec<Claim>, AppError> {
    let Some(ids) = &input.claim_ids else {
        errs.into_result()?;
        let rows: Vec<Claim> = c::claims
            .filter(c::org_id.eq(org.to_string()))
            .filter(c::status.eq(ClaimStatus::Ready.as_str()))
            .filter(c::kind.eq(input.kind.as_str()))
            .filter(c::payer_id.eq(input.payer_id.to_string()))
            .order(c::id.asc())
            .load(conn)?;
        if rows.is_empty() {
            return Err(AppError::field(
                "claim_ids",
                "no_claims",
                "there is no ready claim of this kind for this payer",
            ));
        }
        return Ok(rows);
    };
    let mut taken = Vec::new();
    let mut out = Vec::new();
    for (i, id) in ids {
        let field = format!("claim_ids[{i}]");
        let Some(cl) = claims::get_claim(conn, org, *id)? else {
            errs.add(field, "not_found", "no such claim in this organization");
            continue;
        };
        if cl.status == ClaimStatus::Batched {
            taken.push(cl.id.to_string());
            continue;
        }
        if cl.status != ClaimStatus::Ready {
            errs.add(
                field.clone(),
                "not_ready",
                format!("the claim is {}, not ready", cl.status),
            );
        }
        if cl.kind != input.kind.as_str() {
            errs.add(
                field.clone(),
                "wrong_kind",
                format!("the claim is {}, not {}", cl.kind, input.kind),
            );
        }
        if cl.payer_id != input.payer_id {
            errs.add(field, "wrong_payer", "the claim is for another payer");
        }
        out.push(cl);
    }
    errs.into_result()?;
    if !taken.is_empty() {
        let mut extra = serde_json::Map::new();
        extra.insert("claim_ids".into(), taken.into());
        return Err(AppError::Conflict {
            detail: "claim already batched: these claims are in another batch".into(),
            extra: Some(extra),
        });
    }
    Ok(out)
}

/// Create a batch: the listed claims, or every `ready` claim of the kind and payer, move to
/// `batched` in one transaction. A claim is never in two batches: of two requests racing for the
/// same claims, one gets `409` "claim already batched". Honors `Idempotency-Key`.
#[utoipa::path(
    tag = "batches",
    operation_id = "create_batch",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first response and creates nothing")),
    request_body = BatchRequest,
    responses(
        (status = 201, description = "The batch, `pending_approval`", body = BatchView),
        (status = 400, description = "Malformed JSON or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller and manager", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Claim already batched (`claim_ids` lists them)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them): kind, unknown payer, each bad claim as `claim_ids[i]` (not found, not ready, wrong kind or payer, duplicate), no ready claim at all", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/batches")]
async fn create_batch(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    body: Json<BatchRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&EDITORS)?;
    let key = idempotency::key(&req)?;
    let body = body.into_inner();
    let hash = idempotency::fingerprint("POST /batches", &body);
    let ctx = user.audit();
    let user_id = user.user_id;
    let (status, json) = state
        .db
        .write(move |conn| {
            let scope = "POST /batches";
            idempotency::once(
                conn,
                ctx.org,
                user_id,
                key.as_deref(),
                scope,
                &hash,
                |conn| {
                    let mut errs = FieldErrors::new();
                    let Some(input) = body.parse(&mut errs) else {
                        errs.into_result()?;
                        return Err(AppError::internal("batch request parsed without a kind"));
                    };
                    if crate::directory::repo::get_payer(conn, ctx.org, input.payer_id)?.is_none() {
                        errs.add(
                            "payer_id",
                            "not_found",
                            "no such payer in this organization",
                        );
                        return Err(errs
                            .into_result()
                            .err()
                            .unwrap_or_else(|| AppError::internal("payer check")));
                    }
                    let picked = pick_claims(conn, ctx.org, &input, errs)?;
                    let b = batches::create(conn, &ctx, input.kind, input.payer_id, &picked)?;
                    let view = load_view(conn, ctx.org, b)?;
                    Ok((201, idempotency::body(&view)?))
                },
            )
        })
        .await?;
    Ok(idempotency::answer(status, json))
}

/// List batches (filters: status, kind, payer), oldest first.
#[utoipa::path(
    tag = "batches",
    operation_id = "list_batches",
    security(("bearer" = [])),
    params(BatchQuery, PageQuery),
    responses(
        (status = 200, description = "A page of batches", body = Paged<BatchView>),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin, manager, biller and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter or pagination", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/batches")]
async fn list_batches(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<BatchQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    user.require(&READERS)?;
    let mut errs = FieldErrors::new();
    let filter = q.parse(&mut errs);
    let page = page.parse(&mut errs);
    errs.into_result()?;
    let org = user.org_id;
    let limit = page.limit;
    let views = state
        .db
        .read(move |conn| {
            let rows = batches::list(conn, org, &filter, &page)?;
            Paged::from_rows(rows, limit, |b| b.id.to_string()).try_map(|b| load_view(conn, org, b))
        })
        .await?;
    Ok(HttpResponse::Ok().json(views))
}

fn dollars(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let a = cents.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// One batch with its claims, totals and status history; with `Accept: text/csv`, its claims as
/// a spreadsheet (patient control number, patient, dates of service, status, total) — that read
/// of patient names is audited.
#[utoipa::path(
    tag = "batches",
    operation_id = "get_batch",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Batch id")),
    responses(
        (status = 200, description = "The batch (JSON), or its claims (`text/csv`)",
            content((BatchView = "application/json"), (String = "text/csv"))),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin, manager, biller and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such batch in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/batches/{id}")]
async fn get_batch(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    user.require(&READERS)?;
    let id: BatchId = path_id(&id, "batch")?;
    let csv = wants_csv(&req);
    let ctx = user.audit();
    if !csv {
        let org = ctx.org;
        let view = state
            .db
            .read(move |conn| {
                let b = batches::require(conn, org, id)?;
                load_view(conn, org, b)
            })
            .await?;
        return Ok(HttpResponse::Ok()
            .insert_header(etag(view.version))
            .json(view));
    }
    // The CSV names patients: its read is audited, in a write transaction.
    let rows = state
        .db
        .write(move |conn| {
            batches::require(conn, ctx.org, id)?;
            let mut rows = Vec::new();
            for cid in batches::claim_ids(conn, ctx.org, id)? {
                let cl = claims::require_claim(conn, ctx.org, cid)?;
                let p = crate::patients::repo::get_patient(conn, ctx.org, cl.patient_id)?
                    .ok_or_else(|| AppError::internal("claim patient vanished"))?;
                rows.push(vec![
                    cl.patient_control_number,
                    format!("{}, {}", p.last_name, p.first_name),
                    p.mrn,
                    cl.service_from.to_string(),
                    cl.service_to.to_string(),
                    cl.status.as_str().to_owned(),
                    dollars(cl.total_charge_cents),
                ]);
            }
            rows.sort();
            audit::record(
                conn,
                &ctx,
                "batch.export",
                "batch",
                Some(&id.to_string()),
                None,
            )?;
            Ok(rows)
        })
        .await?;
    csv_response(
        &format!("batch-{id}.csv"),
        &[
            "patient_control_number",
            "patient",
            "mrn",
            "service_from",
            "service_to",
            "status",
            "total_charge",
        ],
        rows,
    )
}

/// Runs a batch action in one transaction and answers the batch.
async fn act<F>(state: &AppState, ctx: AuditCtx, f: F) -> Result<HttpResponse, AppError>
where
    F: FnOnce(&mut DbConn, &AuditCtx) -> Result<Batch, AppError> + Send + 'static,
{
    let view = state
        .db
        .write(move |conn| {
            let b = f(conn, &ctx)?;
            load_view(conn, ctx.org, b)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(view.version))
        .json(view))
}

/// Approve a batch (manager, not its creator): assigns the interchange and group control
/// numbers (ISA13/GS06, from the organization's counter, never reused) and the approval instant
/// the 837 carries. Optional body `{"reason"}`; optional `If-Match`.
#[utoipa::path(
    tag = "batches",
    operation_id = "approve_batch",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Batch id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version being approved"),
    ),
    request_body(content = Option<BatchActionRequest>, description = "Optional"),
    responses(
        (status = 200, description = "The batch, `approved`", body = BatchView),
        (status = 400, description = "The body is not JSON, or `If-Match` is not an ETag like `\"3\"`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only manager", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such batch in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The approver created the batch, the batch is not pending approval (`allowed` lists its next states), or a stale version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `reason` (`errors`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/batches/{id}/approve")]
async fn approve_batch(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    user.require(&APPROVERS)?;
    let id: BatchId = path_id(&id, "batch")?;
    let version = if_match_version(&req)?;
    let reason = reason_of(&body)?;
    let me = user.user_id;
    act(&state, user.audit(), move |conn, ctx| {
        let b = batches::require(conn, ctx.org, id)?;
        if b.status != BatchStatus::PendingApproval {
            return Err(batches::illegal(b.status, "be approved"));
        }
        if b.created_by.as_deref() == Some(me.to_string().as_str()) {
            return Err(AppError::conflict(
                "the creator of a batch cannot approve it: another manager must",
            ));
        }
        let n = crate::db::next_counter(conn, ctx.org, "isa13")?;
        if n > 999_999_999 {
            return Err(AppError::internal("interchange control numbers exhausted"));
        }
        let why = reason.unwrap_or_else(|| "approved".into());
        batches::transition(
            conn,
            ctx,
            id,
            BatchStatus::Approved,
            Some(&why),
            version,
            Stamp {
                approved: Some((me, crate::db::now(), n)),
                submitted: None,
            },
        )
    })
    .await
}

/// Cancel a batch before submission: its claims return to `ready` (and may be batched again);
/// the batch keeps the list of claims it had. Optional body `{"reason"}`.
#[utoipa::path(
    tag = "batches",
    operation_id = "cancel_batch",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Batch id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version being cancelled"),
    ),
    request_body(content = Option<BatchActionRequest>, description = "Optional"),
    responses(
        (status = 200, description = "The batch, `cancelled`", body = BatchView),
        (status = 400, description = "The body is not JSON, or `If-Match` is not an ETag like `\"3\"`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller and manager", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such batch in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already submitted or cancelled (`allowed` lists its next states), or a stale version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `reason` (`errors`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/batches/{id}/cancel")]
async fn cancel_batch(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    user.require(&EDITORS)?;
    let id: BatchId = path_id(&id, "batch")?;
    let version = if_match_version(&req)?;
    let reason = reason_of(&body)?;
    act(&state, user.audit(), move |conn, ctx| {
        let why = reason.unwrap_or_else(|| "cancelled".into());
        let b = batches::transition(
            conn,
            ctx,
            id,
            BatchStatus::Cancelled,
            Some(&why),
            version,
            Stamp::default(),
        )?;
        let claim_why = format!("batch {id} cancelled");
        let ids = batches::claim_ids(conn, ctx.org, id)?;
        claims::transition_many(conn, ctx, &ids, ClaimStatus::Ready, &claim_why)?;
        batches::release_claims(conn, ctx.org, id)?;
        Ok(b)
    })
    .await
}

/// Mark an approved batch submitted (sent to the payer or clearinghouse): the batch and each of
/// its claims become `submitted`, with the time and who. Optional body `{"reason"}`.
#[utoipa::path(
    tag = "batches",
    operation_id = "mark_batch_submitted",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Batch id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version being changed"),
    ),
    request_body(content = Option<BatchActionRequest>, description = "Optional"),
    responses(
        (status = 200, description = "The batch, `submitted`", body = BatchView),
        (status = 400, description = "The body is not JSON, or `If-Match` is not an ETag like `\"3\"`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller and manager", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such batch in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not approved (`allowed` lists its next states), or a stale version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `reason` (`errors`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/batches/{id}/mark-submitted")]
async fn mark_submitted(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    user.require(&EDITORS)?;
    let id: BatchId = path_id(&id, "batch")?;
    let version = if_match_version(&req)?;
    let reason = reason_of(&body)?;
    let me = user.user_id;
    act(&state, user.audit(), move |conn, ctx| {
        let cur = batches::require(conn, ctx.org, id)?;
        if cur.status != BatchStatus::Approved {
            return Err(batches::illegal(cur.status, "be marked submitted"));
        }
        let why = reason.unwrap_or_else(|| "submitted".into());
        let b = batches::transition(
            conn,
            ctx,
            id,
            BatchStatus::Submitted,
            Some(&why),
            version,
            Stamp {
                approved: None,
                submitted: Some((me, crate::db::now())),
            },
        )?;
        let claim_why = format!("batch {id} submitted");
        let ids = batches::claim_ids(conn, ctx.org, id)?;
        claims::transition_many(conn, ctx, &ids, ClaimStatus::Submitted, &claim_why)?;
        Ok(b)
    })
    .await
}

/// The batch's X12 837 (`application/edi-x12`): 005010X222A1 for professional, 005010X224A2 for
/// dental. Approved or submitted batches only; the same batch always yields the same bytes
/// (control numbers and dates fixed at approval). Refused when a claim was voided since.
#[utoipa::path(
    tag = "batches",
    operation_id = "get_batch_x12",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Batch id")),
    responses(
        (status = 200, description = "The 837, as a download", content_type = "application/edi-x12", body = String),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller and manager", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such batch in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not approved or submitted; a claim voided since (`voided_claims`); the organization's billing settings incomplete (`missing_settings`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/batches/{id}/x12")]
async fn batch_x12(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    user.require(&EDITORS)?;
    let id: BatchId = path_id(&id, "batch")?;
    let ctx = user.audit();
    let db = state.db.clone();
    let (name, bytes) = state
        .db
        .write(move |conn| {
            let b = batches::require(conn, ctx.org, id)?;
            let x12 = super::batches_x12::prepare(conn, ctx.org, &b)?;
            let mut out = Vec::with_capacity(1024 + x12.claims() * 1024);
            db.with_spare(|spare| x12.write(conn, spare, &mut out))?;
            audit::record(
                conn,
                &ctx,
                "batch.x12",
                "batch",
                Some(&id.to_string()),
                Some(serde_json::json!({ "claims": x12.claims() })),
            )?;
            let ix = &x12.interchange;
            let suffix = match ix.kind {
                ClaimKind::Professional => "837P",
                ClaimKind::Dental => "837D",
            };
            Ok((format!("{suffix}-{:09}.x12", ix.control_number), out))
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/edi-x12"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(bytes))
}
