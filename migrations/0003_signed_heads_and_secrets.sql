-- 0003: what someone holding the database meets.
--
-- Message bodies are as append-only as the events that refer to them: no DELETE, no TRUNCATE
-- (UPDATE was refused already). The ledger's chain head is signed now and then with a key kept
-- outside the database (`eventlog.ledger_checkpoints`), so re-chaining the ledger after editing
-- an event no longer passes `pillarbox log verify`. Reversible secrets (APOP and CRAM-MD5
-- secrets, and later relay, collector and DKIM keys) never go into an event: they are sealed
-- with a key kept outside the database and stored in `vault.secrets`, which may be deleted
-- from; the event carries the secret's id only.
--
-- The role that serves mail is granted what it needs by the server at start-up
-- (DatabaseRoles.swift); it owns none of these tables.

CREATE TRIGGER blobs_no_delete BEFORE DELETE ON eventlog.blobs
    FOR EACH ROW EXECUTE FUNCTION eventlog.refuse_change();
CREATE TRIGGER blobs_no_truncate BEFORE TRUNCATE ON eventlog.blobs
    FOR EACH STATEMENT EXECUTE FUNCTION eventlog.refuse_change();
CREATE TRIGGER blob_chunks_no_delete BEFORE DELETE ON eventlog.blob_chunks
    FOR EACH ROW EXECUTE FUNCTION eventlog.refuse_change();
CREATE TRIGGER blob_chunks_no_truncate BEFORE TRUNCATE ON eventlog.blob_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION eventlog.refuse_change();
CREATE TRIGGER streams_no_truncate BEFORE TRUNCATE ON eventlog.streams
    FOR EACH STATEMENT EXECUTE FUNCTION eventlog.refuse_change();
CREATE TRIGGER zstd_dicts_no_truncate BEFORE TRUNCATE ON eventlog.zstd_dicts
    FOR EACH STATEMENT EXECUTE FUNCTION eventlog.refuse_change();

-- A signed ledger head: the chain hash at ledger row `seq`, signed with Ed25519 over
--   pillarbox-ledger-head-v1 LF seq LF global_position LF hex(chain_hash) LF signed_micros LF
-- (LedgerHead.swift). `public_key` is the signer's raw 32-byte key.
CREATE TABLE eventlog.ledger_checkpoints (
    seq             bigint PRIMARY KEY,
    global_position bigint NOT NULL,
    chain_hash      bytea NOT NULL CHECK (octet_length(chain_hash) = 32),
    signed_micros   bigint NOT NULL,
    public_key      bytea NOT NULL CHECK (octet_length(public_key) = 32),
    signature       bytea NOT NULL CHECK (octet_length(signature) = 64)
);
CREATE TRIGGER ledger_checkpoints_append_only BEFORE UPDATE OR DELETE ON eventlog.ledger_checkpoints
    FOR EACH ROW EXECUTE FUNCTION eventlog.refuse_change();
CREATE TRIGGER ledger_checkpoints_no_truncate BEFORE TRUNCATE ON eventlog.ledger_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION eventlog.refuse_change();

-- Sealed secrets: ChaCha20-Poly1305 under the key in the key directory (`key_id` names it),
-- with the secret's id and purpose as associated data. `subject` is whose secret it is (a user
-- id), so removing the subject removes its secrets.
CREATE SCHEMA vault;
CREATE TABLE vault.secrets (
    secret_id  uuid PRIMARY KEY,
    purpose    text NOT NULL,
    subject    text NOT NULL,
    key_id     text NOT NULL,
    sealed     bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX secrets_subject ON vault.secrets (subject);
