//! PostgreSQL: what a chunk of an 835's posting writes besides its claims (ledger entries, the
//! CLPs and their SVC lines as read) in one statement whose text is the same for any number of
//! rows, as new claims (`claims::pg_rows`) and registrations (`lab::pg_rows`) are written: each
//! table's rows bound as one array per column and inserted by `INSERT … SELECT * FROM unnest(…)`.
//! Multi-row `VALUES` of up to 2 000 rows, four statements a chunk before, were each rendered,
//! parsed and bound anew (up to 28 000 parameters a statement; BENCHMARKS.md, *What was fixed*).

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
use diesel::{PgConnection, QueryResult, RunQueryDsl};

/// The rows of one [`super::posting::Book::flush`]: `WITH w0 AS (ledger entries), w1 AS
/// (remittance claims) INSERT INTO remittance_lines …`.
pub(super) struct PostingRows<'a> {
    pub entries: Entries<'a>,
    pub claims: Claims<'a>,
    pub lines: Lines<'a>,
}

#[derive(Default)]
pub(super) struct Entries<'a> {
    pub id: Vec<String>,
    pub org_id: Vec<&'a str>,
    pub claim_id: Vec<Option<String>>,
    pub remittance_id: Vec<&'a str>,
    pub kind: Vec<&'a str>,
    pub group_code: Vec<Option<&'a str>>,
    pub reason_code: Vec<Option<&'a str>>,
    pub amount_cents: Vec<i64>,
    pub line_control_number: Vec<Option<&'a str>>,
    pub created_by: Vec<Option<&'a str>>,
    pub created_at: Vec<NaiveDateTime>,
}

#[derive(Default)]
pub(super) struct Claims<'a> {
    pub remittance_id: Vec<&'a str>,
    pub seq: Vec<i32>,
    pub org_id: Vec<&'a str>,
    pub patient_control_number: Vec<&'a str>,
    pub claim_id: Vec<Option<String>>,
    pub status_code: Vec<&'a str>,
    pub charge_cents: Vec<i64>,
    pub paid_cents: Vec<i64>,
    pub patient_responsibility_cents: Vec<i64>,
    pub payer_claim_number: Vec<Option<&'a str>>,
    pub outcome: Vec<&'a str>,
    pub clp: Vec<Option<&'a str>>,
    pub allowed_cents: Vec<Option<i64>>,
    pub remark_codes: Vec<&'a str>,
    pub forwarded_to: Vec<Option<&'a str>>,
}

#[derive(Default)]
pub(super) struct Lines<'a> {
    pub remittance_id: Vec<&'a str>,
    pub claim_seq: Vec<i32>,
    pub line_seq: Vec<i32>,
    pub org_id: Vec<&'a str>,
    pub claim_id: Vec<String>,
    pub claim_line_id: Vec<Option<String>>,
    pub match_method: Vec<&'a str>,
    pub procedure: Vec<&'a str>,
    pub service_date: Vec<Option<&'a str>>,
    pub line_control_number: Vec<Option<&'a str>>,
    pub charge_cents: Vec<i64>,
    pub paid_cents: Vec<i64>,
    pub allowed_cents: Vec<Option<i64>>,
    pub remark_codes: Vec<String>,
}

impl PostingRows<'_> {
    pub(super) fn run(self, conn: &mut PgConnection) -> QueryResult<usize> {
        self.execute(conn)
    }
}

impl QueryFragment<Pg> for PostingRows<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let e = &self.entries;
        out.push_sql(
            "WITH w0 AS (INSERT INTO ledger_entries (id, org_id, claim_id, remittance_id, kind, \
             group_code, reason_code, amount_cents, line_control_number, created_by, created_at) \
             SELECT * FROM unnest(",
        );
        crate::push_arrays!(out, [
            Text => &e.id,
            Text => &e.org_id,
            Nullable<Text> => &e.claim_id,
            Text => &e.remittance_id,
            Text => &e.kind,
            Nullable<Text> => &e.group_code,
            Nullable<Text> => &e.reason_code,
            BigInt => &e.amount_cents,
            Nullable<Text> => &e.line_control_number,
            Nullable<Text> => &e.created_by,
            Timestamp => &e.created_at,
        ]);
        let c = &self.claims;
        out.push_sql(
            ")), w1 AS (INSERT INTO remittance_claims (remittance_id, seq, org_id, \
             patient_control_number, claim_id, status_code, charge_cents, paid_cents, \
             patient_responsibility_cents, payer_claim_number, outcome, clp, allowed_cents, \
             remark_codes, forwarded_to) SELECT * FROM unnest(",
        );
        crate::push_arrays!(out, [
            Text => &c.remittance_id,
            Integer => &c.seq,
            Text => &c.org_id,
            Text => &c.patient_control_number,
            Nullable<Text> => &c.claim_id,
            Text => &c.status_code,
            BigInt => &c.charge_cents,
            BigInt => &c.paid_cents,
            BigInt => &c.patient_responsibility_cents,
            Nullable<Text> => &c.payer_claim_number,
            Text => &c.outcome,
            Nullable<Text> => &c.clp,
            Nullable<BigInt> => &c.allowed_cents,
            Text => &c.remark_codes,
            Nullable<Text> => &c.forwarded_to,
        ]);
        let l = &self.lines;
        out.push_sql(
            ")) INSERT INTO remittance_lines (remittance_id, claim_seq, line_seq, org_id, \
             claim_id, claim_line_id, match_method, procedure, service_date, \
             line_control_number, charge_cents, paid_cents, allowed_cents, remark_codes) \
             SELECT * FROM unnest(",
        );
        crate::push_arrays!(out, [
            Text => &l.remittance_id,
            Integer => &l.claim_seq,
            Integer => &l.line_seq,
            Text => &l.org_id,
            Text => &l.claim_id,
            Nullable<Text> => &l.claim_line_id,
            Text => &l.match_method,
            Text => &l.procedure,
            Nullable<Text> => &l.service_date,
            Nullable<Text> => &l.line_control_number,
            BigInt => &l.charge_cents,
            BigInt => &l.paid_cents,
            Nullable<BigInt> => &l.allowed_cents,
            Text => &l.remark_codes,
        ]);
        out.push_sql(")");
        Ok(())
    }
}

/// One text for any chunk, cached by diesel per connection (by its text).
impl QueryId for PostingRows<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl RunQueryDsl<PgConnection> for PostingRows<'_> {}
