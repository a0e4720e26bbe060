-- 835 remittances as received: one row per payer and trace number (TRN02) per organization (the
-- same remittance imported twice is found by that key and posts nothing). `summary` is the JSON
-- the import answered.
CREATE TABLE remittances (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    trace_number TEXT NOT NULL,
    payer_edi_id TEXT NOT NULL,
    paid_cents BIGINT NOT NULL,
    file_hash TEXT NOT NULL,
    received_by TEXT,
    received_at TIMESTAMP NOT NULL,
    summary TEXT NOT NULL
);
CREATE UNIQUE INDEX remittances_org_payer_trace_key ON remittances (org_id, payer_edi_id, trace_number);
CREATE INDEX remittances_org_idx ON remittances (org_id, id);

-- Every CLP of a remittance and what became of it (posted, unmatched, imbalanced, skipped).
CREATE TABLE remittance_claims (
    remittance_id TEXT NOT NULL REFERENCES remittances (id),
    seq INTEGER NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    patient_control_number TEXT NOT NULL,
    claim_id TEXT REFERENCES claims (id),
    status_code TEXT NOT NULL,
    charge_cents BIGINT NOT NULL,
    paid_cents BIGINT NOT NULL,
    patient_responsibility_cents BIGINT NOT NULL,
    payer_claim_number TEXT,
    outcome TEXT NOT NULL,
    PRIMARY KEY (remittance_id, seq)
);
CREATE INDEX remittance_claims_org_claim_idx ON remittance_claims (org_id, claim_id);

-- The A/R ledger: append-only, never updated or deleted. A claim's balance is the sum of its
-- entries (charge positive; payments, adjustments, patient responsibility negative; a reversal
-- is a counter-entry). PLB provider-level adjustments have no claim.
CREATE TABLE ledger_entries (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    claim_id TEXT REFERENCES claims (id),
    remittance_id TEXT REFERENCES remittances (id),
    kind TEXT NOT NULL,
    group_code TEXT,
    reason_code TEXT,
    amount_cents BIGINT NOT NULL,
    line_control_number TEXT,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX ledger_entries_org_claim_idx ON ledger_entries (org_id, claim_id);
CREATE INDEX ledger_entries_org_remittance_idx ON ledger_entries (org_id, remittance_id);
