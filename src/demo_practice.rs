//! The demo practice's data: settings, providers, payers, patients with insurance, and
//! specimens in several states, so a newcomer sees every feature at once. Built through the
//! same repository functions the API uses (so it is audited like real work).

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::audit::AuditCtx;
use crate::auth::Role;
use crate::claims::domain::ClaimStatus;
use crate::claims::repo::{self as claims, ClaimFields, LineFields as ClaimLine, Origin};
use crate::claims::scrubber::Severity;
use crate::claims::validate::scrub_claim;
use crate::db::{CoverageId, DbConn, OrgId, PatientId, PayerId, ProviderId, UserId};
use crate::directory::domain::{ClaimKind, ProviderKind};
use crate::directory::repo::{self as directory, PayerFields, ProviderFields};
use crate::error::AppError;
use crate::lab::domain::{LabPriority, ResultFlag, SpecimenStatus, SpecimenType, TestCodeSystem};
use crate::lab::repo::{self as lab, Change, NewSpecimen, NewTest, ResultInput};
use crate::orgs::repo::{self as orgs, OrgSettings};
use crate::patients::coverage_repo::{self as coverages, CoverageFields, Subscriber};
use crate::patients::domain::{Period, Priority, Relationship};
use crate::patients::repo::{self as patients, PatientFields};
use crate::values::{Address, Sex};

fn date(y: i32, m: u32, d: u32) -> Result<NaiveDate, AppError> {
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| AppError::internal("bad demo date"))
}

fn address(line1: &str, city: &str, zip: &str) -> Address {
    Address {
        line1: line1.into(),
        line2: None,
        city: city.into(),
        state: "IL".into(),
        postal_code: zip.into(),
    }
}

fn ctx(org: OrgId, users: &HashMap<Role, UserId>, role: Role) -> AuditCtx {
    AuditCtx {
        org,
        actor: users.get(&role).copied(),
        request_id: Some("demo-seed".into()),
    }
}

/// Seeds everything but users and fee schedules (see `demo::seed`).
pub fn seed(conn: &mut DbConn, org: OrgId, users: &HashMap<Role, UserId>) -> Result<(), AppError> {
    let admin = ctx(org, users, Role::Admin);
    let current = orgs::get_org(conn, org)?.ok_or_else(|| AppError::not_found("organization"))?;
    orgs::update_settings(
        conn,
        &admin,
        current.version,
        OrgSettings {
            name: current.name.clone(),
            npi: current.npi.clone(),
            tax_id: current.tax_id.clone(),
            taxonomy_code: Some("207Q00000X".into()),
            address: Some(address("100 River Road", "Springfield", "62701")),
            phone: Some("2175550100".into()),
            submitter_id: Some("RIVERSIDE01".into()),
            submitter_name: Some("Riverside Family Practice".into()),
            contact_name: Some("Billing Office".into()),
            contact_phone: Some("2175550101".into()),
            contact_email: Some("billing@riverside.example".into()),
            accession_prefix: "L".into(),
            default_place_of_service: "11".into(),
            timely_filing_days: 365,
        },
    )?;
    let dr_okafor = directory::create_provider(
        conn,
        &admin,
        ProviderFields {
            kind: ProviderKind::Individual,
            npi: "1234567893".into(),
            first_name: Some("Ada".into()),
            last_name: Some("Okafor".into()),
            organization_name: None,
            taxonomy_code: Some("207Q00000X".into()),
            active: true,
        },
    )?;
    directory::create_provider(
        conn,
        &admin,
        ProviderFields {
            kind: ProviderKind::Individual,
            npi: "1245319599".into(),
            first_name: Some("Samuel".into()),
            last_name: Some("Reyes".into()),
            organization_name: None,
            taxonomy_code: Some("1223G0001X".into()),
            active: true,
        },
    )?;
    let acme = directory::create_payer(
        conn,
        &admin,
        PayerFields {
            name: "Acme Health Plan".into(),
            edi_id: "ACME1".into(),
            claim_kind: ClaimKind::Professional,
            receiver_edi_id: Some("CLEARHOUSE01".into()),
            receiver_name: Some("Prairie Clearinghouse".into()),
            timely_filing_days: Some(180),
            active: true,
        },
    )?;
    let delta = directory::create_payer(
        conn,
        &admin,
        PayerFields {
            name: "Lakeside Dental Benefits".into(),
            edi_id: "LSDB2".into(),
            claim_kind: ClaimKind::Dental,
            receiver_edi_id: Some("CLEARHOUSE01".into()),
            receiver_name: Some("Prairie Clearinghouse".into()),
            timely_filing_days: None,
            active: true,
        },
    )?;

    let biller = ctx(org, users, Role::Biller);
    let people = [
        ("Maria", "Lopez", date(1984, 3, 12)?, Sex::F, "12 Elm St"),
        ("John", "Smith", date(1950, 1, 1)?, Sex::M, "48 Oak Ave"),
        ("Timmy", "Lopez", date(2015, 6, 1)?, Sex::M, "12 Elm St"),
        ("Grace", "Chen", date(1992, 9, 23)?, Sex::F, "7 Birch Ln"),
        ("Omar", "Haddad", date(1971, 12, 5)?, Sex::M, "310 Pine Ct"),
    ];
    let mut ids: Vec<PatientId> = Vec::new();
    let mut primary = Vec::new();
    for (first, last, birth, sex, street) in people {
        let p = patients::create_patient(
            conn,
            &biller,
            PatientFields {
                mrn: None,
                first_name: first.into(),
                middle_name: None,
                last_name: last.into(),
                birth_date: birth,
                sex,
                phone: Some("2175550134".into()),
                email: None,
                address: address(street, "Springfield", "62704"),
            },
        )?;
        ids.push(p.id);
    }
    let period = Period {
        from: date(2026, 1, 1)?,
        to: None,
    };
    let maria_birth = date(1984, 3, 12)?;
    for (i, patient) in ids.iter().enumerate() {
        let child = i == 2;
        let cov = coverages::create_coverage(
            conn,
            &biller,
            *patient,
            CoverageFields {
                payer_id: acme.id,
                member_id: format!("ACM{:06}", 1000 + i),
                group_number: Some("RFP-2026".into()),
                priority: Priority::Primary,
                relationship: if child {
                    Relationship::Child
                } else {
                    Relationship::Myself
                },
                subscriber: child.then(|| Subscriber {
                    first_name: "Maria".into(),
                    last_name: "Lopez".into(),
                    birth_date: maria_birth,
                    sex: Sex::F,
                    address: address("12 Elm St", "Springfield", "62704"),
                }),
                period,
                active: true,
            },
        )?;
        primary.push(cov.id);
    }
    let dental = coverages::create_coverage(
        conn,
        &biller,
        ids[0],
        CoverageFields {
            payer_id: delta.id,
            member_id: "LSD55501".into(),
            group_number: None,
            priority: Priority::Secondary,
            relationship: Relationship::Myself,
            subscriber: None,
            period,
            active: true,
        },
    )?;

    // Specimens in several states.
    let lab_ctx = ctx(org, users, Role::Lab);
    let manager = ctx(org, users, Role::Manager);
    let draw = |patient: PatientId, collected: bool, tests: Vec<NewTest>| NewSpecimen {
        patient_id: patient,
        specimen_type: SpecimenType::Serum,
        container: Some("SST gold top 5 mL".into()),
        ordering_provider_id: Some(dr_okafor.id),
        priority: LabPriority::Routine,
        collected_at: collected.then(crate::db::now),
        collected_by: collected.then(|| "L. Park, phlebotomist".into()),
        tests,
    };
    let cmp = || {
        vec![NewTest {
            code_system: TestCodeSystem::Loinc,
            code: "24323-8".into(),
            name: "Comprehensive metabolic panel".into(),
            billing_code: Some("80053".into()),
        }]
    };
    let cbc = || {
        vec![NewTest {
            code_system: TestCodeSystem::Loinc,
            code: "58410-2".into(),
            name: "CBC panel, automated".into(),
            billing_code: Some("85025".into()),
        }]
    };
    let to = |s: SpecimenStatus| Change::To {
        to: s,
        location: None,
        temperature_c: None,
        note: None,
        reasons: vec![],
    };
    use SpecimenStatus::*;

    // Ordered, waiting for the draw.
    lab::register(conn, &lab_ctx, draw(ids[3], false, cbc()))?;
    // Collected, on its way.
    let s = lab::register(conn, &lab_ctx, draw(ids[4], true, cmp()))?;
    lab::apply(conn, &lab_ctx, Role::Lab, s.id, None, to(InTransit))?;
    // Received and stored in the fridge, split into two aliquots.
    let s = lab::register(conn, &lab_ctx, draw(ids[1], true, cmp()))?;
    lab::apply(conn, &lab_ctx, Role::Lab, s.id, None, to(Received))?;
    lab::apply(
        conn,
        &lab_ctx,
        Role::Lab,
        s.id,
        None,
        Change::Store {
            location: "LAB1/FRIDGE-1/S2/B4/A1".into(),
            temperature_c: Some(4.0),
            note: None,
        },
    )?;
    lab::make_aliquots(
        conn,
        &lab_ctx,
        s.id,
        2,
        Some("Cryovial 2 mL".into()),
        Some(500),
    )?;
    // Resulted and verified (four eyes): an unbilled charge for the biller.
    let s = lab::register(conn, &lab_ctx, draw(ids[0], true, cbc()))?;
    for st in [Received, InProcess] {
        lab::apply(conn, &lab_ctx, Role::Lab, s.id, None, to(st))?;
    }
    let tests = lab::tests_of(conn, org, s.id)?;
    for t in &tests {
        lab::enter_result(
            conn,
            &lab_ctx,
            s.id,
            t.id,
            ResultInput {
                value: "13.1".into(),
                unit: Some("g/dL".into()),
                reference_range: Some("12.0-15.5".into()),
                flag: Some(ResultFlag::N),
                comment: None,
            },
        )?;
    }
    lab::apply(conn, &lab_ctx, Role::Lab, s.id, None, to(Resulted))?;
    for t in &tests {
        lab::verify_result(conn, &manager, s.id, t.id)?;
    }
    lab::apply(conn, &manager, Role::Manager, s.id, None, to(Verified))?;
    // Rejected for hemolysis.
    let s = lab::register(conn, &lab_ctx, draw(ids[2], true, cmp()))?;
    lab::apply(conn, &lab_ctx, Role::Lab, s.id, None, to(Received))?;
    lab::apply(
        conn,
        &lab_ctx,
        Role::Lab,
        s.id,
        None,
        Change::To {
            to: Rejected,
            location: None,
            temperature_c: None,
            note: Some("grossly hemolysed; redraw requested".into()),
            reasons: vec!["RH".into()],
        },
    )?;
    seed_claims(
        conn,
        org,
        &biller,
        &ids,
        &primary,
        dental.id,
        acme.id,
        delta.id,
        dr_okafor.id,
    )
}

/// Claims. Dates of service fall inside the shipped ICD-10-CM edition (FY2026, until
/// 2026-09-30), so the scrubber can check them.
#[allow(clippy::too_many_arguments)]
fn seed_claims(
    conn: &mut DbConn,
    org: OrgId,
    biller: &AuditCtx,
    ids: &[PatientId],
    primary: &[CoverageId],
    dental: CoverageId,
    acme: PayerId,
    delta: PayerId,
    rendering: ProviderId,
) -> Result<(), AppError> {
    let dos = date(2026, 9, 15)?;
    let line = |code: &str, mods: &[&str], pointers: &[i64], cents: i64| ClaimLine {
        procedure_code: code.into(),
        modifiers: mods.iter().map(|m| (*m).to_owned()).collect(),
        pointers: pointers.to_vec(),
        units: 1,
        charge_cents: cents,
        service_date: dos,
        tooth: None,
        surfaces: vec![],
        oral_cavity_area: None,
        charge_id: None,
    };
    let professional = |patient: usize, dx: &[&str], lines: Vec<ClaimLine>| ClaimFields {
        kind: ClaimKind::Professional,
        patient_id: ids[patient],
        coverage_id: primary[patient],
        payer_id: acme,
        rendering_provider_id: Some(rendering),
        place_of_service: "11".into(),
        diagnoses: dx.iter().map(|d| (*d).to_owned()).collect(),
        prior_authorization: None,
        notes: None,
        lines,
    };
    // A clean claim, scrubbed and made ready for a batch.
    let ready = claims::create_claim(
        conn,
        biller,
        &professional(
            1,
            &["E119", "I10"],
            vec![
                line("99214", &["25"], &[1, 2], 18_500),
                line("85025", &[], &[1], 3_500),
            ],
        ),
        Origin::original(),
    )?;
    let findings = scrub_claim(conn, org, &ready)?;
    if findings.iter().all(|f| f.severity != Severity::Error) {
        let ready = claims::transition(
            conn,
            biller,
            ready.id,
            ClaimStatus::Ready,
            Some("scrubbed clean"),
            None,
        )?;
        // Batched by the biller, waiting for the manager's approval (four eyes).
        crate::billing::batches::create(conn, biller, ClaimKind::Professional, acme, &[ready])?;
    }
    // A draft the scrubber stops: E11 is a category header, not a billable code.
    claims::create_claim(
        conn,
        biller,
        &professional(3, &["E11"], vec![line("99213", &[], &[1], 12_500)]),
        Origin::original(),
    )?;
    // A dental draft: an occlusal-distal filling on tooth 30.
    let mut filling = line("D2392", &[], &[], 15_000);
    filling.tooth = Some("30".into());
    filling.surfaces = vec!["O".into(), "D".into()];
    claims::create_claim(
        conn,
        biller,
        &ClaimFields {
            kind: ClaimKind::Dental,
            patient_id: ids[0],
            coverage_id: dental,
            payer_id: delta,
            rendering_provider_id: None,
            place_of_service: "11".into(),
            diagnoses: vec!["K0252".into()],
            prior_authorization: None,
            notes: None,
            lines: vec![filling],
        },
        Origin::original(),
    )?;
    Ok(())
}
