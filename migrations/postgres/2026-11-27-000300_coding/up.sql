-- Code sets and fee schedules.

-- Shipped, global reference code sets (ICD-10-CM, place of service): one row per loaded set.
-- `generation` changes at every load; search caches are keyed by it.
CREATE TABLE code_sets (
    system TEXT PRIMARY KEY NOT NULL,
    edition TEXT NOT NULL,
    checksum TEXT NOT NULL,
    generation TEXT NOT NULL,
    row_count BIGINT NOT NULL,
    loaded_at TIMESTAMP NOT NULL
);

-- The codes of the shipped sets (not per organization). ICD-10-CM codes are stored without the dot.
CREATE TABLE codes (
    system TEXT NOT NULL,
    code TEXT NOT NULL,
    description TEXT NOT NULL,
    billable BOOLEAN NOT NULL,
    effective_from DATE,
    effective_to DATE,
    PRIMARY KEY (system, code)
);

-- A practice's imported licensed table (CPT, CDT, HCPCS, LOINC), one row per organization and system.
CREATE TABLE org_code_sets (
    org_id TEXT NOT NULL REFERENCES organizations (id),
    system TEXT NOT NULL,
    generation TEXT NOT NULL,
    row_count BIGINT NOT NULL,
    imported_at TIMESTAMP NOT NULL,
    imported_by TEXT,
    PRIMARY KEY (org_id, system)
);

CREATE TABLE org_codes (
    org_id TEXT NOT NULL REFERENCES organizations (id),
    system TEXT NOT NULL,
    code TEXT NOT NULL,
    description TEXT NOT NULL,
    effective_from DATE,
    effective_to DATE,
    PRIMARY KEY (org_id, system, code)
);

CREATE TABLE fee_schedules (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    kind TEXT NOT NULL,
    payer_id TEXT REFERENCES payers (id),
    name TEXT NOT NULL,
    effective_from DATE,
    effective_to DATE,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- One standard schedule per organization.
CREATE UNIQUE INDEX fee_schedules_org_standard_key ON fee_schedules (org_id) WHERE kind = 'standard';
CREATE INDEX fee_schedules_org_payer_idx ON fee_schedules (org_id, payer_id);

CREATE TABLE fee_schedule_items (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    schedule_id TEXT NOT NULL REFERENCES fee_schedules (id),
    code TEXT NOT NULL,
    -- '' when the item has no modifier (so the unique key also covers it)
    modifier TEXT NOT NULL DEFAULT '',
    amount_cents BIGINT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX fee_schedule_items_key ON fee_schedule_items (org_id, schedule_id, code, modifier);
