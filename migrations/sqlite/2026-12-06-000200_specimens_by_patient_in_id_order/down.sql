DROP INDEX specimens_org_patient_idx;
CREATE INDEX specimens_org_patient_idx ON specimens (org_id, patient_id);
