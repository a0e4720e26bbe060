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
    )?;
    seed_remittance(conn, org, users, &ids, &primary, acme.id, dr_okafor.id)
}

/// Five claims with dates of service 150, 100, 75, 45 and 10 days ago, batched by the biller,
/// approved and marked submitted by the manager (four eyes), and the payer's 835 for three of
/// them imported through the same function as `POST /remittances`: one paid, one partially paid
/// (one line adjudicated, patient responsibility on it), one denied (CO-50), plus a CLP for a
/// claim that is not ours (left unmatched) and a PLB (interest). The claims of 45 and 10 days
/// ago stay unpaid, so the A/R has balances of several ages.
fn seed_remittance(
    conn: &mut DbConn,
    org: OrgId,
    users: &HashMap<Role, UserId>,
    ids: &[PatientId],
    primary: &[CoverageId],
    acme: PayerId,
    rendering: ProviderId,
) -> Result<(), AppError> {
    use crate::billing::batches::{self, BatchStatus, Stamp};
    let biller = ctx(org, users, Role::Biller);
    let manager = ctx(org, users, Role::Manager);
    let manager_id = manager
        .actor
        .ok_or_else(|| AppError::internal("the demo has no manager"))?;
    let today = chrono::Utc::now().date_naive();
    // (patient, days ago, lines (code, charge)).
    type Plan<'a> = (usize, i64, &'a [(&'a str, i64)]);
    let plan: [Plan; 5] = [
        (0, 150, &[("99213", 12_500)]),
        (1, 100, &[("99214", 18_500), ("85025", 3_500)]),
        (3, 75, &[("99213", 12_500)]),
        (4, 45, &[("99214", 18_500)]),
        (2, 10, &[("99213", 12_500)]),
    ];
    let mut made = Vec::new();
    for (patient, days, lines) in plan {
        let dos = today - chrono::Duration::days(days);
        let fields = ClaimFields {
            kind: ClaimKind::Professional,
            patient_id: ids[patient],
            coverage_id: primary[patient],
            payer_id: acme,
            rendering_provider_id: Some(rendering),
            place_of_service: "11".into(),
            diagnoses: vec!["E119".into(), "I10".into()],
            prior_authorization: None,
            notes: None,
            lines: lines
                .iter()
                .map(|(code, cents)| ClaimLine {
                    procedure_code: (*code).into(),
                    modifiers: vec![],
                    pointers: vec![1],
                    units: 1,
                    charge_cents: *cents,
                    service_date: dos,
                    tooth: None,
                    surfaces: vec![],
                    oral_cavity_area: None,
                    charge_id: None,
                })
                .collect(),
        };
        let c = claims::create_claim(conn, &biller, &fields, Origin::original())?;
        // Recent dates of service may fall after the shipped ICD-10-CM edition, which the
        // scrubber cannot check them against: the demo marks these reviewed claims ready.
        let c = claims::transition(
            conn,
            &biller,
            c.id,
            ClaimStatus::Ready,
            Some("reviewed"),
            None,
        )?;
        made.push(c);
    }
    let batch = batches::create(conn, &biller, ClaimKind::Professional, acme, &made)?;
    let isa13 = crate::db::next_counter(conn, org, "isa13")?;
    batches::transition(
        conn,
        &manager,
        batch.id,
        BatchStatus::Approved,
        Some("approved"),
        None,
        Stamp {
            approved: Some((manager_id, crate::db::now(), isa13)),
            submitted: None,
        },
    )?;
    batches::transition(
        conn,
        &manager,
        batch.id,
        BatchStatus::Submitted,
        Some("uploaded to the clearinghouse"),
        None,
        Stamp {
            approved: None,
            submitted: Some((manager_id, crate::db::now())),
        },
    )?;
    let why = format!("batch {} submitted", batch.id);
    for c in &made {
        claims::transition(
            conn,
            &manager,
            c.id,
            ClaimStatus::Submitted,
            Some(&why),
            None,
        )?;
    }
    let mut lcn = Vec::new();
    for c in &made {
        let lines = claims::lines_of(conn, org, c.id)?;
        lcn.push(
            lines
                .first()
                .map(|l| l.line_control_number.clone())
                .unwrap_or_default(),
        );
    }
    let paid_on = today - chrono::Duration::days(5);
    let d8 = |d: NaiveDate| d.format("%Y%m%d").to_string();
    let dos = |i: usize| d8(today - chrono::Duration::days(plan[i].1));
    let pcn = |i: usize| made[i].patient_control_number.clone();
    let body = vec![
        // 100.00 + 120.00 + 0 + 72.00 paid, + 1.25 interest (PLB, negative).
        format!(
            "BPR*I*293.25*C*ACH*CCP*01*071000013*DA*123456789*1234567890**01*071000039*DA*987654321*{}",
            d8(paid_on)
        ),
        format!("TRN*1*DEMO{}*1999999999", d8(paid_on)),
        format!("DTM*405*{}", d8(paid_on)),
        "N1*PR*ACME HEALTH PLAN".into(),
        "N1*PE*RIVERSIDE FAMILY PRACTICE*XX*1234567893".into(),
        "LX*1".into(),
        // Paid: 125.00 charged, 100.00 allowed and paid, 25.00 contractual.
        format!("CLP*{}*1*125.00*100.00**12*ACME260001", pcn(0)),
        "SVC*HC:99213*125.00*100.00**1".into(),
        format!("DTM*472*{}", dos(0)),
        "CAS*CO*45*25.00".into(),
        format!("REF*6R*{}", lcn[0]),
        "AMT*B6*100.00".into(),
        // Partially paid: the visit adjudicated (30.00 coinsurance), the CBC line not yet.
        format!("CLP*{}*1*185.00*120.00*30.00*12*ACME260002", pcn(1)),
        "SVC*HC:99214*185.00*120.00**1".into(),
        format!("DTM*472*{}", dos(1)),
        "CAS*CO*45*35.00".into(),
        "CAS*PR*2*30.00".into(),
        format!("REF*6R*{}", lcn[1]),
        "AMT*B6*150.00".into(),
        "LQ*HE*N130".into(),
        // Denied: not medically necessary (CO-50).
        format!("CLP*{}*4*125.00*0**12*ACME260003", pcn(2)),
        "SVC*HC:99213*125.00*0**1".into(),
        format!("DTM*472*{}", dos(2)),
        "CAS*CO*50*125.00".into(),
        format!("REF*6R*{}", lcn[2]),
        // A claim this practice never sent: listed as unmatched, to be matched by hand.
        "CLP*R0099999*1*90.00*72.00**12*ACME260004".into(),
        "CAS*CO*45*18.00".into(),
        format!(
            "PLB*1234567893*{}1231*L6:INTEREST*-1.25",
            today.format("%Y")
        ),
    ];
    let stamp = chrono::Utc::now();
    let mut segs = vec![
        format!(
            "ISA*00*{:10}*00*{:10}*ZZ*{:<15}*ZZ*{:<15}*{}*{}*^*00501*{:09}*0*P*:",
            "",
            "",
            "ACME1",
            "RIVERSIDE01",
            stamp.format("%y%m%d"),
            stamp.format("%H%M"),
            isa13 + 900
        ),
        format!(
            "GS*HP*ACME1*RIVERSIDE01*{}*{}*{}*X*005010X221A1",
            stamp.format("%Y%m%d"),
            stamp.format("%H%M"),
            isa13 + 900
        ),
        "ST*835*0001".into(),
    ];
    segs.extend(body.iter().cloned());
    segs.push(format!("SE*{}*0001", body.len() + 2));
    segs.push(format!("GE*1*{}", isa13 + 900));
    segs.push(format!("IEA*1*{:09}", isa13 + 900));
    let file: String = segs.iter().map(|s| format!("{s}~\n")).collect();
    let mut sets = crate::billing::x12::reader::remit835::read_remittances(file.as_bytes())
        .map_err(|e| AppError::internal(format!("demo 835: {}", e.message())))?;
    let rem = sets
        .pop()
        .ok_or_else(|| AppError::internal("demo 835: no transaction set"))?;
    let hash = crate::billing::remittances::file_hash(file.as_bytes());
    crate::billing::remittances::repo::import(conn, &biller, &hash, &rem)?;
    Ok(())
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
