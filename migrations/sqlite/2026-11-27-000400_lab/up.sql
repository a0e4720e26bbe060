-- Lab: specimens, ordered tests, result versions, the custody chain, charges, idempotency keys,
-- send-out manifests.

CREATE TABLE specimens (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    accession_number TEXT NOT NULL,
    parent_id TEXT REFERENCES specimens (id),
    aliquot_count INTEGER NOT NULL DEFAULT 0,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    specimen_type TEXT NOT NULL,
    container TEXT,
    volume_ul BIGINT,
    ordering_provider_id TEXT REFERENCES providers (id),
    priority TEXT NOT NULL,
    status TEXT NOT NULL,
    collected_at TIMESTAMP,
    collected_by TEXT,
    received_at TIMESTAMP,
    location TEXT,
    rejection_reasons TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX specimens_org_accession_key ON specimens (org_id, accession_number);
CREATE INDEX specimens_org_status_idx ON specimens (org_id, status, id);
CREATE INDEX specimens_org_patient_idx ON specimens (org_id, patient_id);
CREATE INDEX specimens_org_parent_idx ON specimens (org_id, parent_id);

CREATE TABLE specimen_tests (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    specimen_id TEXT NOT NULL REFERENCES specimens (id),
    code_system TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    billing_code TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX specimen_tests_org_specimen_idx ON specimen_tests (org_id, specimen_id);

CREATE TABLE test_results (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    test_id TEXT NOT NULL REFERENCES specimen_tests (id),
    result_version INTEGER NOT NULL,
    value TEXT NOT NULL,
    unit TEXT,
    reference_range TEXT,
    flag TEXT,
    comment TEXT,
    entered_by TEXT NOT NULL,
    entered_at TIMESTAMP NOT NULL,
    verified_by TEXT,
    verified_at TIMESTAMP
);
CREATE UNIQUE INDEX test_results_org_test_version_key ON test_results (org_id, test_id, result_version);

CREATE TABLE custody_events (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    specimen_id TEXT NOT NULL REFERENCES specimens (id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    location TEXT,
    temperature_c DOUBLE PRECISION,
    note TEXT,
    reasons TEXT
);
CREATE INDEX custody_events_org_specimen_idx ON custody_events (org_id, specimen_id, id);

CREATE TABLE lab_charges (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    patient_id TEXT NOT NULL REFERENCES patients (id),
    specimen_id TEXT NOT NULL REFERENCES specimens (id),
    test_id TEXT NOT NULL REFERENCES specimen_tests (id),
    procedure_code TEXT NOT NULL,
    service_date DATE NOT NULL,
    amount_cents BIGINT,
    status TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX lab_charges_org_test_key ON lab_charges (org_id, test_id);
CREATE INDEX lab_charges_org_status_idx ON lab_charges (org_id, status, id);

CREATE TABLE idempotency_keys (
    org_id TEXT NOT NULL REFERENCES organizations (id),
    idem_key TEXT NOT NULL,
    user_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, idem_key)
);

CREATE TABLE manifests (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    destination TEXT NOT NULL,
    courier TEXT,
    tracking_number TEXT,
    temperature TEXT,
    status TEXT NOT NULL,
    shipped_at TIMESTAMP,
    results_received_at TIMESTAMP,
    note TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX manifests_org_idx ON manifests (org_id, id);

CREATE TABLE manifest_specimens (
    org_id TEXT NOT NULL REFERENCES organizations (id),
    manifest_id TEXT NOT NULL REFERENCES manifests (id),
    specimen_id TEXT NOT NULL REFERENCES specimens (id),
    PRIMARY KEY (org_id, manifest_id, specimen_id)
);
CREATE INDEX manifest_specimens_specimen_idx ON manifest_specimens (org_id, specimen_id);
