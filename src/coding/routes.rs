//! Code-set and fee-schedule handlers.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::api::*;
use super::cli::{IMPORT_LIMIT, importable_system};
use super::domain::{self, CodeSystem};
use super::fees::{self, FeeLookup};
use super::repo::{self, ImportSummary};
use crate::app::AppState;
use crate::auth::domain::Role;
use crate::auth::extract::{AuthUser, Bearer};
use crate::auth::routes::path_id;
use crate::db::{FeeItemId, FeeScheduleId, PayerId};
use crate::error::{AppError, FieldErrors, Problem};
use crate::http::pagination::Paged;
use crate::http::{Json, PageQuery, etag, if_match_version};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(search_codes)
        .service(get_code)
        .service(check_code)
        .service(import_code_set)
        .service(lookup_fee)
        .service(list_fee_schedules)
        .service(create_fee_schedule)
        .service(get_fee_schedule)
        .service(update_fee_schedule)
        .service(list_fee_items)
        .service(put_fee_item)
        .service(delete_fee_item);
}

/// Who may read fee schedules.
const FEE_READERS: [Role; 4] = [Role::Admin, Role::Manager, Role::Biller, Role::Auditor];

/// The query as the start of a code: one word, upper case, ICD-10-CM without its dot.
fn code_prefix(system: CodeSystem, q: &str) -> Option<String> {
    let q = q.trim();
    if q.is_empty() || q.contains(char::is_whitespace) {
        return None;
    }
    let mut s = q.to_ascii_uppercase();
    if system == CodeSystem::Icd10cm {
        s = s.replacen('.', "", 1);
    }
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        .then_some(s)
}

/// Search a code set.
#[utoipa::path(
    tag = "codes",
    operation_id = "search_codes",
    security(("bearer" = [])),
    params(CodesQuery),
    responses(
        (status = 200, description = "A page of codes, best match first: the exact code, codes starting with the query, then descriptions containing every word (shorter codes, then shorter descriptions, first)", body = CodePage),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or unknown system, bad filter or pagination", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/codes")]
async fn search_codes(
    state: web::Data<AppState>,
    bearer: Bearer,
    q: web::Query<CodesQuery>,
) -> Result<HttpResponse, AppError> {
    // A bad query is answered after the caller is checked (401 first, as everywhere).
    let search = q.parse();
    if let Ok(s) = &search
        && let Some(page) = search_pipelined(&state, &bearer, s).await
    {
        return Ok(HttpResponse::Ok().json(page));
    }
    let page = bearer
        .read(&state.db, &Role::ALL, move |c, user| {
            let s = search?;
            Ok(match repo::index(c, user.org_id, s.system)? {
                Some(ix) => page_of(&ix, &s),
                None => CodePage {
                    items: Vec::new(),
                    next_cursor: None,
                },
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// On PostgreSQL, the caller check and the table's generation in one pipelined read by key, then
/// the search in the process's index of that generation, on the blocking pool (a search is
/// microseconds for most queries, but one-letter words or a far page walk much of a table, which
/// no worker thread should). `None` (no pipeline, a refusal, no table, an index not built yet):
/// the pool answers, and builds the index.
async fn search_pipelined(state: &AppState, bearer: &Bearer, s: &CodeSearch) -> Option<CodePage> {
    let system = s.system;
    // Only a generation whose index is built counts as answered here.
    let built = |generation: String| super::search::cached(&generation);
    let (_, ix) = if system.is_shipped() {
        bearer
            .check_pipelined(
                &state.db,
                &Role::ALL,
                |guard| repo::shipped_generation(guard, system),
                built,
            )
            .await?
    } else {
        bearer
            .check_pipelined(
                &state.db,
                &Role::ALL,
                |guard| repo::imported_generation(guard, system),
                built,
            )
            .await?
    };
    let s = s.clone();
    web::block(move || page_of(&ix, &s)).await.ok()
}

/// The page `s` asks for of `ix`'s matches.
fn page_of(ix: &super::search::Index, s: &CodeSearch) -> CodePage {
    let prefix = code_prefix(s.system, &s.q);
    let (hits, total) = ix.search(
        &s.q,
        prefix.as_deref(),
        s.billable_only,
        s.offset.saturating_add(s.limit),
    );
    let end = s.offset.saturating_add(s.limit).min(total);
    let items = hits
        .get(s.offset.min(hits.len())..)
        .unwrap_or_default()
        .iter()
        .map(|(i, _)| CodeView::new(s.system, ix.entry(*i)))
        .collect();
    CodePage {
        items,
        next_cursor: (end < total).then(|| encode_offset(end)),
    }
}

fn path_system(raw: &str) -> Result<CodeSystem, AppError> {
    raw.parse::<CodeSystem>()
        .map_err(|_| AppError::not_found("code system"))
}

/// One code (`E11.9` or `E119`).
#[utoipa::path(
    tag = "codes",
    operation_id = "get_code",
    security(("bearer" = [])),
    params(
        ("system" = String, Path, description = "`icd10cm`, `pos`, `cpt`, `hcpcs`, `cdt` or `loinc`", example = "icd10cm"),
        ("code" = String, Path, description = "The code, with or without the ICD-10-CM dot", example = "E11.9"),
    ),
    responses(
        (status = 200, description = "The code", body = CodeView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown system or code (or not in this organization's imported table)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/codes/{system}/{code}")]
async fn get_code(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    user.require(&Role::ALL)?;
    let (system, code) = path.into_inner();
    let system = path_system(&system)?;
    let code = system
        .normalize(&code)
        .map_err(|_| AppError::not_found("code"))?;
    let org = user.org_id;
    let found = state
        .db
        .read(move |c| repo::get_code(c, org, system, &code))
        .await?
        .ok_or_else(|| AppError::not_found("code"))?;
    Ok(HttpResponse::Ok().json(CodeView::new(system, &found)))
}

/// May this code go on a claim for this date of service?
///
/// Checks the format always; with a loaded (or imported) table also that the code exists, is
/// billable (ICD-10-CM headers are not) and is effective on the date.
#[utoipa::path(
    tag = "codes",
    operation_id = "check_code",
    security(("bearer" = [])),
    params(
        ("system" = String, Path, description = "`icd10cm`, `pos`, `cpt`, `hcpcs`, `cdt` or `loinc`", example = "icd10cm"),
        ("code" = String, Path, description = "The code as typed", example = "E11.9"),
        CheckQuery,
    ),
    responses(
        (status = 200, description = "The verdict (`valid`, or `reason`: invalid_format, unknown_code, not_billable, not_effective)", body = CodeCheckView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown system", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad date", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/codes/{system}/{code}/check")]
async fn check_code(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
    q: web::Query<CheckQuery>,
) -> Result<HttpResponse, AppError> {
    user.require(&Role::ALL)?;
    let (system, code) = path.into_inner();
    let system = path_system(&system)?;
    let mut errs = FieldErrors::new();
    let date = q
        .date
        .as_deref()
        .and_then(|d| errs.check("date", parse_date(d)));
    errs.into_result()?;
    let date = date.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let org = user.org_id;
    let verdict = state
        .db
        .read(move |c| repo::check_code(c, org, system, &code, date))
        .await?;
    Ok(HttpResponse::Ok().json(CodeCheckView::new(system, date, verdict)))
}

fn is_csv(req: &HttpRequest) -> bool {
    crate::http::body::media_type(req).is_some_and(|e| e == "text/csv" || e == "application/csv")
}

fn too_large() -> AppError {
    AppError::PayloadTooLarge(format!("code tables are limited to {IMPORT_LIMIT} bytes"))
}

/// Import the organization's licensed code table (replaces the previous one).
///
/// The body is CSV (`Content-Type: text/csv`, at most 20 MiB) with a header row naming `code`
/// and `description`, and optionally `effective_from` and `effective_to` (`YYYY-MM-DD`). A file
/// with any bad row is refused whole: the `422` lists every bad row (`rows[17].code`, counting
/// data rows from 0; the message gives the line number) and nothing changes.
#[utoipa::path(
    tag = "codes",
    operation_id = "import_code_set",
    security(("bearer" = [])),
    params(("system" = String, Path, description = "`cpt`, `cdt`, `hcpcs`, `loinc`, `carc` (claim adjustment reasons) or `rarc` (remittance remarks)", example = "cpt")),
    request_body(content = String, content_type = "text/csv", description = "code,description[,effective_from,effective_to]",
        example = "code,description,effective_from,effective_to\n99213,Office or other outpatient visit (your licensed descriptor),2026-01-01,\n"),
    responses(
        (status = 200, description = "Imported; the previous table of this system is replaced", body = ImportSummary),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown code system", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 20 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not text/csv", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A shipped system, a bad header, or bad rows (all of them)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/code-sets/{system}/import")]
async fn import_code_set(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    system: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    user.require(&[Role::Admin])?;
    let system = path_system(&system)?;
    let system = importable_system(system.as_str())
        .map_err(|e| AppError::field("system", e.code, &e.message))?;
    if !is_csv(&req) {
        return Err(AppError::UnsupportedMediaType(
            "the body must be CSV (Content-Type: text/csv)".into(),
        ));
    }
    let body = crate::http::body::read_limited(
        payload,
        crate::http::body::declared_length(&req),
        IMPORT_LIMIT,
        too_large,
    )
    .await?;
    let rows = web::block(move || domain::parse_import_csv(system, &body))
        .await
        .map_err(|e| AppError::internal(format!("blocking task failed: {e}")))?
        .map_err(AppError::Validation)?;
    let ctx = user.audit();
    let summary = state
        .db
        .write(move |c| repo::import_codes(c, &ctx, system, &rows))
        .await?;
    Ok(HttpResponse::Ok().json(summary))
}

/// Price a procedure: the standard charge and a payer's expected amount on a date.
#[utoipa::path(
    tag = "fee-schedules",
    operation_id = "lookup_fee",
    security(("bearer" = [])),
    params(LookupQuery),
    responses(
        (status = 200, description = "The amounts (absent when no schedule prices the code)", body = FeeLookup),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin, manager, biller, auditor and clinician", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or malformed code, modifier, payer or date (unknown payer included)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/fee-schedules/lookup")]
async fn lookup_fee(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<LookupQuery>,
) -> Result<HttpResponse, AppError> {
    user.require(&[
        Role::Admin,
        Role::Manager,
        Role::Biller,
        Role::Auditor,
        Role::Clinician,
    ])?;
    let mut errs = FieldErrors::new();
    let code = errs
        .require("code", q.code.as_deref())
        .and_then(|c| errs.check("code", domain::procedure_system(c)))
        .map(|(_, c)| c);
    let modifier = q
        .modifier
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .and_then(|m| errs.check("modifier", domain::check_modifier(m)));
    let payer = q
        .payer_id
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .and_then(|p| match p.parse::<PayerId>() {
            Ok(id) => Some(id),
            Err(_) => {
                errs.add(
                    "payer_id",
                    "unknown_payer",
                    "no such payer in this organization",
                );
                None
            }
        });
    let date = q
        .date
        .as_deref()
        .and_then(|d| errs.check("date", parse_date(d)));
    errs.into_result()?;
    let code = code.unwrap_or_default();
    let on = date.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let org = user.org_id;
    let found = state
        .db
        .read(move |c| {
            if let Some(p) = payer
                && crate::directory::repo::get_payer(c, org, p)?.is_none()
            {
                return Err(AppError::field(
                    "payer_id",
                    "unknown_payer",
                    "no such payer in this organization",
                ));
            }
            fees::fee_lookup(c, org, payer, &code, modifier.as_deref(), on)
        })
        .await?;
    Ok(HttpResponse::Ok().json(found))
}

/// List the organization's fee schedules.
#[utoipa::path(
    tag = "fee-schedules",
    operation_id = "list_fee_schedules",
    security(("bearer" = [])),
    params(SchedulesQuery, PageQuery),
    responses(
        (status = 200, description = "A page of fee schedules", body = Paged<FeeScheduleView>),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin, manager, biller and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter or pagination", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/fee-schedules")]
async fn list_fee_schedules(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<SchedulesQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    user.require(&FEE_READERS)?;
    let mut errs = FieldErrors::new();
    let (kind, payer) = q.parse(&mut errs);
    let page = page.parse(&mut errs);
    errs.into_result()?;
    let org = user.org_id;
    let limit = page.limit;
    let rows = state
        .db
        .read(move |c| fees::list_schedules(c, org, kind, payer, &page))
        .await?;
    let paged = Paged::from_rows(rows, limit, |s| s.id.to_string()).map(FeeScheduleView::from);
    Ok(HttpResponse::Ok().json(paged))
}

/// Create a fee schedule: the standard one (one per organization) or a payer's.
#[utoipa::path(
    tag = "fee-schedules",
    operation_id = "create_fee_schedule",
    security(("bearer" = [])),
    request_body = CreateFeeScheduleRequest,
    responses(
        (status = 201, description = "Created", body = FeeScheduleView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The organization already has a standard schedule", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them), or a payer not in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/fee-schedules")]
async fn create_fee_schedule(
    state: web::Data<AppState>,
    user: AuthUser,
    body: Json<CreateFeeScheduleRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&[Role::Admin])?;
    let new = body.into_inner().validate()?;
    let ctx = user.audit();
    let created = state
        .db
        .write(move |c| fees::create_schedule(c, &ctx, new))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(etag(created.version))
        .insert_header((
            header::LOCATION,
            format!("/api/v1/fee-schedules/{}", created.id),
        ))
        .json(FeeScheduleView::from(created)))
}

async fn load_schedule(
    state: &AppState,
    user: &AuthUser,
    raw: &str,
) -> Result<fees::FeeSchedule, AppError> {
    let id: FeeScheduleId = path_id(raw, "fee schedule")?;
    let org = user.org_id;
    state
        .db
        .read(move |c| fees::get_schedule(c, org, id))
        .await?
        .ok_or_else(|| AppError::not_found("fee schedule"))
}

/// One fee schedule.
#[utoipa::path(
    tag = "fee-schedules",
    operation_id = "get_fee_schedule",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Fee schedule id")),
    responses(
        (status = 200, description = "The schedule", body = FeeScheduleView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin, manager, biller and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such schedule in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/fee-schedules/{id}")]
async fn get_fee_schedule(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    user.require(&FEE_READERS)?;
    let found = load_schedule(&state, &user, &id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(found.version))
        .json(FeeScheduleView::from(found)))
}

/// Rename a fee schedule or change its effective period.
#[utoipa::path(
    tag = "fee-schedules",
    operation_id = "update_fee_schedule",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Fee schedule id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version being changed"),
    ),
    request_body = UpdateFeeScheduleRequest,
    responses(
        (status = 200, description = "Updated", body = FeeScheduleView),
        (status = 400, description = "Malformed JSON or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such schedule in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stale version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/fee-schedules/{id}")]
async fn update_fee_schedule(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<String>,
    body: Json<UpdateFeeScheduleRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&[Role::Admin])?;
    let id: FeeScheduleId = path_id(&id, "fee schedule")?;
    let (patch, body_version) = body.into_inner().validate()?;
    let version = if_match_version(&req)?.or(body_version);
    let ctx = user.audit();
    let updated = state
        .db
        .write(move |c| fees::update_schedule(c, &ctx, id, version, patch))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(updated.version))
        .json(FeeScheduleView::from(updated)))
}

/// List a schedule's items.
#[utoipa::path(
    tag = "fee-schedules",
    operation_id = "list_fee_items",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Fee schedule id"), ItemsQuery, PageQuery),
    responses(
        (status = 200, description = "A page of items", body = Paged<FeeItemView>),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin, manager, biller and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such schedule in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter or pagination", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/fee-schedules/{id}/items")]
async fn list_fee_items(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<ItemsQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    user.require(&FEE_READERS)?;
    let mut errs = FieldErrors::new();
    let code = q
        .code
        .as_deref()
        .and_then(|c| errs.check("code", domain::procedure_system(c)))
        .map(|(_, c)| c);
    let page = page.parse(&mut errs);
    errs.into_result()?;
    let schedule = load_schedule(&state, &user, &id).await?;
    let org = user.org_id;
    let limit = page.limit;
    let rows = state
        .db
        .read(move |c| fees::list_items(c, org, schedule.id, code.as_deref(), &page))
        .await?;
    let paged = Paged::from_rows(rows, limit, |i| i.id.to_string()).map(FeeItemView::from);
    Ok(HttpResponse::Ok().json(paged))
}

/// Set the amount of a procedure (code + optional modifier) on a schedule.
///
/// Creates the item (`201`) or updates the one with the same code and modifier (`200`).
#[utoipa::path(
    tag = "fee-schedules",
    operation_id = "put_fee_item",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Fee schedule id")),
    request_body = FeeItemRequest,
    responses(
        (status = 200, description = "Updated", body = FeeItemView),
        (status = 201, description = "Created", body = FeeItemView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such schedule in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/fee-schedules/{id}/items")]
async fn put_fee_item(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    body: Json<FeeItemRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&[Role::Admin])?;
    let schedule: FeeScheduleId = path_id(&id, "fee schedule")?;
    let item = body.into_inner().validate()?;
    let ctx = user.audit();
    let (saved, created) = state
        .db
        .write(move |c| fees::upsert_item(c, &ctx, schedule, item))
        .await?;
    let mut res = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(res
        .insert_header(etag(saved.version))
        .json(FeeItemView::from(saved)))
}

/// Remove an item from a schedule.
#[utoipa::path(
    tag = "fee-schedules",
    operation_id = "delete_fee_item",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Fee schedule id"),
        ("item_id" = String, Path, description = "Item id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such schedule or item in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/fee-schedules/{id}/items/{item_id}")]
async fn delete_fee_item(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    user.require(&[Role::Admin])?;
    let (id, item_id) = path.into_inner();
    let schedule: FeeScheduleId = path_id(&id, "fee schedule")?;
    let item: FeeItemId = path_id(&item_id, "fee schedule item")?;
    let ctx = user.audit();
    state
        .db
        .write(move |c| fees::delete_item(c, &ctx, schedule, item))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
