DROP TABLE batch_events;
DROP TABLE batch_claims;
DROP TABLE batches;
