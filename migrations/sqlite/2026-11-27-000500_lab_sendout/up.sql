-- Send-out manifests: a specimen may be on at most one open (draft or shipped) manifest. A row
-- here says which open manifest holds the specimen; the primary key enforces the rule under
-- concurrency. The row is removed when the manifest closes (results received, or cancelled);
-- `manifest_specimens` keeps the manifest's list for good.
CREATE TABLE manifest_holds (
    org_id TEXT NOT NULL REFERENCES organizations (id),
    specimen_id TEXT NOT NULL REFERENCES specimens (id),
    manifest_id TEXT NOT NULL REFERENCES manifests (id),
    PRIMARY KEY (org_id, specimen_id)
);
CREATE INDEX manifest_holds_manifest_idx ON manifest_holds (org_id, manifest_id);
CREATE INDEX manifests_org_status_idx ON manifests (org_id, status, id);
