DROP TABLE counters;
DROP TABLE audit_events;
DROP TABLE revoked_tokens;
DROP TABLE users;
DROP TABLE organizations;
DROP TABLE instance_settings;
