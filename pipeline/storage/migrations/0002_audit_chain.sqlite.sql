-- 0002_audit_chain (SQLite): the tamper-evident audit log. Keep in step with 0002_audit_chain.postgresql.sql.
--
-- Each audit-topic partition is one hash chain: a record carries its position (chain_seq),
-- the previous record's hash and its own hash over (partition, position, previous hash,
-- Avro body). Consecutive runs of a chain are sealed into segments by signed checkpoints;
-- a signed expiry removes whole sealed segments, oldest first. Partition -1 is the
-- "direct" chain of records written without the broker (views from the command line).

ALTER TABLE audit_record ADD COLUMN chain_seq BIGINT;
ALTER TABLE audit_record ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_record ADD COLUMN record_hash TEXT;
CREATE UNIQUE INDEX audit_record_chain ON audit_record (kafka_partition, chain_seq);
CREATE INDEX audit_record_person ON audit_record (person_token);

-- Checkpoints of one partition form their own chain (each statement names the hash of
-- the previous one); `statement` is the signed canonical JSON, the columns are for queries.
CREATE TABLE audit_checkpoint (
    kafka_partition INTEGER NOT NULL,
    number          INTEGER NOT NULL,
    kind            TEXT NOT NULL,       -- seal | expire
    first_seq       BIGINT,
    last_seq        BIGINT NOT NULL,     -- seal: last record of the segment; expire: last removed record
    statement       TEXT NOT NULL,
    signature       TEXT NOT NULL,       -- Ed25519 over the statement's UTF-8 bytes, hex
    PRIMARY KEY (kafka_partition, number)
);

-- Append-only: no update ever; a delete only of records under a signed expiry.
CREATE TRIGGER audit_record_no_update BEFORE UPDATE ON audit_record
BEGIN
    SELECT RAISE(ABORT, 'audit_record is append-only');
END;
CREATE TRIGGER audit_record_no_delete BEFORE DELETE ON audit_record
WHEN NOT EXISTS (SELECT 1 FROM audit_checkpoint c WHERE c.kafka_partition = OLD.kafka_partition
                 AND c.kind = 'expire' AND c.last_seq >= OLD.chain_seq)
BEGIN
    SELECT RAISE(ABORT, 'audit records are removed only under a signed expiry checkpoint');
END;
CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoint is append-only');
END;
CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoint is append-only');
END;
