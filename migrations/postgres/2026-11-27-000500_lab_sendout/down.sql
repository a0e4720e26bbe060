DROP INDEX manifests_org_status_idx;
DROP TABLE manifest_holds;
