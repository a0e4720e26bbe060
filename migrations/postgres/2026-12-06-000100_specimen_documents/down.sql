ALTER TABLE specimens DROP COLUMN document_format;
ALTER TABLE specimens DROP COLUMN document;
