DROP TABLE acknowledgement_batches;
DROP TABLE acknowledgements;
