DROP TABLE fee_schedule_items;
DROP TABLE fee_schedules;
DROP TABLE org_codes;
DROP TABLE org_code_sets;
DROP TABLE codes;
DROP TABLE code_sets;
