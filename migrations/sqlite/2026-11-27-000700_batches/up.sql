-- Billing batches: ready claims of one kind for one payer, approved by a manager (not the
-- creator), generated as one X12 837 interchange, marked submitted, acknowledged (999/277CA).
-- ISA13/GS06 are assigned once, at approval, from the per-organization counter `isa13`;
-- approved_at is the instant written in ISA09/ISA10/GS04/GS05/BHT04/BHT05, so a batch always
-- yields the same bytes.

CREATE TABLE batches (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    kind TEXT NOT NULL,
    payer_id TEXT NOT NULL REFERENCES payers (id),
    status TEXT NOT NULL,
    interchange_control_number BIGINT,
    group_control_number BIGINT,
    created_by TEXT,
    approved_by TEXT,
    approved_at TIMESTAMP,
    submitted_by TEXT,
    submitted_at TIMESTAMP,
    claim_count INTEGER NOT NULL,
    total_charge_cents BIGINT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX batches_org_status_idx ON batches (org_id, status, id);
CREATE INDEX batches_org_payer_idx ON batches (org_id, payer_id, id);
-- NULL until approval; unique once assigned (the 999 finds its batch by ISA13/GS06).
CREATE UNIQUE INDEX batches_org_isa13_key ON batches (org_id, interchange_control_number);

-- Membership. A claim is in at most one ACTIVE batch: the partial unique index makes a
-- concurrent double-batching fail. Cancelling a batch sets active = false (the rows stay as
-- history) so its claims can be batched again.
CREATE TABLE batch_claims (
    org_id TEXT NOT NULL REFERENCES organizations (id),
    batch_id TEXT NOT NULL REFERENCES batches (id),
    claim_id TEXT NOT NULL REFERENCES claims (id),
    active BOOLEAN NOT NULL DEFAULT 1,
    PRIMARY KEY (batch_id, claim_id)
);
CREATE UNIQUE INDEX batch_claims_org_claim_active_key ON batch_claims (org_id, claim_id) WHERE active;
CREATE INDEX batch_claims_org_batch_idx ON batch_claims (org_id, batch_id, claim_id);

-- Status history of a batch.
CREATE TABLE batch_events (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    batch_id TEXT NOT NULL REFERENCES batches (id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    actor_id TEXT,
    at TIMESTAMP NOT NULL,
    reason TEXT
);
CREATE INDEX batch_events_org_batch_idx ON batch_events (org_id, batch_id, id);
