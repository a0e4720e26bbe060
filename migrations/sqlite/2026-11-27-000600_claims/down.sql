DROP TABLE claim_events;
DROP TABLE claim_lines;
DROP TABLE claims;
