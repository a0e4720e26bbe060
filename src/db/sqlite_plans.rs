//! SQLite's query-planner stability guarantee (QPSG) on every connection this process opens.
//!
//! SQLite (3.53, bundled) reads the value bound to a `LIMIT ?` while it plans a statement and
//! then marks the statement stale whenever that parameter is bound again. diesel binds every
//! `LIMIT` (`first`, `limit`, every page of a list) and binds all parameters again on each call,
//! so each such statement, although cached, was parsed and planned anew on every call
//! (measured: a third of `POST /specimens`'s time on SQLite went to re-preparing its checks).
//! With QPSG on, the planner does not look at bound values, so a cached statement stays
//! prepared. The plans it gives up need statistics (`ANALYZE`, which Officina does not run) or a
//! `LIKE` against a bound pattern on a `NOCASE` column (none here).
//!
//! diesel does not expose the connection handle, so the setting is applied by an SQLite
//! auto-extension: a function SQLite calls for each connection it opens in this process.

use std::ffi::{c_char, c_int};
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

/// Registers the auto-extension once per process; connections opened afterwards get QPSG.
/// Returns SQLite's error code if the registration failed (the connections then work as before,
/// only slower).
pub(super) fn ensure() -> Result<(), c_int> {
    static REGISTERED: OnceLock<c_int> = OnceLock::new();
    // SAFETY: `enable_qpsg` has the entry-point signature SQLite expects and lives for the whole
    // process; registering it only adds it to SQLite's global list (a mutex-protected call).
    #[allow(unsafe_code)]
    let rc = *REGISTERED.get_or_init(|| unsafe { ffi::sqlite3_auto_extension(Some(enable_qpsg)) });
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(rc)
    }
}

/// Called by SQLite for each new connection, before it is handed out.
#[allow(unsafe_code)]
unsafe extern "C" fn enable_qpsg(
    db: *mut ffi::sqlite3,
    _error: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: SQLite passes the connection it is opening, valid for this call;
    // SQLITE_DBCONFIG_ENABLE_QPSG takes an int (1: on) and an int pointer that may be null.
    unsafe {
        ffi::sqlite3_db_config(
            db,
            ffi::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as c_int,
            std::ptr::null_mut::<c_int>(),
        )
    }
}

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use super::*;
    use std::ffi::CString;

    /// A raw in-memory connection, opened after `ensure` (as the pool's are).
    fn open() -> *mut ffi::sqlite3 {
        ensure().expect("auto-extension registered");
        let mut db = std::ptr::null_mut();
        let name = CString::new(":memory:").unwrap();
        let rc = unsafe { ffi::sqlite3_open(name.as_ptr(), &mut db) };
        assert_eq!(rc, ffi::SQLITE_OK);
        db
    }

    fn qpsg(db: *mut ffi::sqlite3, set: c_int) -> c_int {
        let mut on: c_int = -1;
        let rc =
            unsafe { ffi::sqlite3_db_config(db, ffi::SQLITE_DBCONFIG_ENABLE_QPSG, set, &mut on) };
        assert_eq!(rc, ffi::SQLITE_OK);
        on
    }

    /// Runs `SELECT ?1 LIMIT ?2` three times with new bindings, as diesel runs a cached
    /// statement, and answers how often SQLite prepared it again.
    fn reprepares(db: *mut ffi::sqlite3) -> c_int {
        let sql = CString::new("SELECT ?1 LIMIT ?2").unwrap();
        let mut stmt = std::ptr::null_mut();
        let flags = ffi::SQLITE_PREPARE_PERSISTENT;
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(db, sql.as_ptr(), -1, flags, &mut stmt, std::ptr::null_mut())
        };
        assert_eq!(rc, ffi::SQLITE_OK);
        for n in 1..=3 {
            unsafe {
                ffi::sqlite3_reset(stmt);
                ffi::sqlite3_bind_int64(stmt, 1, n);
                ffi::sqlite3_bind_int64(stmt, 2, 1);
                assert_eq!(ffi::sqlite3_step(stmt), ffi::SQLITE_ROW);
            }
        }
        let count = unsafe { ffi::sqlite3_stmt_status(stmt, ffi::SQLITE_STMTSTATUS_REPREPARE, 0) };
        unsafe { ffi::sqlite3_finalize(stmt) };
        count
    }

    #[test]
    fn every_new_connection_has_stable_plans() {
        let db = open();
        assert_eq!(qpsg(db, -1), 1, "QPSG on from the start");
        unsafe { ffi::sqlite3_close(db) };
    }

    #[test]
    fn a_cached_statement_with_a_bound_limit_is_prepared_once() {
        let db = open();
        assert_eq!(reprepares(db), 0, "with QPSG");
        // Without it (SQLite's default), the same statement is prepared again on each new
        // binding of its LIMIT: what every diesel `first()` and page paid.
        assert_eq!(qpsg(db, 0), 0);
        assert!(
            reprepares(db) >= 2,
            "without QPSG the statement is prepared again"
        );
        unsafe { ffi::sqlite3_close(db) };
    }
}
