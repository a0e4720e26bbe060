DROP TABLE remittance_lines;
ALTER TABLE remittance_claims DROP COLUMN matched_at;
ALTER TABLE remittance_claims DROP COLUMN matched_by;
ALTER TABLE remittance_claims DROP COLUMN forwarded_to;
ALTER TABLE remittance_claims DROP COLUMN remark_codes;
ALTER TABLE remittance_claims DROP COLUMN allowed_cents;
ALTER TABLE remittance_claims DROP COLUMN clp;
