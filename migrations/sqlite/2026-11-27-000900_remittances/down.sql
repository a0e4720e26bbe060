DROP TABLE ledger_entries;
DROP TABLE remittance_claims;
DROP TABLE remittances;
