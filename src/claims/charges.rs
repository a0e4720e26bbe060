//! The lab → billing hand-off: reading unbilled lab charges and marking them billed, in the
//! claim's transaction. Queries `lab_charges` directly (the hand-off table).

use diesel::prelude::*;

use crate::db::{ChargeId, DbConn, OrgId};
use crate::error::AppError;
use crate::lab::repo::Charge;
use crate::lab::schema::lab_charges::dsl as ch;

pub const UNBILLED: &str = "unbilled";
pub const BILLED: &str = "billed";

/// The charges of the organization among `ids` (unknown ids are simply absent).
pub fn charges_by_id(
    conn: &mut DbConn,
    org: OrgId,
    ids: &[ChargeId],
) -> Result<Vec<Charge>, AppError> {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    Ok(ch::lab_charges
        .filter(crate::same_org!(ch::org_id, org.to_string()))
        .filter(ch::id.eq_any(ids))
        .load::<Charge>(conn)?)
}

/// Marks the charges billed, only if every one is still unbilled; `false` (and nothing changed
/// that the caller's rollback would not undo) when another transaction billed one first. The
/// `status = 'unbilled'` predicate is re-checked under the row lock, so of two concurrent
/// attempts exactly one wins.
pub fn mark_billed(conn: &mut DbConn, org: OrgId, ids: &[ChargeId]) -> Result<bool, AppError> {
    let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let n = diesel::update(
        ch::lab_charges
            .filter(ch::org_id.eq(org.to_string()))
            .filter(ch::id.eq_any(keys))
            .filter(ch::status.eq(UNBILLED)),
    )
    .set(ch::status.eq(BILLED))
    .execute(conn)?;
    Ok(n == ids.len())
}

/// Returns billed charges to `unbilled` (their claim was voided before it was sent).
pub fn release(conn: &mut DbConn, org: OrgId, ids: &[ChargeId]) -> Result<(), AppError> {
    if ids.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
    diesel::update(
        ch::lab_charges
            .filter(ch::org_id.eq(org.to_string()))
            .filter(ch::id.eq_any(keys))
            .filter(ch::status.eq(BILLED)),
    )
    .set(ch::status.eq(UNBILLED))
    .execute(conn)?;
    Ok(())
}
