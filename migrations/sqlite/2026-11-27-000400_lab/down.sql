DROP TABLE manifest_specimens;
DROP TABLE manifests;
DROP TABLE idempotency_keys;
DROP TABLE lab_charges;
DROP TABLE custody_events;
DROP TABLE test_results;
DROP TABLE specimen_tests;
DROP TABLE specimens;
