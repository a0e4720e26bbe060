-- Claims: headers, service lines, status history.
-- Diagnoses, modifiers, pointers and surfaces are JSON arrays in TEXT columns (ordered, short).

CREATE TABLE claims (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    coverage_id TEXT NOT NULL REFERENCES coverages (id),
    payer_id TEXT NOT NULL REFERENCES payers (id),
    rendering_provider_id TEXT REFERENCES providers (id),
    place_of_service TEXT NOT NULL,
    diagnoses TEXT NOT NULL,
    prior_authorization TEXT,
    notes TEXT,
    patient_control_number TEXT NOT NULL,
    frequency_code TEXT NOT NULL DEFAULT '1',
    original_claim_id TEXT REFERENCES claims (id),
    original_reference TEXT,
    payer_claim_number TEXT,
    total_charge_cents BIGINT NOT NULL,
    service_from DATE NOT NULL,
    service_to DATE NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX claims_org_pcn_key ON claims (org_id, patient_control_number);
CREATE INDEX claims_org_status_idx ON claims (org_id, status, id);
CREATE INDEX claims_org_patient_idx ON claims (org_id, patient_id, id);
CREATE INDEX claims_org_payer_idx ON claims (org_id, payer_id, id);
CREATE INDEX claims_org_service_idx ON claims (org_id, service_from, service_to);

CREATE TABLE claim_lines (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    claim_id TEXT NOT NULL REFERENCES claims (id),
    line_number INTEGER NOT NULL,
    procedure_code TEXT NOT NULL,
    modifiers TEXT NOT NULL,
    diagnosis_pointers TEXT NOT NULL,
    units BIGINT NOT NULL,
    charge_cents BIGINT NOT NULL,
    service_date DATE NOT NULL,
    tooth TEXT,
    surfaces TEXT NOT NULL,
    oral_cavity_area TEXT,
    line_control_number TEXT NOT NULL,
    charge_id TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX claim_lines_org_claim_number_key ON claim_lines (org_id, claim_id, line_number);
CREATE INDEX claim_lines_org_control_idx ON claim_lines (org_id, line_control_number);

CREATE TABLE claim_events (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    claim_id TEXT NOT NULL REFERENCES claims (id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    actor_id TEXT,
    at TIMESTAMP NOT NULL,
    reason TEXT
);
CREATE INDEX claim_events_org_claim_idx ON claim_events (org_id, claim_id, id);
