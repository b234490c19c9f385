-- 0007: message bodies sealed under keys that can be destroyed.
--
-- A body is stored encrypted (AES-256-GCM) under its data key, and that key is kept only
-- wrapped: once per holder, under the holder's key. A holder is a mail user (`user:NAME`) or
-- the server's transit holder (`transit`, mail on its way to other servers and agents). Holder
-- keys are sealed under the server key in the key directory, like `vault.secrets`.
--
-- Unlike the log, this schema may be deleted from: destroying a holder's key (and, with it, its
-- wraps) is how a user's mail is erased from an append-only log. A body whose every wrap is gone
-- can no longer be read by anyone, the server included; its stored bytes still hash as they did,
-- so the ledger and `log verify` are unaffected.

CREATE SCHEMA keystore;

-- One live key per holder. `sealed` is ChaCha20-Poly1305 under the server key `server_key_id`,
-- with the key's id and holder as associated data (KeyStore.swift).
CREATE TABLE keystore.holder_keys (
    key_id        uuid PRIMARY KEY,
    holder        text NOT NULL UNIQUE,
    server_key_id text NOT NULL,
    sealed        bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- A body's data key wrapped for one holder: AES-256-GCM under the holder key, with the body's
-- SHA-256 and the key id as associated data. Destroying a holder key removes its wraps.
CREATE TABLE keystore.blob_keys (
    sha256  bytea NOT NULL,
    key_id  uuid  NOT NULL REFERENCES keystore.holder_keys (key_id) ON DELETE CASCADE,
    wrapped bytea NOT NULL CHECK (octet_length(wrapped) = 60),
    PRIMARY KEY (sha256, key_id)
);
CREATE INDEX blob_keys_key ON keystore.blob_keys (key_id);
