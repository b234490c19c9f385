-- 0002: message bodies stored in pieces.
--
-- A large body arrives over minutes and may be far bigger than what a server should hold in
-- memory, so it is written as it is received, piece by piece, each piece compressed on its own.
-- `blobs.chunks` > 0 marks such a body: its `data` is empty and its bytes are its chunks in `seq`
-- order. Chunks are content-addressed with their blob and, like blobs, never change.

ALTER TABLE eventlog.blobs ADD COLUMN chunks integer NOT NULL DEFAULT 0;

CREATE TABLE eventlog.blob_chunks (
    sha256  bytea NOT NULL REFERENCES eventlog.blobs (sha256),
    seq     integer NOT NULL,
    codec   smallint NOT NULL,
    dict_id integer,
    data    bytea NOT NULL,
    PRIMARY KEY (sha256, seq)
);

CREATE TRIGGER blob_chunks_no_update BEFORE UPDATE ON eventlog.blob_chunks
    FOR EACH ROW EXECUTE FUNCTION eventlog.refuse_change();
