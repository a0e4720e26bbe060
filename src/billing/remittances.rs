//! Remittances: `POST /api/v1/remittances` takes an 835 (005010X221A1) and posts it to the claim
//! ledger; `GET` lists and reads what was received; `GET /api/v1/claims/{id}/ledger` shows a
//! claim's entries and balance.
//!
//! Posting rules (DESIGN §6.5):
//! - the payee must be this organization: N1*PE with N103 `XX` names its NPI or one of its
//!   providers' NPIs, with `FI` its EIN; otherwise the file is refused (`422`), nothing posted.
//!   A file without a payee id, or with another qualifier, is posted with a warning;
//! - each CLP is matched by CLP01 to a claim's patient control number in the caller's
//!   organization; one that matches none is listed in `claims_unmatched` (with its position `n`)
//!   and kept (parsed, as JSON) to be matched by hand: `POST /remittances/{id}/claims/{n}/match`
//!   posts it to the chosen claim with these same rules, records who and when, and moves it to
//!   `claims` in the summary. Never guessed;
//! - a claim whose CAS do not balance (line: charge − paid = Σ line CAS; claim: charge − paid =
//!   Σ claim and line CAS) is NOT posted and is listed in `imbalances` (`posted: false`); the
//!   other claims of the file are posted. A file whose BPR02 ≠ Σ CLP04 − Σ PLB is posted and the
//!   file imbalance reported (`posted: true`);
//! - SVC lines are matched to claim lines by REF*6R, else (no REF*6R) by procedure code + date
//!   of service when exactly one claim line not matched yet fits; otherwise the line is reported,
//!   and its adjustments are posted at claim level;
//! - the ledger gets, for a matched balanced claim: its charge (once, the first time the claim is
//!   posted), the payment (−CLP04), every CAS (−amount; group PR as `patient_responsibility`, the
//!   others as `adjustment`, line-level ones with the matched claim line's control number), and
//!   CLP07 is stored as the payer claim number. A claim's balance is the sum of its entries.
//!   AMT*B6 (allowed) and the LQ/MOA/MIA remark codes are stored (`remittance_claims`,
//!   `remittance_lines`) and shown, not posted: they move no money;
//! - status: CLP02 4, or a payment of 0 → `denied`; CLP02 1–3 and 19–21 with a payment → `paid`
//!   when the balance is 0, else `partially_paid`. A claim whose state cannot move there is listed
//!   in `skipped` and nothing of it is posted (a hand match answers `409`). CLP02 19–21 also
//!   records the forwarding (NM1*TT crossover payer, else `another payer`) on the remittance
//!   claim and as a claim event;
//! - CLP02 22 (reversal): every amount is posted again as a `reversal` counter-entry (the 835
//!   sends them negative, so the balance goes back up); the claim moves back to `accepted` when
//!   its state allows, else its status stays and it is listed in `skipped` with `posted: true`;
//! - PLB adjustments are ledger entries without a claim (`provider_adjustment`);
//! - idempotent by payer (TRN03, else REF*2U, else N1*PR) + TRN02: the same remittance again posts
//!   nothing and answers the first summary with `duplicate: true`; an `Idempotency-Key` replays
//!   the first answer (another file with the same key is `422`). All of it is one transaction,
//!   with its audit row. One 835 transaction set per file.
//!
//! Nothing in the ledger is ever updated or deleted; the remittance summary is a view that a
//! hand match updates, the `remittance_claims` rows keep the history (`outcome`, `matched_by`,
//! `matched_at`).
//!
//! Files: this one (handlers), `remittances_api` (DTOs), `remittances_repo` (tables, import, reads),
//! `remittances_posting` (the set-based posting of CLPs).

#[path = "remittances_api.rs"]
pub mod api;
#[path = "remittances_pg_rows.rs"]
mod pg_rows;
#[path = "remittances_posting.rs"]
pub mod posting;
#[path = "remittances_repo.rs"]
pub mod repo;

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use utoipa_actix_web::service_config::ServiceConfig;

use self::api::*;
use crate::app::AppState;
use crate::auth::routes::path_id;
use crate::auth::{AuthUser, Role};
use crate::billing::x12::reader::remit835;
use crate::db::{ClaimId, RemittanceId};
use crate::error::{AppError, FieldErrors, Problem};
use crate::http::PageQuery;
use crate::http::pagination::Paged;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(import_remittance)
        .service(list_remittances)
        .service(get_remittance)
        .service(match_claim)
        .service(claim_ledger)
        .service(write_off);
}

/// Who imports remittances.
const IMPORTERS: [Role; 2] = [Role::Biller, Role::Manager];
/// Who reads them.
const READERS: [Role; 4] = [Role::Biller, Role::Manager, Role::Admin, Role::Auditor];

/// Largest remittance file accepted.
pub const UPLOAD_LIMIT: usize = 20 * 1024 * 1024;

fn too_large() -> AppError {
    AppError::PayloadTooLarge(format!(
        "remittance files are limited to {UPLOAD_LIMIT} bytes (20 MiB)"
    ))
}

/// Import an 835 remittance and post it to the ledger.
///
/// The body is the raw X12 file (`Content-Type: application/edi-x12`, `text/plain` or
/// `application/octet-stream`, at most 20 MiB). A file that is not X12, is truncated, is not an
/// 835, holds more than one 835, or has an amount that does not parse is `400` and nothing is
/// posted. Otherwise the whole remittance is posted in one transaction (see the module rules:
/// unbalanced claims are reported in `imbalances` and not posted, unknown patient control numbers
/// in `claims_unmatched`). The same payer and trace number again posts nothing and answers the
/// first import's summary with `duplicate: true` (`200` instead of `201`).
#[utoipa::path(
    tag = "remittances",
    operation_id = "import_remittance",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and file returns the first response and posts nothing; the same key with another file is 422")),
    request_body(content = String, content_type = "application/edi-x12", description = "An 835 (005010X221A1) interchange"),
    responses(
        (status = 201, description = "Posted: what it said and what was posted", body = RemittanceView),
        (status = 200, description = "This payer's trace number was imported before: nothing posted (`duplicate: true`)", body = RemittanceView),
        (status = 400, description = "Not X12, truncated, control number or count mismatch, not an 835, or an amount that does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller and manager", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 20 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/edi-x12, text/plain or application/octet-stream", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The payee (N1*PE) is not this organization (its NPI, one of its providers' NPIs, or its EIN), or the Idempotency-Key was used for another file; nothing posted", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/remittances")]
async fn import_remittance(
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
    let parsed = web::block(move || {
        let hash = file_hash(&body);
        (hash, remit835::read_remittances(&body))
    })
    .await
    .map_err(|e| AppError::internal(format!("blocking task failed: {e}")))?;
    let (hash, read) = parsed;
    let mut sets = read.map_err(|e| AppError::BadRequest(e.message().to_owned()))?;
    if sets.len() != 1 {
        return Err(AppError::BadRequest(format!(
            "the file holds {} 835 transaction sets; send one per file",
            sets.len()
        )));
    }
    let key = crate::http::idempotency::key(&req)?;
    let fingerprint = crate::http::idempotency::fingerprint("POST /remittances", &hash);
    let rem = std::sync::Arc::new(sets.remove(0));
    let hash = std::sync::Arc::new(hash);
    let key = std::sync::Arc::new((key, fingerprint));
    let ctx = user.audit();
    let user_id = user.user_id;
    let run = |ctx: crate::audit::AuditCtx| {
        let (rem, hash, key) = (rem.clone(), hash.clone(), key.clone());
        state.db.write(move |c| {
            use crate::http::idempotency;
            let (key, fingerprint) = &*key;
            let scope = "POST /remittances";
            idempotency::once(
                c,
                ctx.org,
                user_id,
                key.as_deref(),
                scope,
                fingerprint,
                |c| {
                    let (view, created) = repo::import(c, &ctx, &hash, &rem)?;
                    let status = if created { 201 } else { 200 };
                    Ok((status, idempotency::body(&view)?))
                },
            )
        })
    };
    // The same remittance imported concurrently: the second waits on the unique (org, payer,
    // trace) key and fails; once more, it finds the first import and answers `duplicate: true`
    // (or, with the same Idempotency-Key, the first answer).
    let (status, json) = match run(ctx.clone()).await {
        Err(AppError::Conflict { .. }) => run(ctx).await?,
        other => other?,
    };
    Ok(crate::http::idempotency::answer(status, json))
}

/// SHA-256 of a remittance file, hex (stored on the remittance).
pub fn file_hash(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// List received remittances (oldest first).
#[utoipa::path(
    tag = "remittances",
    operation_id = "list_remittances",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of remittances with their summaries", body = Paged<RemittanceView>),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller, manager, admin and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad pagination", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/remittances")]
async fn list_remittances(
    state: web::Data<AppState>,
    user: AuthUser,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    user.require(&READERS)?;
    let mut errs = FieldErrors::new();
    let page = page.parse(&mut errs);
    errs.into_result()?;
    let org = user.org_id;
    let limit = page.limit;
    let rows = state.db.read(move |c| repo::list(c, org, &page)).await?;
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

/// Read one remittance: what it said and what was posted.
#[utoipa::path(
    tag = "remittances",
    operation_id = "get_remittance",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Remittance id")),
    responses(
        (status = 200, description = "The remittance", body = RemittanceView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller, manager, admin and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such remittance in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/remittances/{id}")]
async fn get_remittance(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    user.require(&READERS)?;
    let id: RemittanceId = path_id(&id, "remittance")?;
    let org = user.org_id;
    let row = state
        .db
        .read(move |c| repo::get(c, org, id))
        .await?
        .ok_or_else(|| AppError::not_found("remittance"))?;
    Ok(HttpResponse::Ok().json(row.view(false)?))
}

/// Match an unmatched CLP of a remittance to a claim by hand and post it.
///
/// `n` is the CLP's position in the file (`claims_unmatched[].n`). The CLP is posted to the claim
/// with the import's rules (balancing, statuses, ledger entries, CLP07, lines matched by REF*6R
/// or procedure code and date); who matched it and when is recorded. Answers the remittance's
/// updated summary.
#[utoipa::path(
    tag = "remittances",
    operation_id = "match_remittance_claim",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Remittance id"),
        ("n" = usize, Path, description = "Position of the CLP in the file (1-based), as in `claims_unmatched[].n`"),
    ),
    request_body = MatchRequest,
    responses(
        (status = 200, description = "Posted: the remittance's summary, the CLP now among `claims`", body = RemittanceView),
        (status = 400, description = "Malformed JSON or path", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller and manager", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such remittance, CLP, or claim in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The CLP is matched or posted already, does not balance, or the claim's state cannot take the posting; nothing posted", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No claim_id, or not an id", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/remittances/{id}/claims/{n}/match")]
async fn match_claim(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
    body: crate::http::Json<MatchRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&IMPORTERS)?;
    let (id, n) = path.into_inner();
    let id: RemittanceId = path_id(&id, "remittance")?;
    let n: usize = n
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| AppError::not_found("remittance claim"))?;
    let mut errs = FieldErrors::new();
    let claim_id: Option<ClaimId> = match body.claim_id.as_deref().map(str::trim) {
        None | Some("") => {
            errs.add("claim_id", "required", "is required");
            None
        }
        Some(s) => match s.parse::<ClaimId>() {
            Ok(c) => Some(c),
            Err(_) => {
                errs.add("claim_id", "invalid_id", "is not a claim id");
                None
            }
        },
    };
    errs.into_result()?;
    let Some(claim_id) = claim_id else {
        return Err(AppError::field("claim_id", "required", "is required"));
    };
    let ctx = user.audit();
    let view = state
        .db
        .write(move |c| repo::match_claim(c, &ctx, id, n, claim_id))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// A claim's ledger: every entry, and the charge, paid, patient responsibility, adjustment and
/// balance sums.
#[utoipa::path(
    tag = "remittances",
    operation_id = "get_claim_ledger",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Claim id")),
    responses(
        (status = 200, description = "The claim's ledger", body = ClaimLedgerView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller, manager, admin and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such claim in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/claims/{id}/ledger")]
async fn claim_ledger(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    user.require(&READERS)?;
    let id: ClaimId = path_id(&id, "claim")?;
    let org = user.org_id;
    let view = state
        .db
        .read(move |c| {
            crate::claims::repo::get_claim(c, org, id)?
                .ok_or_else(|| AppError::not_found("claim"))?;
            repo::claim_ledger(c, org, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// A write-off request.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct WriteOffRequest {
    /// Why the balance is written off (small balance, timely filing, charity…).
    #[schema(example = "small balance")]
    pub reason: Option<String>,
    /// How much; default the whole balance.
    pub amount_cents: Option<i64>,
}

/// Write off a settled claim's balance (manager): a `write_off` ledger entry; the claim is
/// `closed` when its balance reaches 0.
#[utoipa::path(
    tag = "remittances",
    operation_id = "write_off_claim",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Claim id")),
    request_body = WriteOffRequest,
    responses(
        (status = 200, description = "The claim's ledger after the write-off", body = ClaimLedgerView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only manager", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such claim in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The claim is not paid, partially paid or denied", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason, or an amount beyond the balance", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/claims/{id}/write-off")]
async fn write_off(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    body: crate::http::Json<WriteOffRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&[Role::Manager])?;
    let id: ClaimId = path_id(&id, "claim")?;
    let mut errs = FieldErrors::new();
    let reason = crate::values::required(&mut errs, "reason", body.reason.as_deref(), |v| {
        crate::values::parse_text(v, 500)
    });
    errs.into_result()?;
    let reason = reason.unwrap_or_default();
    let amount = body.amount_cents;
    let ctx = user.audit();
    let view = state
        .db
        .write(move |c| repo::write_off(c, &ctx, id, amount, &reason))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
