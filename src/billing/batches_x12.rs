//! Gathers what the 837 of a batch needs (organization, payer, claims with patient, coverage,
//! rendering provider and lines) into the plain values of [`super::x12::writer`], and writes it.
//!
//! The claims are read, converted and written [`CHUNK`] at a time (each chunk's rows and
//! `Claim837` values dropped once its segments are written): the 837 of 10 000 claims used to
//! hold every row and value at once (+92 MB at the peak, BENCHMARKS.md "Memory"). The output is
//! the same bytes: the writer is handed the claims in the same order (patient control number,
//! unique per organization) through an iterator.

use std::collections::HashMap;
use std::io::Write;

use super::batches::Batch;
use super::schema::batch_claims::dsl as bc;
use super::x12::writer::{
    self, Address, BillingProvider, Claim837, Interchange, Line837, Person, Receiver, Rendering,
    Submitter,
};
use crate::claims::domain::ClaimStatus;
use crate::claims::repo::json_list;
use crate::claims::schema::{claim_lines::dsl as cl, claims::dsl as cs};
use crate::db::schema::{coverages::dsl as cv, patients::dsl as pa};
use crate::db::{
    ClaimId, CoverageId, DbConn, OrgId, PROBE_CHUNK, PatientId, ProviderId, load_by_ids,
    load_by_ids_at_most, parse_id,
};
use crate::directory::domain::ProviderKind;
use crate::directory::repo as directory;
use crate::error::AppError;
use crate::patients::domain::{Priority, Relationship};
use crate::patients::{coverage_repo, repo as patients};
use diesel::prelude::*;

/// Claims read, converted and written at a time.
pub const CHUNK: usize = 500;

fn address(a: crate::values::Address) -> Address {
    Address {
        line1: a.line1,
        line2: a.line2,
        city: a.city,
        state: a.state,
        postal_code: a.postal_code,
    }
}

/// A batch's 837, checked and ready to write: its envelope and its claims in output order.
pub struct Prepared {
    pub interchange: Interchange,
    org_id: OrgId,
    payer_name: String,
    payer_id: String,
    /// The batch's claims by patient control number.
    order: Vec<ClaimId>,
}

/// Checks that the 837 of a batch can be written: `409` when the batch cannot be generated
/// (status, voided claims, missing settings). Reads only the claims' ids, control numbers and
/// statuses; [`Prepared::write`] reads the rest.
pub fn prepare(conn: &mut DbConn, org_id: OrgId, batch: &Batch) -> Result<Prepared, AppError> {
    if !batch.status.can_generate() {
        return Err(AppError::Conflict {
            detail: format!(
                "a {} batch has no 837: only approved or submitted batches do",
                batch.status
            ),
            extra: None,
        });
    }
    let (Some(control), Some(at)) = (batch.interchange_control_number, batch.approved_at) else {
        return Err(AppError::internal("approved batch without control number"));
    };
    let org = crate::orgs::repo::get_org(conn, org_id)?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let payer = directory::get_payer(conn, org_id, batch.payer_id)?
        .ok_or_else(|| AppError::internal("batch payer vanished"))?;

    let mut missing = Vec::new();
    let mut need = |name: &str, v: &Option<String>| -> String {
        match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => s.to_owned(),
            None => {
                missing.push(name.to_owned());
                String::new()
            }
        }
    };
    let npi = need("npi", &org.npi);
    let tax_id = need("tax_id", &org.tax_id);
    let submitter_id = need("submitter_id", &org.submitter_id);
    let line1 = need("address.line1", &org.address_line1);
    let city = need("address.city", &org.city);
    let state = need("address.state", &org.state);
    let postal_code = need("address.postal_code", &org.postal_code);
    if org.contact_phone.is_none() && org.contact_email.is_none() && org.phone.is_none() {
        missing.push("contact_phone".to_owned());
    }
    if !missing.is_empty() {
        let mut extra = serde_json::Map::new();
        extra.insert("missing_settings".into(), missing.clone().into());
        return Err(AppError::Conflict {
            detail: format!(
                "the organization's billing settings are incomplete: {}",
                missing.join(", ")
            ),
            extra: Some(extra),
        });
    }

    // The batch's claims in output order (patient control number), in one statement.
    let heads = bc::batch_claims
        .inner_join(cs::claims.on(cs::id.eq(bc::claim_id).and(cs::org_id.eq(bc::org_id))))
        .filter(bc::org_id.eq(org_id.to_string()))
        .filter(bc::batch_id.eq(batch.id.to_string()))
        .order(cs::patient_control_number.asc())
        .select((cs::id, cs::patient_control_number, cs::status));
    let heads: Vec<(String, String, String)> = crate::db::load(conn, heads)?;
    if heads.len() != usize::try_from(batch.claim_count).unwrap_or(usize::MAX) {
        return Err(AppError::internal(
            "batch membership does not match its claim count",
        ));
    }
    let mut voided = Vec::new();
    for (_, pcn, status) in &heads {
        let status: ClaimStatus = status
            .parse()
            .map_err(|_| AppError::internal("unknown claim status in database"))?;
        if matches!(status, ClaimStatus::Void | ClaimStatus::Replaced) {
            voided.push(pcn.clone());
        }
    }
    if !voided.is_empty() {
        let mut extra = serde_json::Map::new();
        extra.insert("voided_claims".into(), voided.clone().into());
        return Err(AppError::Conflict {
            detail: format!(
                "claims of this batch were voided or replaced since: {}",
                voided.join(", ")
            ),
            extra: Some(extra),
        });
    }
    let order = heads
        .iter()
        .map(|(id, _, _)| parse_id(id))
        .collect::<Result<Vec<ClaimId>, _>>()?;
    drop(heads);

    let interchange = Interchange {
        kind: batch.kind()?,
        control_number: control,
        at,
        test: false,
        submitter: Submitter {
            id: submitter_id,
            name: org
                .submitter_name
                .clone()
                .unwrap_or_else(|| org.name.clone()),
            contact_name: org
                .contact_name
                .clone()
                .unwrap_or_else(|| org.submitter_name.clone().unwrap_or(org.name.clone())),
            contact_phone: org.contact_phone.clone().or(org.phone.clone()),
            contact_email: org.contact_email.clone(),
        },
        receiver: Receiver {
            id: payer
                .receiver_edi_id
                .clone()
                .unwrap_or_else(|| payer.edi_id.clone()),
            name: payer.receiver_name.clone().unwrap_or(payer.name.clone()),
        },
        billing_provider: BillingProvider {
            name: org.name.clone(),
            npi,
            tax_id,
            taxonomy_code: org.taxonomy_code.clone(),
            address: Address {
                line1,
                line2: org.address_line2.clone(),
                city,
                state,
                postal_code,
            },
        },
    };
    Ok(Prepared {
        interchange,
        org_id,
        payer_name: payer.name,
        payer_id: payer.edi_id,
        order,
    })
}

impl Prepared {
    /// How many claims the 837 holds.
    pub fn claims(&self) -> usize {
        self.order.len()
    }

    /// Writes the 837 into `out`, reading and converting [`CHUNK`] claims at a time.
    pub fn write<W: Write>(&self, conn: &mut DbConn, out: &mut W) -> Result<(), AppError> {
        self.write_in_chunks(conn, out, CHUNK)
    }

    /// [`Prepared::write`] with `chunk` claims at a time (at least 1): the bytes do not depend on
    /// it (tested with small chunks).
    pub fn write_in_chunks<W: Write>(
        &self,
        conn: &mut DbConn,
        out: &mut W,
        chunk: usize,
    ) -> Result<(), AppError> {
        let mut claims = Chunked {
            conn,
            prepared: self,
            chunks: self.order.chunks(chunk.max(1)),
            providers: HashMap::new(),
            current: Vec::new().into_iter(),
            error: None,
        };
        let written = writer::write_837(out, &self.interchange, &mut claims);
        if let Some(e) = claims.error {
            return Err(e);
        }
        written.map_err(|e| AppError::internal(format!("x12 writer: {e}")))
    }
}

/// The claims of a [`Prepared`] 837, in order, read a chunk at a time. A database failure ends
/// the iteration early and is kept in `error` (the caller discards what was written).
struct Chunked<'a> {
    conn: &'a mut DbConn,
    prepared: &'a Prepared,
    chunks: std::slice::Chunks<'a, ClaimId>,
    /// Rendering providers met so far (a handful per organization).
    providers: HashMap<ProviderId, Option<Rendering>>,
    current: std::vec::IntoIter<Claim837>,
    error: Option<AppError>,
}

impl Iterator for Chunked<'_> {
    type Item = Claim837;

    fn next(&mut self) -> Option<Claim837> {
        loop {
            if let Some(c) = self.current.next() {
                return Some(c);
            }
            if self.error.is_some() {
                return None;
            }
            let ids = self.chunks.next()?;
            match load_chunk(self.conn, self.prepared, ids, &mut self.providers) {
                Ok(list) => self.current = list.into_iter(),
                Err(e) => {
                    self.error = Some(e);
                    return None;
                }
            }
        }
    }
}

/// The columns of a claim the 837 uses. The gathering reads tens of thousands of claims and
/// lines; reading only these (not the timestamps, totals and notes) halves what is decoded.
#[derive(Queryable)]
struct ClaimRow {
    #[diesel(deserialize_as = String)]
    id: ClaimId,
    #[diesel(deserialize_as = String)]
    patient_id: PatientId,
    #[diesel(deserialize_as = String)]
    coverage_id: CoverageId,
    rendering_provider_id: Option<String>,
    place_of_service: String,
    /// JSON array of ICD-10-CM codes.
    diagnoses: String,
    prior_authorization: Option<String>,
    patient_control_number: String,
    frequency_code: String,
    original_reference: Option<String>,
    payer_claim_number: Option<String>,
}

/// The columns of a claim line the 837 uses.
#[derive(Queryable)]
struct LineRow {
    #[diesel(deserialize_as = String)]
    claim_id: ClaimId,
    procedure_code: String,
    /// JSON arrays, as stored.
    modifiers: String,
    diagnosis_pointers: String,
    units: i64,
    charge_cents: i64,
    service_date: chrono::NaiveDate,
    tooth: Option<String>,
    surfaces: String,
    oral_cavity_area: Option<String>,
    line_control_number: String,
}

/// The `Claim837` values of `ids`, in that order: their claims, patients, coverages and lines in
/// a few queries (not four per claim).
fn load_chunk(
    conn: &mut DbConn,
    prepared: &Prepared,
    ids: &[ClaimId],
    providers: &mut HashMap<ProviderId, Option<Rendering>>,
) -> Result<Vec<Claim837>, AppError> {
    let org_id = prepared.org_id;
    let (payer_name, payer_id) = (&prepared.payer_name, &prepared.payer_id);
    let position: HashMap<ClaimId, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut slots: Vec<Option<ClaimRow>> = ids.iter().map(|_| None).collect();
    for c in load_by_ids_at_most(conn, ids, PROBE_CHUNK, |conn, chunk| {
        Ok(crate::db::load::<_, ClaimRow>(
            conn,
            cs::claims
                .filter(crate::same_org!(cs::org_id, org_id.to_string()))
                .filter(cs::id.eq_any(chunk))
                .select((
                    cs::id,
                    cs::patient_id,
                    cs::coverage_id,
                    cs::rendering_provider_id,
                    cs::place_of_service,
                    cs::diagnoses,
                    cs::prior_authorization,
                    cs::patient_control_number,
                    cs::frequency_code,
                    cs::original_reference,
                    cs::payer_claim_number,
                )),
        )?)
    })? {
        if let Some(&i) = position.get(&c.id) {
            slots[i] = Some(c);
        }
    }
    let rows = slots
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| AppError::internal("batch claim vanished"))?;

    let mut patient_ids: Vec<String> = rows.iter().map(|c| c.patient_id.to_string()).collect();
    patient_ids.sort();
    patient_ids.dedup();
    let patients_by: HashMap<_, _> = load_by_ids(conn, &patient_ids, |conn, chunk| {
        Ok(crate::db::load::<_, patients::Patient>(
            conn,
            pa::patients
                .filter(crate::same_org!(pa::org_id, org_id.to_string()))
                .filter(pa::id.eq_any(chunk)),
        )?)
    })?
    .into_iter()
    .map(|p| (p.id, p))
    .collect();
    let mut coverage_ids: Vec<String> = rows.iter().map(|c| c.coverage_id.to_string()).collect();
    coverage_ids.sort();
    coverage_ids.dedup();
    let coverages_by: HashMap<_, _> = load_by_ids(conn, &coverage_ids, |conn, chunk| {
        Ok(crate::db::load::<_, coverage_repo::Coverage>(
            conn,
            cv::coverages
                .filter(crate::same_org!(cv::org_id, org_id.to_string()))
                .filter(cv::id.eq_any(chunk)),
        )?)
    })?
    .into_iter()
    .map(|c| (c.id, c))
    .collect();
    let mut lines_by: HashMap<ClaimId, Vec<LineRow>> = HashMap::new();
    for l in load_by_ids_at_most(conn, ids, PROBE_CHUNK, |conn, chunk| {
        Ok(crate::db::load::<_, LineRow>(
            conn,
            cl::claim_lines
                .filter(cl::org_id.eq(org_id.to_string()))
                .filter(cl::claim_id.eq_any(chunk))
                .order((cl::claim_id.asc(), cl::line_number.asc()))
                .select((
                    cl::claim_id,
                    cl::procedure_code,
                    cl::modifiers,
                    cl::diagnosis_pointers,
                    cl::units,
                    cl::charge_cents,
                    cl::service_date,
                    cl::tooth,
                    cl::surfaces,
                    cl::oral_cavity_area,
                    cl::line_control_number,
                )),
        )?)
    })? {
        lines_by.entry(l.claim_id).or_default().push(l);
    }

    let mut out = Vec::with_capacity(rows.len());
    for c in rows {
        let patient = patients_by
            .get(&c.patient_id)
            .ok_or_else(|| AppError::internal("claim patient vanished"))?;
        let cov = coverages_by
            .get(&c.coverage_id)
            .ok_or_else(|| AppError::internal("claim coverage vanished"))?;
        let lines = lines_by.remove(&c.id).unwrap_or_default();
        let rendering = match c
            .rendering_provider_id
            .as_deref()
            .and_then(|p| p.parse().ok())
        {
            None => None,
            Some(pid) => {
                if let std::collections::hash_map::Entry::Vacant(slot) = providers.entry(pid) {
                    let r = directory::get_provider(conn, org_id, pid)?.map(|p| {
                        let is_person = p.kind == ProviderKind::Individual;
                        Rendering {
                            is_person,
                            last_name: if is_person {
                                p.last_name.unwrap_or_default()
                            } else {
                                p.organization_name.unwrap_or_default()
                            },
                            first_name: p.first_name,
                            npi: p.npi,
                            taxonomy_code: p.taxonomy_code,
                        }
                    });
                    slot.insert(r);
                }
                providers.get(&pid).cloned().flatten()
            }
        };
        let patient_person = Person {
            address: address(patient.address()),
            last_name: patient.last_name.clone(),
            first_name: patient.first_name.clone(),
            middle_name: patient.middle_name.clone(),
            birth_date: patient.birth_date,
            sex: patient.sex.as_str().to_owned(),
        };
        let (subscriber, pat) = match cov.relationship {
            Relationship::Myself => (patient_person, None),
            rel => {
                let sub = Person {
                    last_name: cov.subscriber_last_name.clone().unwrap_or_default(),
                    first_name: cov.subscriber_first_name.clone().unwrap_or_default(),
                    middle_name: None,
                    birth_date: cov
                        .subscriber_birth_date
                        .unwrap_or(patient_person.birth_date),
                    sex: cov.subscriber_sex.clone().unwrap_or_else(|| "U".into()),
                    address: Address {
                        line1: cov.subscriber_address_line1.clone().unwrap_or_default(),
                        line2: cov.subscriber_address_line2.clone(),
                        city: cov.subscriber_city.clone().unwrap_or_default(),
                        state: cov.subscriber_state.clone().unwrap_or_default(),
                        postal_code: cov.subscriber_postal_code.clone().unwrap_or_default(),
                    },
                };
                let code = match rel {
                    Relationship::Spouse => "01",
                    Relationship::Child => "19",
                    _ => "G8",
                };
                (sub, Some((patient_person, code.to_owned())))
            }
        };
        let diagnoses = json_list(&c.diagnoses);
        out.push(Claim837 {
            subscriber,
            member_id: cov.member_id.clone(),
            group_number: cov.group_number.clone(),
            payer_responsibility: match cov.priority {
                Priority::Primary => 'P',
                Priority::Secondary => 'S',
                Priority::Tertiary => 'T',
            },
            patient: pat,
            payer_name: payer_name.to_owned(),
            payer_id: payer_id.to_owned(),
            total_charge_cents: lines.iter().map(|l| l.charge_cents).sum(),
            place_of_service: c.place_of_service.clone(),
            payer_claim_number: c
                .original_reference
                .clone()
                .or(c.payer_claim_number.clone()),
            frequency_code: c.frequency_code,
            prior_authorization: c.prior_authorization,
            patient_control_number: c.patient_control_number,
            diagnoses,
            rendering,
            lines: lines
                .into_iter()
                .map(|l| Line837 {
                    modifiers: json_list(&l.modifiers),
                    diagnosis_pointers: json_list(&l.diagnosis_pointers),
                    surfaces: json_list(&l.surfaces),
                    procedure_code: l.procedure_code,
                    units: l.units,
                    charge_cents: l.charge_cents,
                    service_date: l.service_date,
                    place_of_service: None,
                    tooth: l.tooth,
                    oral_cavity_area: l.oral_cavity_area,
                    control_number: l.line_control_number,
                })
                .collect(),
        });
    }

    Ok(out)
}
