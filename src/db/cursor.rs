//! PostgreSQL cursors: a diesel query declared under a name inside a transaction, then fetched
//! a page at a time into the query's own row types. For reads too large to hold at once that
//! should still run as one statement (one plan over whole tables, not one probe per key), such
//! as the 837 of a batch of tens of thousands of claims.
//!
//! Cursors live until the end of the transaction that declared them, or until the savepoint
//! that declared them is rolled back; on SQLite there are none, so callers keep a read by keys
//! for it.

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::LoadQuery;
use diesel::{PgConnection, QueryResult, RunQueryDsl};

/// A declared cursor whose rows have the SQL type `ST` (the declared query's). Its name is fixed
/// by the caller, so a transaction holds at most one cursor of each name at a time: declare it
/// in a savepoint, which closes it when it ends.
#[must_use = "a cursor stays open until its transaction or savepoint ends"]
pub struct Cursor<ST> {
    name: &'static str,
    rows: PhantomData<ST>,
}

impl<ST: 'static> Cursor<ST> {
    /// `DECLARE name NO SCROLL CURSOR FOR query`. The connection must be in a transaction.
    pub fn declare<Q>(conn: &mut PgConnection, name: &'static str, query: Q) -> QueryResult<Self>
    where
        Q: Query<SqlType = ST> + QueryFragment<Pg>,
    {
        Declare { name, query }.execute(conn)?;
        Ok(Self {
            name,
            rows: PhantomData,
        })
    }

    /// The next `rows` rows (fewer at the end, none once it is read).
    pub fn fetch<U>(&self, conn: &mut PgConnection, rows: usize) -> QueryResult<Vec<U>>
    where
        Fetch<ST>: LoadQuery<'static, PgConnection, U>,
    {
        Fetch {
            name: self.name,
            rows,
            sql_type: PhantomData,
        }
        .load(conn)
    }
}

/// `DECLARE … CURSOR FOR` a query. Never a cached prepared statement: the same name is declared
/// again by the next read.
struct Declare<Q> {
    name: &'static str,
    query: Q,
}

impl<Q> QueryId for Declare<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Declare<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql("DECLARE ");
        out.push_identifier(self.name)?;
        out.push_sql(" NO SCROLL CURSOR FOR ");
        self.query.walk_ast(out.reborrow())
    }
}

impl<Q> RunQueryDsl<PgConnection> for Declare<Q> {}

/// `FETCH FORWARD n FROM` a cursor, typed as the declared query. Through the extended protocol
/// the rows come in the format the client binds (binary for diesel), as a `SELECT`'s would.
pub struct Fetch<ST> {
    name: &'static str,
    rows: usize,
    sql_type: PhantomData<ST>,
}

impl<ST> QueryId for Fetch<ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST> Query for Fetch<ST> {
    type SqlType = ST;
}

impl<ST> QueryFragment<Pg> for Fetch<ST> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql("FETCH FORWARD ");
        out.push_sql(&self.rows.to_string());
        out.push_sql(" FROM ");
        out.push_identifier(self.name)
    }
}

impl<ST> RunQueryDsl<PgConnection> for Fetch<ST> {}
