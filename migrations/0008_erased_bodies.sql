-- 0008: what an erased message body's stored bytes hashed to.
--
-- A body whose every wrap is gone cannot be opened, so `log verify` can no longer check it
-- against its address. Each erasure therefore records in its event, for every body it leaves
-- without a wrap, the digest below of the body's stored (sealed) bytes: the ledger covers the
-- event, so `log verify` re-hashes an erased body against it with no key, and a body
-- `log compact-erased` deleted is known to have been erased rather than lost.
--
-- The digest: SHA-256 of a label, the row's codec, dictionary and number of chunks, the
-- SHA-256 of its data, then per chunk in order its codec, dictionary and the SHA-256 of its
-- data (so a body of many chunks is hashed without joining it). NULL for a body not stored.
CREATE FUNCTION eventlog.stored_digest(p_sha256 bytea) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT sha256('pillarbox-stored-body-v1'::bytea || int2send(b.codec) || int4send(coalesce(b.dict_id, 0))
                  || int4send(b.chunks) || sha256(b.data)
                  || coalesce((SELECT string_agg(int2send(c.codec) || int4send(coalesce(c.dict_id, 0)) || sha256(c.data),
                                                 ''::bytea ORDER BY c.seq)
                                 FROM eventlog.blob_chunks c WHERE c.sha256 = b.sha256), ''::bytea))
      FROM eventlog.blobs b
     WHERE b.sha256 = p_sha256
$$;

-- Stored bodies stay append-only, except one that can no longer be read: a sealed body (codec
-- flag 256) with no wrap left may be deleted, and so may its chunks (`log compact-erased`, as
-- the owner; the serving role is not granted DELETE at all).
CREATE FUNCTION eventlog.refuse_readable_blob_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM eventlog.blobs b
                WHERE b.sha256 = OLD.sha256 AND b.codec >= 256
                  AND NOT EXISTS (SELECT 1 FROM keystore.blob_keys w WHERE w.sha256 = b.sha256)) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'eventlog.% is append-only: DELETE refused (only a sealed body no key opens may go)', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER blobs_no_delete ON eventlog.blobs;
CREATE TRIGGER blobs_no_delete BEFORE DELETE ON eventlog.blobs
    FOR EACH ROW EXECUTE FUNCTION eventlog.refuse_readable_blob_delete();
DROP TRIGGER blob_chunks_no_delete ON eventlog.blob_chunks;
CREATE TRIGGER blob_chunks_no_delete BEFORE DELETE ON eventlog.blob_chunks
    FOR EACH ROW EXECUTE FUNCTION eventlog.refuse_readable_blob_delete();
