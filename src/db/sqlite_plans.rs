//! SQLite's query-planner stability guarantee (QPSG) on every connection this process opens.
//!
//! SQLite (3.53, bundled) reads the value bound to a `LIMIT ?` while it plans a statement and
//! then marks the statement stale whenever that parameter is bound again. diesel binds every
//! `LIMIT` (`first`, `limit`, every page of a list) and binds all parameters again on each call,
//! so each such statement, although cached, was parsed and planned anew on every call
//! (measured: a third of `POST /specimens`'s time on SQLite went to re-preparing its checks).
//! With QPSG on, the planner does not look at bound values, so a cached statement stays
//! prepared. What it gives up: plans from statistics (`ANALYZE`, which Officina does not run),
//! the `LIKE` range optimization for a bound pattern, and a partial index chosen because a
//! bound value matches its `WHERE` (`fee_schedules_org_standard_key … WHERE kind = 'standard'`
//! is read with a bound `kind`; the `(org_id, payer_id)` index still serves that read).
//!
//! diesel does not expose the connection handle, so the setting is applied by an SQLite
//! auto-extension: a function SQLite calls for each connection it opens in this process.

use std::ffi::{c_char, c_int};
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

/// Registers the auto-extension once per process; SQLite connections opened afterwards get
/// QPSG. Should the registration fail, this is logged once and connections work as before,
/// only slower.
pub(super) fn ensure() {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        // SAFETY: `enable_qpsg` has the entry-point signature SQLite expects and is a plain
        // function, valid for the whole process; registering it only adds it to SQLite's
        // global list (a call SQLite serializes itself).
        #[allow(unsafe_code)]
        let rc = unsafe { ffi::sqlite3_auto_extension(Some(enable_qpsg)) };
        if rc != ffi::SQLITE_OK {
            tracing::warn!(
                code = rc,
                "SQLite: stable query plans not enabled; statements with a bound LIMIT are prepared again on each call"
            );
        }
    });
}

/// Called by SQLite for each new connection, while it opens it. Always answers `SQLITE_OK`: a
/// non-zero answer would make the open itself fail, and a connection without QPSG still works.
#[allow(unsafe_code)]
unsafe extern "C" fn enable_qpsg(
    db: *mut ffi::sqlite3,
    _error: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: SQLite passes the connection it is opening, valid for this call;
    // SQLITE_DBCONFIG_ENABLE_QPSG takes an int (1: on) and an int pointer that may be null.
    let _ = unsafe {
        ffi::sqlite3_db_config(
            db,
            ffi::SQLITE_DBCONFIG_ENABLE_QPSG,
            1,
            std::ptr::null_mut::<c_int>(),
        )
    };
    ffi::SQLITE_OK
}

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use super::*;
    use std::ffi::CString;

    /// A raw in-memory connection, opened after `ensure` (as the pool's are); closed on drop,
    /// also when an assertion fails.
    struct Raw(*mut ffi::sqlite3);

    impl Drop for Raw {
        fn drop(&mut self) {
            // SAFETY: the handle came from `sqlite3_open` and every statement on it is finalized.
            unsafe { ffi::sqlite3_close(self.0) };
        }
    }

    fn open() -> Raw {
        ensure();
        let mut db = std::ptr::null_mut();
        let name = CString::new(":memory:").unwrap();
        // SAFETY: a valid C string and an out pointer for the handle.
        let rc = unsafe { ffi::sqlite3_open(name.as_ptr(), &mut db) };
        let raw = Raw(db);
        assert_eq!(rc, ffi::SQLITE_OK);
        raw
    }

    /// Sets QPSG (`set` 0 or 1) or only reads it (`set` -1); answers the setting after the call.
    fn qpsg(db: &Raw, set: c_int) -> c_int {
        let mut on: c_int = -1;
        // SAFETY: an open handle, an int and a pointer to an int, as this option takes.
        let rc =
            unsafe { ffi::sqlite3_db_config(db.0, ffi::SQLITE_DBCONFIG_ENABLE_QPSG, set, &mut on) };
        assert_eq!(rc, ffi::SQLITE_OK);
        on
    }

    /// Runs `SELECT ?1 LIMIT ?2` three times with new bindings, as diesel runs a cached
    /// statement, and answers how often SQLite prepared it again.
    fn reprepares(db: &Raw) -> c_int {
        let sql = CString::new("SELECT ?1 LIMIT ?2").unwrap();
        let mut stmt = std::ptr::null_mut();
        // SAFETY: an open handle, a valid C string, out pointers; the statement is finalized
        // below before the connection can close.
        unsafe {
            let flags = ffi::SQLITE_PREPARE_PERSISTENT;
            let rc = ffi::sqlite3_prepare_v3(
                db.0,
                sql.as_ptr(),
                -1,
                flags,
                &mut stmt,
                std::ptr::null_mut(),
            );
            assert_eq!(rc, ffi::SQLITE_OK);
            let mut rows = 0;
            for n in 1..=3 {
                ffi::sqlite3_reset(stmt);
                ffi::sqlite3_bind_int64(stmt, 1, n);
                ffi::sqlite3_bind_int64(stmt, 2, 1);
                if ffi::sqlite3_step(stmt) == ffi::SQLITE_ROW {
                    rows += 1;
                }
            }
            let count = ffi::sqlite3_stmt_status(stmt, ffi::SQLITE_STMTSTATUS_REPREPARE, 0);
            ffi::sqlite3_finalize(stmt);
            assert_eq!(rows, 3, "each run returns its row");
            count
        }
    }

    #[test]
    fn every_new_connection_has_stable_plans() {
        let db = open();
        assert_eq!(qpsg(&db, -1), 1, "QPSG on from the start");
    }

    #[test]
    fn a_cached_statement_with_a_bound_limit_is_prepared_once() {
        let db = open();
        assert_eq!(reprepares(&db), 0, "with QPSG");
        // Without it (SQLite's default), the same statement is prepared again on each new
        // binding of its LIMIT: what every diesel `first()` and page paid.
        assert_eq!(qpsg(&db, 0), 0);
        assert!(
            reprepares(&db) >= 2,
            "without QPSG the statement is prepared again"
        );
    }
}
