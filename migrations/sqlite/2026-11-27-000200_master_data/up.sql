-- Master data: organization settings, providers, payers, patients, coverages.

ALTER TABLE organizations ADD COLUMN taxonomy_code TEXT;
ALTER TABLE organizations ADD COLUMN address_line1 TEXT;
ALTER TABLE organizations ADD COLUMN address_line2 TEXT;
ALTER TABLE organizations ADD COLUMN city TEXT;
ALTER TABLE organizations ADD COLUMN state TEXT;
ALTER TABLE organizations ADD COLUMN postal_code TEXT;
ALTER TABLE organizations ADD COLUMN phone TEXT;
ALTER TABLE organizations ADD COLUMN submitter_id TEXT;
ALTER TABLE organizations ADD COLUMN submitter_name TEXT;
ALTER TABLE organizations ADD COLUMN contact_name TEXT;
ALTER TABLE organizations ADD COLUMN contact_phone TEXT;
ALTER TABLE organizations ADD COLUMN contact_email TEXT;
ALTER TABLE organizations ADD COLUMN accession_prefix TEXT NOT NULL DEFAULT 'L';
ALTER TABLE organizations ADD COLUMN default_place_of_service TEXT NOT NULL DEFAULT '11';
ALTER TABLE organizations ADD COLUMN timely_filing_days INTEGER NOT NULL DEFAULT 365;

CREATE TABLE providers (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    kind TEXT NOT NULL,
    npi TEXT NOT NULL,
    first_name TEXT,
    last_name TEXT,
    organization_name TEXT,
    taxonomy_code TEXT,
    active BOOLEAN NOT NULL DEFAULT 1,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX providers_org_npi_key ON providers (org_id, npi);

CREATE TABLE payers (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    edi_id TEXT NOT NULL,
    claim_kind TEXT NOT NULL,
    receiver_edi_id TEXT,
    receiver_name TEXT,
    timely_filing_days INTEGER,
    active BOOLEAN NOT NULL DEFAULT 1,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX payers_org_edi_kind_key ON payers (org_id, edi_id, claim_kind);

CREATE TABLE patients (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    mrn TEXT NOT NULL,
    first_name TEXT NOT NULL,
    middle_name TEXT,
    last_name TEXT NOT NULL,
    -- lower-case copies for case-insensitive search on both backends
    first_name_search TEXT NOT NULL,
    last_name_search TEXT NOT NULL,
    birth_date DATE NOT NULL,
    sex TEXT NOT NULL,
    phone TEXT,
    email TEXT,
    address_line1 TEXT NOT NULL,
    address_line2 TEXT,
    city TEXT NOT NULL,
    state TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX patients_org_mrn_key ON patients (org_id, mrn);
CREATE INDEX patients_org_name_idx ON patients (org_id, last_name_search, first_name_search);
CREATE INDEX patients_org_birth_idx ON patients (org_id, birth_date);

CREATE TABLE coverages (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    patient_id TEXT NOT NULL REFERENCES patients (id),
    payer_id TEXT NOT NULL REFERENCES payers (id),
    member_id TEXT NOT NULL,
    group_number TEXT,
    priority TEXT NOT NULL,
    relationship TEXT NOT NULL,
    subscriber_first_name TEXT,
    subscriber_last_name TEXT,
    subscriber_birth_date DATE,
    subscriber_sex TEXT,
    subscriber_address_line1 TEXT,
    subscriber_address_line2 TEXT,
    subscriber_city TEXT,
    subscriber_state TEXT,
    subscriber_postal_code TEXT,
    effective_from DATE NOT NULL,
    effective_to DATE,
    active BOOLEAN NOT NULL DEFAULT 1,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX coverages_org_patient_idx ON coverages (org_id, patient_id);
