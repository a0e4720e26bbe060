//! Several PostgreSQL writes sent as one statement.
//!
//! A batch of new claims writes four tables (the rows do not read one another's results). Sent
//! one by one, each INSERT is a round trip to the server, made while the batch holds its
//! organization's counter row: on a busy machine each trip waits to be scheduled on both sides,
//! and the lane's next batch waits for all of them. [`Chain`] writes them as one statement
//! instead: every part but the last becomes a data-modifying `WITH` query, which PostgreSQL runs
//! exactly once and to completion whether or not the main statement reads it. Foreign keys hold
//! between the parts: PostgreSQL checks them when the whole statement has run, when the rows of
//! every part are visible. SQLite has no data-modifying `WITH` and no round trips to save; its
//! callers run the same INSERTs one after another.
//!
//! A chain of multi-row INSERTs has a text per row count, so PostgreSQL parses and plans it for
//! every batch. Registrations, the busiest lane, go further: one statement of column arrays with
//! the same text for any batch, prepared once per connection (`lab::pg_rows`).

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::{PgConnection, QueryResult, RunQueryDsl};

/// Statements (INSERTs, typically) sent as one PostgreSQL statement. A part runs when the main
/// statement (the last part) first reads it; the parts nothing reads run after the main
/// statement, in an order PostgreSQL does not document; foreign keys are checked once all have
/// run. Its bind parameters are those of all parts together, which PostgreSQL caps at 65 535.
#[derive(Default)]
pub struct Chain<'a> {
    parts: Vec<Box<dyn QueryFragment<Pg> + 'a>>,
}

impl<'a> Chain<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `part` after the parts already in the chain.
    #[must_use]
    pub fn then(mut self, part: impl QueryFragment<Pg> + 'a) -> Self {
        self.parts.push(Box::new(part));
        self
    }

    /// Runs the chain (nothing when it is empty). The count is the last part's.
    pub fn run(self, conn: &mut PgConnection) -> QueryResult<usize> {
        if self.parts.is_empty() {
            return Ok(0);
        }
        self.execute(conn)
    }
}

impl QueryFragment<Pg> for Chain<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let Some((last, before)) = self.parts.split_last() else {
            return Err(diesel::result::Error::QueryBuilderError(
                "an empty chain is no statement".into(),
            ));
        };
        for (n, part) in before.iter().enumerate() {
            out.push_sql(if n == 0 { "WITH " } else { ", " });
            out.push_sql(&format!("w{n} AS ("));
            part.walk_ast(out.reborrow())?;
            out.push_sql(")");
        }
        if !before.is_empty() {
            out.push_sql(" ");
        }
        last.walk_ast(out.reborrow())
    }
}

/// Its SQL depends on its parts and their row counts: never cached by type.
impl QueryId for Chain<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl RunQueryDsl<PgConnection> for Chain<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::schema::counters::dsl as c;
    use diesel::prelude::*;

    fn sql(chain: &Chain<'_>) -> String {
        diesel::debug_query::<Pg, _>(chain).to_string()
    }

    #[test]
    fn every_part_but_the_last_is_a_with_query_and_binds_are_numbered_across_parts() {
        let a = [(c::org_id.eq("o1"), c::name.eq("n1"), c::value.eq(1_i64))];
        let b = [(c::org_id.eq("o2"), c::name.eq("n2"), c::value.eq(2_i64))];
        let chain = Chain::new()
            .then(diesel::insert_into(c::counters).values(&a[..]))
            .then(diesel::insert_into(c::counters).values(&b[..]));
        let text = sql(&chain);
        assert!(
            text.starts_with(
                "WITH w0 AS (INSERT INTO \"counters\" (\"org_id\", \"name\", \"value\") VALUES ($1, $2, $3)) \
                 INSERT INTO \"counters\" (\"org_id\", \"name\", \"value\") VALUES ($4, $5, $6)"
            ),
            "{text}"
        );
    }

    #[test]
    fn an_empty_insert_is_a_statement_that_writes_nothing_and_ten_parts_all_count() {
        let a = [(c::org_id.eq("o1"), c::name.eq("n1"), c::value.eq(1_i64))];
        let mut chain = Chain::new().then(diesel::insert_into(c::counters).values(&a[..0]));
        for _ in 0..9 {
            chain = chain.then(diesel::insert_into(c::counters).values(&a[..]));
        }
        let text = sql(&chain);
        assert!(
            text.starts_with("WITH w0 AS (SELECT 1 FROM \"counters\" WHERE 1=0), w1 AS (INSERT"),
            "{text}"
        );
        assert!(text.contains("w8 AS (INSERT"), "{text}");
        assert!(text.contains("VALUES ($25, $26, $27) -- binds"), "{text}");
        assert_eq!(text.matches("INSERT INTO").count(), 9, "{text}");
    }

    #[test]
    fn an_empty_chain_is_refused() {
        let chain = Chain::new();
        let mut text = String::new();
        let mut qb = <Pg as diesel::backend::Backend>::QueryBuilder::default();
        assert!(chain.to_sql(&mut qb, &Pg).is_err());
        text.push_str(&diesel::query_builder::QueryBuilder::finish(qb));
        assert!(text.is_empty());
    }

    #[test]
    fn one_part_is_the_statement_itself() {
        let a = [(c::org_id.eq("o1"), c::name.eq("n1"), c::value.eq(1_i64))];
        let chain = Chain::new().then(diesel::insert_into(c::counters).values(&a[..]));
        assert!(
            sql(&chain).starts_with("INSERT INTO \"counters\""),
            "{}",
            sql(&chain)
        );
    }
}
