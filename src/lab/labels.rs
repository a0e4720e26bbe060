//! Specimen labels: a Code 128 barcode of the accession number with the two patient identifiers,
//! the specimen type and the collection time, sized for a 2" × 1" label (50.8 mm × 25.4 mm).
//!
//! `GET /specimens/{id}/label` answers `image/svg+xml`; `?format=html` wraps the same SVG in a
//! print-ready page (`@page { size: 2in 1in; margin: 0 }`); `GET /specimens/labels?ids=…` prints
//! many labels, one per page. Every render reads patient-identifying data, so it is audited
//! (`specimen.label`) in a write transaction.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::domain::LabPriority;
use super::repo::{self, Specimen};
use crate::app::AppState;
use crate::audit;
use crate::auth::AuthUser;
use crate::auth::routes::path_id;
use crate::db::{DbConn, OrgId, SpecimenId};
use crate::error::{AppError, FieldErrors, Problem};

pub fn configure(cfg: &mut ServiceConfig) {
    // `/specimens/labels` must come before any `/specimens/{id}` route.
    cfg.service(batch_labels).service(specimen_label);
}

/// Most labels in one batch page.
pub const MAX_BATCH: usize = 200;

/// Label width and height in tenths of a millimetre (the SVG user unit).
const WIDTH: f64 = 508.0;
const HEIGHT: f64 = 254.0;
/// Quiet zone on each side of the bars, in modules (ISO/IEC 15417 asks for at least 10).
const QUIET_MODULES: usize = 10;
/// Top and bottom of the bars.
const BAR_TOP: f64 = 40.0;
const BAR_HEIGHT: f64 = 82.0;

/// Escapes text for XML and HTML content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Shortens `s` to at most `max` characters, marking a cut with an ellipsis.
fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// What a label shows (already looked up; no I/O here).
#[derive(Debug, Clone)]
pub struct LabelData {
    pub accession_number: String,
    /// `LAST, First`.
    pub patient_name: String,
    pub birth_date: chrono::NaiveDate,
    pub mrn: String,
    pub specimen_type: String,
    pub container: Option<String>,
    pub collected_at: Option<chrono::NaiveDateTime>,
    pub stat: bool,
}

/// The Code 128 modules (1 = bar, 0 = space) of an accession number, in character set B, with
/// its mod-103 check symbol and the stop pattern.
pub fn code128_modules(text: &str) -> Result<Vec<u8>, AppError> {
    let code = barcoders::sym::code128::Code128::new(format!("\u{0181}{text}"))
        .map_err(|e| AppError::internal(format!("code 128: {e}")))?;
    Ok(code.encode())
}

/// The barcode as SVG rectangles, filling `[x0, x0 + width)` with quiet zones included.
fn bars_svg(modules: &[u8], x0: f64, width: f64) -> String {
    let total = modules.len() + 2 * QUIET_MODULES;
    let x = width / total as f64;
    let mut out = String::new();
    let mut i = 0;
    while i < modules.len() {
        if modules[i] == 1 {
            let start = i;
            while i < modules.len() && modules[i] == 1 {
                i += 1;
            }
            let left = x0 + (QUIET_MODULES + start) as f64 * x;
            out.push_str(&format!(
                r#"<rect x="{left:.3}" y="{BAR_TOP}" width="{:.3}" height="{BAR_HEIGHT}"/>"#,
                (i - start) as f64 * x
            ));
        } else {
            i += 1;
        }
    }
    out
}

/// Renders one label as a standalone SVG document.
pub fn label_svg(d: &LabelData) -> Result<String, AppError> {
    let modules = code128_modules(&d.accession_number)?;
    let bars = bars_svg(&modules, 0.0, WIDTH);
    let collected = match d.collected_at {
        Some(t) => format!("Coll {}Z", t.format("%Y-%m-%d %H:%M")),
        None => "not collected".to_owned(),
    };
    let kind = match &d.container {
        Some(c) => format!("{} · {}", d.specimen_type, c),
        None => d.specimen_type.clone(),
    };
    let stat = if d.stat {
        r##"<rect x="392" y="4" width="108" height="32" rx="3" fill="#000"/><text x="446" y="29" font-size="27" font-weight="bold" fill="#fff" text-anchor="middle">STAT</text>"##
    } else {
        ""
    };
    let esc = |s: &str, max: usize| xml_escape(&fit(s, max));
    Ok(format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="50.8mm" height="25.4mm" viewBox="0 0 {w} {h}" "#,
            r#"font-family="DejaVu Sans, Arial, Helvetica, sans-serif">"#,
            r#"<title>{acc}</title>"#,
            r##"<rect x="0" y="0" width="{w}" height="{h}" fill="#fff"/>"##,
            r#"<text x="10" y="30" font-size="28" font-weight="bold">{acc}</text>"#,
            "{stat}",
            r##"<g fill="#000" shape-rendering="crispEdges">{bars}</g>"##,
            r#"<text x="10" y="150" font-size="26" font-weight="bold">{name}</text>"#,
            r#"<text x="10" y="180" font-size="23">DOB {dob} · MRN {mrn}</text>"#,
            r#"<text x="10" y="208" font-size="23">{kind}</text>"#,
            r#"<text x="10" y="236" font-size="23">{collected}</text>"#,
            "</svg>"
        ),
        w = WIDTH,
        h = HEIGHT,
        acc = xml_escape(&d.accession_number),
        stat = stat,
        bars = bars,
        name = esc(&d.patient_name, 28),
        dob = d.birth_date.format("%Y-%m-%d"),
        mrn = esc(&d.mrn, 16),
        kind = esc(&kind, 36),
        collected = xml_escape(&collected),
    ))
}

/// A print-ready page with one label per printed page (2" × 1" media).
pub fn labels_html(labels: &[LabelData]) -> Result<String, AppError> {
    let mut body = String::new();
    for d in labels {
        body.push_str("<div class=\"label\">");
        body.push_str(&label_svg(d)?);
        body.push_str("</div>\n");
    }
    let title = match labels {
        [one] => format!("Label {}", xml_escape(&one.accession_number)),
        _ => format!("{} specimen labels", labels.len()),
    };
    Ok(format!(
        concat!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\n",
            "<style>\n",
            "@page {{ size: 2in 1in; margin: 0 }}\n",
            "html, body {{ margin: 0; padding: 0; background: #fff }}\n",
            ".label {{ width: 2in; height: 1in; overflow: hidden; page-break-after: always; break-after: page }}\n",
            ".label:last-child {{ page-break-after: auto; break-after: auto }}\n",
            ".label svg {{ display: block; width: 2in; height: 1in }}\n",
            "@media screen {{ body {{ background: #ddd }} .label {{ background: #fff; margin: 8px }} }}\n",
            "</style></head>\n<body>\n{body}</body></html>\n"
        ),
        title = title,
        body = body,
    ))
}

/// Looks up what a label shows. A missing patient is an internal error (specimens always have one).
pub fn label_data(conn: &mut DbConn, org: OrgId, s: &Specimen) -> Result<LabelData, AppError> {
    let p = crate::patients::repo::get_patient(conn, org, s.patient_id)?
        .ok_or_else(|| AppError::internal("specimen without its patient"))?;
    Ok(LabelData {
        accession_number: s.accession_number.clone(),
        patient_name: format!("{}, {}", p.last_name.to_uppercase(), p.first_name),
        birth_date: p.birth_date,
        mrn: p.mrn,
        specimen_type: s.specimen_type.as_str().to_owned(),
        container: s.container.clone(),
        collected_at: s.collected_at,
        stat: s.priority == LabPriority::Stat,
    })
}

/// Loads and audits one label.
fn load_label(
    conn: &mut DbConn,
    user: &crate::audit::AuditCtx,
    id: SpecimenId,
) -> Result<LabelData, AppError> {
    let s = repo::require_specimen(conn, user.org, id)?;
    let data = label_data(conn, user.org, &s)?;
    audit::record(
        conn,
        user,
        "specimen.label",
        "specimen",
        Some(&id.to_string()),
        None,
    )?;
    Ok(data)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LabelQuery {
    /// `svg` (default) or `html` (a print-ready page).
    pub format: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct BatchQuery {
    /// Comma-separated specimen ids (1 to 200), printed in this order.
    pub ids: Option<String>,
}

fn svg_response(svg: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(svg)
}

fn html_response(html: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html)
}

/// A specimen's label: SVG (Code 128 of the accession number, patient name, birth date, MRN,
/// specimen type, collection time, STAT highlighted), or a print-ready HTML page.
#[utoipa::path(
    tag = "labels",
    operation_id = "get_specimen_label",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Specimen id"), LabelQuery),
    responses(
        (status = 200, description = "The label, 50.8 mm × 25.4 mm (2\" × 1\"); with `?format=html` a print-ready page, one label per page",
            content((String = "image/svg+xml"), (String = "text/html"))),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such specimen in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown format", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/specimens/{id}/label")]
async fn specimen_label(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<LabelQuery>,
) -> Result<HttpResponse, AppError> {
    let html = match q.format.as_deref().map(str::trim) {
        None | Some("") | Some("svg") => false,
        Some("html") => true,
        Some(_) => {
            return Err(AppError::field(
                "format",
                "invalid_enum",
                "must be one of: svg, html",
            ));
        }
    };
    let id: SpecimenId = path_id(&id, "specimen")?;
    let ctx = user.audit();
    let data = state.db.write(move |c| load_label(c, &ctx, id)).await?;
    if html {
        Ok(html_response(labels_html(std::slice::from_ref(&data))?))
    } else {
        Ok(svg_response(label_svg(&data)?))
    }
}

/// Parses the `ids` list: every problem at once, as `ids[i]`.
fn parse_ids(raw: Option<&str>) -> Result<Vec<SpecimenId>, AppError> {
    let mut errs = FieldErrors::new();
    let parts: Vec<&str> = raw
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        errs.add(
            "ids",
            "required",
            "list 1 to 200 specimen ids, comma-separated",
        );
    } else if parts.len() > MAX_BATCH {
        errs.add(
            "ids",
            "out_of_range",
            format!("at most {MAX_BATCH} labels per page"),
        );
    }
    let mut ids = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        match p.parse::<SpecimenId>() {
            Ok(id) if ids.contains(&id) => {
                errs.add(format!("ids[{i}]"), "duplicate", "is listed twice")
            }
            Ok(id) => ids.push(id),
            Err(_) => errs.add(format!("ids[{i}]"), "invalid_id", "must be an id (UUID)"),
        }
    }
    errs.into_result()?;
    Ok(ids)
}

/// Many labels on one print-ready HTML page (one label per 2" × 1" page). Any id that is not a
/// specimen of this organization makes the whole request `404`, naming the ids.
#[utoipa::path(
    tag = "labels",
    operation_id = "print_specimen_labels",
    security(("bearer" = [])),
    params(BatchQuery),
    responses(
        (status = 200, description = "A print-ready page, one label per page, in the order asked", content_type = "text/html", body = String),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Some ids are not specimens of this organization (`missing` lists them); nothing is printed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No ids, more than 200, a malformed or a repeated id (`ids[i]`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/specimens/labels")]
async fn batch_labels(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<BatchQuery>,
) -> Result<HttpResponse, AppError> {
    let ids = parse_ids(q.ids.as_deref())?;
    let ctx = user.audit();
    let labels = state
        .db
        .write(move |c| {
            let mut missing = Vec::new();
            for id in &ids {
                if repo::get_specimen(c, ctx.org, *id)?.is_none() {
                    missing.push(id.to_string());
                }
            }
            if !missing.is_empty() {
                return Err(AppError::NotFound(format!(
                    "specimen not found: {}",
                    missing.join(", ")
                )));
            }
            ids.iter()
                .map(|id| load_label(c, &ctx, *id))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(html_response(labels_html(&labels)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LabelData {
        LabelData {
            accession_number: "L26-0000001".into(),
            patient_name: "O'BRIEN & <SONS>, Ann".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1980, 2, 3).unwrap_or_default(),
            mrn: "M0000001".into(),
            specimen_type: "serum".into(),
            container: None,
            collected_at: None,
            stat: true,
        }
    }

    #[test]
    fn text_is_escaped_and_stat_shown() {
        let svg = label_svg(&sample()).unwrap_or_default();
        assert!(svg.contains("O&apos;BRIEN &amp; &lt;SONS&gt;, Ann"));
        assert!(!svg.contains("<SONS>"));
        assert!(svg.contains("STAT"));
        assert!(svg.contains("not collected"));
        assert!(svg.contains(r#"width="50.8mm" height="25.4mm""#));
    }

    #[test]
    fn code128_has_start_b_and_stop() {
        let m = code128_modules("L26-0000001").unwrap_or_default();
        // start B + 11 symbols + check: 11 modules each; stop 13 modules.
        assert_eq!(m.len(), 13 * 11 + 13);
        assert_eq!(&m[..11], &[1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(&m[m.len() - 13..], &[1, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 1]);
    }

    #[test]
    fn long_names_are_cut() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }
}
