-- Each specimen's API view (what GET /specimens/{id} and the list answer: the specimen, its
-- tests and their latest results) as JSON, rewritten in the same transaction as every change to
-- the specimen, its tests or their results. A read by id or a page of the list then reads one
-- row per specimen instead of joining tests and results. `document_format` names the shape the
-- document was written in; a document of another format (or none, for rows older than this
-- column) is not served: the view is built from the tables instead, and `officina serve` and
-- `officina migrate` rewrite such documents at start. Derived data: the tables stay the record.
ALTER TABLE specimens ADD COLUMN document TEXT;
ALTER TABLE specimens ADD COLUMN document_format BIGINT NOT NULL DEFAULT 0;
