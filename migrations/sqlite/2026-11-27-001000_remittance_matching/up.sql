-- Matching unmatched CLPs by hand, allowed amounts, remark codes and crossovers.
-- `clp` keeps the parsed CLP (JSON) of a claim that was not posted, so it can be matched later;
-- `matched_by`/`matched_at` record who matched it by hand and when (the row's history stays:
-- `outcome` becomes `matched`). `allowed_cents` is AMT*B6 at claim level, `remark_codes` the
-- MOA/MIA remark codes (JSON array), `forwarded_to` the crossover payer (CLP02 19–21, NM1*TT).
ALTER TABLE remittance_claims ADD COLUMN clp TEXT;
ALTER TABLE remittance_claims ADD COLUMN allowed_cents BIGINT;
ALTER TABLE remittance_claims ADD COLUMN remark_codes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE remittance_claims ADD COLUMN forwarded_to TEXT;
ALTER TABLE remittance_claims ADD COLUMN matched_by TEXT;
ALTER TABLE remittance_claims ADD COLUMN matched_at TIMESTAMP;

-- Every SVC of a posted CLP and the claim line it was matched to (REF*6R, else procedure code +
-- date of service when exactly one line fits; `claim_line_id` NULL when none or several did).
-- AMT*B6 and LQ are information, not money movements: they live here, not in the ledger.
CREATE TABLE remittance_lines (
    remittance_id TEXT NOT NULL REFERENCES remittances (id),
    claim_seq INTEGER NOT NULL,
    line_seq INTEGER NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    claim_id TEXT NOT NULL REFERENCES claims (id),
    claim_line_id TEXT REFERENCES claim_lines (id),
    match_method TEXT NOT NULL,
    procedure TEXT NOT NULL,
    service_date TEXT,
    line_control_number TEXT,
    charge_cents BIGINT NOT NULL,
    paid_cents BIGINT NOT NULL,
    allowed_cents BIGINT,
    remark_codes TEXT NOT NULL,
    PRIMARY KEY (remittance_id, claim_seq, line_seq)
);
CREATE INDEX remittance_lines_org_claim_idx ON remittance_lines (org_id, claim_id);
