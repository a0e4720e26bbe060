-- Acknowledgements (999, 277CA) as received: one row per distinct file per organization (the
-- same file imported twice is found by its SHA-256 and changes nothing). `summary` is the JSON
-- the import answered: batches and claims updated, 999 errors, unmatched, skipped.

CREATE TABLE acknowledgements (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    kind TEXT NOT NULL,
    interchange_control_number TEXT NOT NULL,
    group_control_number TEXT,
    sender TEXT NOT NULL,
    file_hash TEXT NOT NULL,
    file_size BIGINT NOT NULL,
    received_by TEXT,
    received_at TIMESTAMP NOT NULL,
    summary TEXT NOT NULL
);
CREATE UNIQUE INDEX acknowledgements_org_hash_key ON acknowledgements (org_id, file_hash);
CREATE INDEX acknowledgements_org_idx ON acknowledgements (org_id, id);

-- The batches a 999 answered, with the outcome and its errors (what the batch shows).
CREATE TABLE acknowledgement_batches (
    acknowledgement_id TEXT NOT NULL REFERENCES acknowledgements (id),
    org_id TEXT NOT NULL REFERENCES organizations (id),
    batch_id TEXT NOT NULL REFERENCES batches (id),
    status TEXT NOT NULL,
    errors TEXT NOT NULL,
    PRIMARY KEY (acknowledgement_id, batch_id)
);
CREATE INDEX acknowledgement_batches_org_batch_idx ON acknowledgement_batches (org_id, batch_id);
