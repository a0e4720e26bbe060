//! Reader tests on the hand-written samples of `tests/fixtures/x12/` and on the shared 835/837.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::ack277ca::{Verdict, category_verdict};
use super::tokenizer::{self, X12Error};
use super::*;

const ACCEPTED: &str = include_str!("../../../../tests/fixtures/x12/999/accepted.999");
const REJECTED: &str = include_str!("../../../../tests/fixtures/x12/999/rejected.999");
const REJECTED_CRLF: &str = include_str!("../../../../tests/fixtures/x12/999/rejected-crlf.999");
const CA: &str = include_str!("../../../../tests/fixtures/x12/277ca/mixed.277");
const CA_CRLF: &str = include_str!("../../../../tests/fixtures/x12/277ca/mixed-crlf.277");
const P837: &str = include_str!("../../../../tests/fixtures/x12/837/professional-two-lines.837");
const MANAGED_CARE: &str = include_str!("../../../../tests/fixtures/x12/835/managed-care.835");

fn acks999(text: &str) -> Vec<ack999::Ack999> {
    match read_acknowledgement(text.as_bytes()).unwrap().ack {
        Acknowledgement::Ack999(a) => a,
        other => panic!("not a 999: {other:?}"),
    }
}

fn acks277(text: &str) -> Vec<ack277ca::Ack277> {
    match read_acknowledgement(text.as_bytes()).unwrap().ack {
        Acknowledgement::Ack277(a) => a,
        other => panic!("not a 277: {other:?}"),
    }
}

#[test]
fn delimiters_come_from_the_isa() {
    let (d, segs) = tokenizer::segments(REJECTED).unwrap();
    assert_eq!(d.element, '*');
    assert_eq!(d.component, ':');
    assert_eq!(d.segment, '~');
    assert_eq!(d.repetition, Some('^'));
    assert_eq!(segs[0].id, "ISA");
    assert_eq!(segs[0].el(13), "000000102");
    let ik4 = segs
        .iter()
        .find(|s| s.id == "IK4" && s.el(2) == "1331")
        .unwrap();
    assert_eq!(ik4.components(1), ["5", "1"]);

    // Other delimiters: element '|', component '>', terminator '\n'.
    let alt = P837
        .replace('*', "|")
        .replace("|:~", "|>~")
        .replace(':', ">")
        .replace("~\n", "\n");
    let ic = tokenizer::parse(&alt).unwrap();
    assert_eq!(ic.delimiters.element, '|');
    assert_eq!(ic.delimiters.component, '>');
    assert_eq!(ic.delimiters.segment, '\n');
    let t = &ic.groups[0].transactions[0];
    let sv1 = t.segments.iter().find(|s| s.id == "SV1").unwrap();
    assert_eq!(sv1.components(1), ["HC", "99213"]);
}

#[test]
fn envelopes_of_the_shared_files_check_out() {
    let ic = tokenizer::parse(P837).unwrap();
    assert_eq!(ic.control_number, "000000001");
    assert_eq!(ic.groups[0].control_number, "1");
    assert_eq!(ic.groups[0].transactions[0].id, "837");
    assert_eq!(ic.groups[0].transactions[0].segments.len(), 24);
    let ic = tokenizer::parse(MANAGED_CARE).unwrap();
    assert_eq!(ic.groups[0].transactions[0].id, "835");
    // An 837 or 835 is X12 but not an acknowledgement.
    let err = read_acknowledgement(P837.as_bytes()).unwrap_err();
    assert!(matches!(err, X12Error::Unsupported(_)), "{err:?}");
    assert!(err.message().contains("837"), "{err}");
}

#[test]
fn crlf_and_plain_files_read_the_same() {
    assert_eq!(acks999(REJECTED), acks999(REJECTED_CRLF));
    assert_eq!(acks277(CA), acks277(CA_CRLF));
    // Leading whitespace and a BOM are tolerated.
    let padded = format!("\u{feff}\r\n  {ACCEPTED}\r\n\r\n");
    assert_eq!(acks999(&padded), acks999(ACCEPTED));
}

#[test]
fn a_999_accepted_group() {
    let a = acks999(ACCEPTED);
    assert_eq!(a.len(), 1);
    let a = &a[0];
    assert_eq!(a.functional_id, "HC");
    assert_eq!(a.group_control_number, "1");
    assert_eq!(a.version.as_deref(), Some("005010X222A1"));
    assert_eq!(a.status, "A");
    assert_eq!(
        (a.included, a.received, a.accepted),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(a.transactions.len(), 1);
    assert_eq!(a.transactions[0].control_number, "0001");
    assert_eq!(a.transactions[0].status, "A");
    assert!(a.transactions[0].errors.is_empty());
}

#[test]
fn a_999_rejection_with_segment_and_element_errors() {
    let file = read_acknowledgement(REJECTED.as_bytes()).unwrap();
    assert_eq!(file.interchange.control_number, "000000102");
    assert_eq!(file.interchange.sender, "CLEARINGHOUSE");
    let Acknowledgement::Ack999(a) = file.ack else {
        panic!()
    };
    let a = &a[0];
    assert_eq!(a.status, "R");
    assert_eq!(a.accepted, Some(0));
    let ts = &a.transactions[0];
    assert_eq!(ts.status, "R");
    assert_eq!(ts.codes, ["5"]);
    assert_eq!(ts.errors.len(), 2);
    let nm1 = &ts.errors[0];
    assert_eq!(
        (
            nm1.segment_id.as_str(),
            nm1.position,
            nm1.loop_id.as_deref(),
            nm1.code.as_str()
        ),
        ("NM1", Some(8), Some("2010AA"), "8")
    );
    assert_eq!(
        nm1.elements,
        [ack999::ElementError {
            position: "9".into(),
            element_reference: Some("67".into()),
            code: "7".into(),
            bad_value: Some("12345".into()),
        }]
    );
    let clm = &ts.errors[1];
    assert_eq!(clm.segment_id, "CLM");
    assert_eq!(clm.elements[0].position, "5:1");
    assert_eq!(clm.elements[0].bad_value.as_deref(), Some("99"));
}

#[test]
fn a_277ca_with_accepted_rejected_and_unknown_claims() {
    let a = acks277(CA);
    assert_eq!(a.len(), 1);
    let a = &a[0];
    assert_eq!(a.reference.as_deref(), Some("277CA0001"));
    assert_eq!(a.payer_name.as_deref(), Some("ACME INSURANCE"));
    assert_eq!(a.receiver_trace.as_deref(), Some("0001"));
    assert_eq!(a.claims.len(), 3, "the receiver-level STC is not a claim");
    let c1 = &a.claims[0];
    assert_eq!(c1.patient_control_number, "C0000001");
    assert_eq!(c1.payer_claim_number.as_deref(), Some("PAYERICN0001"));
    assert_eq!(c1.codes(), ["A1:20:PR"]);
    assert_eq!(c1.verdict(), Verdict::Accepted);
    assert_eq!(c1.statuses[0].action.as_deref(), Some("WQ"));
    let c2 = &a.claims[1];
    assert_eq!(c2.patient_control_number, "C0000002");
    assert_eq!(c2.codes(), ["A7:562:85", "A3:21:77"]);
    assert_eq!(c2.verdict(), Verdict::Rejected);
    assert_eq!(c2.payer_claim_number.as_deref(), Some("PAYERICN0002"));
    assert_eq!(c2.lines.len(), 1);
    assert_eq!(c2.lines[0].procedure, "HC:36415");
    assert_eq!(
        c2.lines[0].line_control_number.as_deref(),
        Some("C0000002L01")
    );
    assert_eq!(c2.lines[0].statuses[0].codes, ["A7:453"]);
    assert_eq!(a.claims[2].patient_control_number, "C9999999");
    assert_eq!(a.claims[2].verdict(), Verdict::Accepted);
}

#[test]
fn the_category_mapping() {
    for c in ["A1", "A2", "A5", "a1"] {
        assert_eq!(category_verdict(c), Verdict::Accepted, "{c}");
    }
    for c in ["A3", "A4", "A6", "A7", "A8"] {
        assert_eq!(category_verdict(c), Verdict::Rejected, "{c}");
    }
    for c in ["A0", "E0", "P1", "F1", ""] {
        assert_eq!(category_verdict(c), Verdict::None, "{c}");
    }
}

fn err(text: &str) -> X12Error {
    read_acknowledgement(text.as_bytes()).unwrap_err()
}

#[test]
fn not_x12_is_refused_with_a_message() {
    let e = err("{\"hello\": 1}");
    assert!(matches!(e, X12Error::NotX12(_)), "{e:?}");
    assert!(e.message().contains("ISA"), "{e}");
    assert!(matches!(err(""), X12Error::NotX12(_)));
    assert!(matches!(
        read_acknowledgement(&[0xff, 0xfe, 0x00]).unwrap_err(),
        X12Error::NotX12(_)
    ));
    // ISA with letters where the separators should be.
    let bad = format!("ISAX{}", "0".repeat(120));
    assert!(matches!(err(&bad), X12Error::NotX12(_)));
}

#[test]
fn truncated_files_are_refused() {
    let e = err(&ACCEPTED[..60]);
    assert!(matches!(e, X12Error::Truncated(_)), "{e:?}");
    assert!(e.message().contains("106"), "{e}");
    let cut = |marker: &str, text: &str| text[..text.find(marker).unwrap()].to_owned();
    let e = err(&cut("\nIEA*", ACCEPTED));
    assert!(
        matches!(e, X12Error::Truncated(_)) && e.message().contains("IEA"),
        "{e:?}"
    );
    let e = err(&cut("\nGE*", ACCEPTED));
    assert!(
        matches!(e, X12Error::Truncated(_)) && e.message().contains("GE"),
        "{e:?}"
    );
    let e = err(&cut("\nSE*", ACCEPTED));
    assert!(
        matches!(e, X12Error::Truncated(_)) && e.message().contains("SE"),
        "{e:?}"
    );
    let e = err(&cut("~AK9*", REJECTED));
    assert!(matches!(e, X12Error::Truncated(_)), "{e:?}");
}

#[test]
fn wrong_control_numbers_and_counts_are_refused() {
    let e = err(&ACCEPTED.replace("IEA*1*000000101", "IEA*1*000000999"));
    assert!(matches!(e, X12Error::ControlNumberMismatch(_)), "{e:?}");
    assert!(e.message().contains("IEA02"), "{e}");
    let e = err(&ACCEPTED.replace("GE*1*101", "GE*1*100"));
    assert!(matches!(e, X12Error::ControlNumberMismatch(_)) && e.message().contains("GS06"));
    let e = err(&ACCEPTED.replace("SE*6*0001", "SE*6*0002"));
    assert!(matches!(e, X12Error::ControlNumberMismatch(_)) && e.message().contains("ST02"));
    let e = err(&ACCEPTED.replace("SE*6*0001", "SE*7*0001"));
    assert!(matches!(e, X12Error::CountMismatch(_)), "{e:?}");
    assert!(e.message().contains("SE01 says 7"), "{e}");
    let e = err(&ACCEPTED.replace("GE*1*101", "GE*2*101"));
    assert!(matches!(e, X12Error::CountMismatch(_)) && e.message().contains("GE01"));
    let e = err(&ACCEPTED.replace("IEA*1*", "IEA*3*"));
    assert!(matches!(e, X12Error::CountMismatch(_)) && e.message().contains("IEA01"));
}

#[test]
fn a_999_without_ak1_or_ak9_is_refused() {
    let no_ak9 = ACCEPTED
        .replace("AK9*A*1*1*1~\n", "")
        .replace("SE*6*", "SE*5*");
    let e = err(&no_ak9);
    assert!(
        matches!(e, X12Error::Unsupported(_)) && e.message().contains("AK9"),
        "{e:?}"
    );
    let bad = ACCEPTED.replace("AK9*A*", "AK9*Q*");
    assert!(err(&bad).message().contains("AK901"));
}
