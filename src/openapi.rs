//! The OpenAPI 3.1 document: paths and schemas are collected from the handlers by
//! utoipa-actix-web; this module adds the description, tags and the bearer security scheme.

use actix_web::App;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_actix_web::AppExt;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Officina API",
        description = "Back office for medical and dental practices: lab specimens, insurance claims, \
X12 837/835, reports.\n\nAuthenticate with `POST /api/v1/auth/token`, then send \
`Authorization: Bearer <access_token>` (the Authorize button). Errors are RFC 9457 \
`application/problem+json`; lists are `{\"items\", \"next_cursor\"}` with `?limit=` and `?cursor=`.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "auth", description = "Tokens and the current user"),
        (name = "users", description = "User management (admin)"),
        (name = "audit", description = "The audit trail (admin, auditor)"),
        (name = "organization", description = "The practice's settings"),
        (name = "patients", description = "Patients (every read and change is audited)"),
        (name = "coverages", description = "Patients' insurance coverages"),
        (name = "providers", description = "Rendering, ordering and billing providers"),
        (name = "payers", description = "Insurance payers"),
        (name = "codes", description = "Code sets: ICD-10-CM and place of service (shipped), imported CPT/CDT/HCPCS/LOINC tables; search and validity checks"),
        (name = "fee-schedules", description = "Standard charges and per-payer expected amounts (admin writes)"),
        (name = "specimens", description = "Lab specimens: accessioning, custody chain, aliquots, results"),
        (name = "labels", description = "Specimen labels (Code 128)"),
        (name = "manifests", description = "Send-out manifests to reference labs"),
        (name = "charges", description = "Billable lab charges from verified tests"),
        (name = "claims", description = "Claims: drafts, the scrubber, finalize, void, replace, history"),
        (name = "batches", description = "Batches of ready claims: four-eyes approval, the X12 837P/837D file, submission"),
        (name = "acknowledgements", description = "999 and 277CA acknowledgements: batches and claims accepted or rejected, with the errors"),
        (name = "remittances", description = "835 remittances: payments, adjustments and reversals posted to the claim ledger"),
        (name = "reports", description = "Reports: A/R aging, denials, payments, batches, lab turnaround (JSON, CSV, XLSX)"),
        (name = "health", description = "Probes"),
    ),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The base document (info, tags, security scheme) before paths are collected.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The complete document, as served at `/api-docs/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, doc) = App::new()
        .into_utoipa_app()
        .openapi(base())
        .configure(crate::app::routes)
        .split_for_parts();
    let mut doc = doc;
    document_body_errors(&mut doc);
    doc
}

/// Every operation that takes a body can answer `400` (a body that does not parse) and `413` (a
/// body over its limit) before its handler runs; this documents both where a handler did not.
fn document_body_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let problem = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    crate::error::PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build(),
        )
    };
    for item in doc.paths.paths.values_mut() {
        let ops = [
            item.post.as_mut(),
            item.put.as_mut(),
            item.patch.as_mut(),
            item.delete.as_mut(),
        ];
        for op in ops.into_iter().flatten() {
            if op.request_body.is_none() {
                continue;
            }
            let responses = &mut op.responses.responses;
            responses
                .entry("400".into())
                .or_insert_with(|| problem("The body cannot be read or parsed"));
            responses
                .entry("413".into())
                .or_insert_with(|| problem("The body is over its size limit"));
        }
    }
}

/// The document as pretty JSON with a trailing newline (what `officina openapi` prints and what
/// `openapi/openapi.json` holds).
pub fn document_json() -> String {
    let mut s = document().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}
