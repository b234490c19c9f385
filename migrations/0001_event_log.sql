-- 0001: the event log.
--
-- Streams and their events, content-addressed message bodies, zstd dictionaries, consumer
-- checkpoints and the tamper-evidence ledger, plus the batch append function the group committer
-- calls. Everything in schema `eventlog`; every other table in Pillarbox is a projection of it.

CREATE SCHEMA eventlog;

-- Trained zstd dictionaries. Rows are never changed or deleted (see the triggers below): old
-- events and blobs keep decoding with the dictionary they name.
CREATE TABLE eventlog.zstd_dicts (
    dict_id      integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sample_count integer NOT NULL,
    sample_bytes bigint NOT NULL,
    data         bytea NOT NULL
);

-- A stream is `category-id`; `version` is the stream_version of its last event, -1 when empty.
CREATE TABLE eventlog.streams (
    stream_id  bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    stream_key text NOT NULL UNIQUE,
    category   text NOT NULL,
    version    bigint NOT NULL DEFAULT -1,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX streams_category ON eventlog.streams (category);

-- codec: 0 = stored as is, 1 = zstd (with the dictionary `dict_id` when it is not null).
-- content_hash: SHA-256 of the row's canonical bytes (see append_batch); the ledger chains it.
-- stream_id and dict_id carry no foreign keys: append_batch is the only writer and sets both from
-- rows it has locked or read, and neither parent table allows deletes. A foreign key would cost a
-- query per appended event.
CREATE TABLE eventlog.events (
    global_position bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    tx_id           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    stream_id       bigint NOT NULL,
    stream_version  bigint NOT NULL,
    type            text NOT NULL,
    type_version    smallint NOT NULL,
    codec           smallint NOT NULL,
    dict_id         integer,
    event_id        uuid NOT NULL UNIQUE,
    correlation_id  uuid,
    causation_id    uuid,
    recorded_at     timestamptz NOT NULL,
    content_hash    bytea NOT NULL,
    payload         bytea NOT NULL,
    UNIQUE (stream_id, stream_version)
);
-- Read order: (tx_id, global_position), fenced below the oldest running transaction.
CREATE INDEX events_read_order ON eventlog.events (tx_id, global_position);

-- Message bodies and other large values, addressed by the SHA-256 of their uncompressed bytes.
CREATE TABLE eventlog.blobs (
    sha256  bytea PRIMARY KEY CHECK (octet_length(sha256) = 32),
    size    bigint NOT NULL,
    codec   smallint NOT NULL,
    dict_id integer,
    data    bytea NOT NULL
);

-- Where each log consumer has got to, written in the same transaction as its own rows.
CREATE TABLE eventlog.consumer_checkpoints (
    consumer        text PRIMARY KEY,
    tx_id           xid8 NOT NULL,
    global_position bigint NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- The hash chain: chain_hash = SHA-256(previous chain_hash ‖ seq ‖ global_position ‖ content_hash),
-- integers as 8-byte big-endian, 32 zero bytes before the first row. Dense in seq, in read order.
CREATE TABLE eventlog.ledger (
    seq             bigint PRIMARY KEY,
    global_position bigint NOT NULL UNIQUE,
    tx_id           xid8 NOT NULL,
    chain_hash      bytea NOT NULL,
    sealed_at       timestamptz NOT NULL DEFAULT now()
);

-- Append-only means append-only: changing history takes a superuser disabling these triggers,
-- and the ledger then names the first altered event.
CREATE FUNCTION eventlog.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'eventlog.% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON eventlog.events
    FOR EACH ROW EXECUTE FUNCTION eventlog.refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON eventlog.events
    FOR EACH STATEMENT EXECUTE FUNCTION eventlog.refuse_change();
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON eventlog.ledger
    FOR EACH ROW EXECUTE FUNCTION eventlog.refuse_change();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON eventlog.ledger
    FOR EACH STATEMENT EXECUTE FUNCTION eventlog.refuse_change();
CREATE TRIGGER blobs_no_update BEFORE UPDATE ON eventlog.blobs
    FOR EACH ROW EXECUTE FUNCTION eventlog.refuse_change();
CREATE TRIGGER streams_no_delete BEFORE DELETE ON eventlog.streams
    FOR EACH ROW EXECUTE FUNCTION eventlog.refuse_change();
CREATE TRIGGER zstd_dicts_append_only BEFORE UPDATE OR DELETE ON eventlog.zstd_dicts
    FOR EACH ROW EXECUTE FUNCTION eventlog.refuse_change();

-- An event's content hash: SHA-256 of its canonical bytes,
--   pillarbox-event-v1 LF event_id LF byte-length ":" stream_key LF stream_version LF type LF
--   type_version LF codec LF dict_id-or-0 LF correlation_id-or-empty LF causation_id-or-empty LF
--   recorded_at-as-microseconds-since-1970 LF payload
-- `pillarbox log verify` recomputes the same bytes in Swift (EventContentHash.swift); the two
-- definitions must stay identical. Declared STABLE (which it is) so the planner inlines it.
CREATE FUNCTION eventlog.event_hash(
    p_event_id uuid, p_stream_key text, p_stream_version bigint, p_type text, p_type_version smallint,
    p_codec smallint, p_dict_id integer, p_correlation_id uuid, p_causation_id uuid,
    p_recorded_micros bigint, p_payload bytea
) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(convert_to(
        'pillarbox-event-v1' || chr(10) ||
        p_event_id::text || chr(10) ||
        octet_length(p_stream_key)::text || ':' || p_stream_key || chr(10) ||
        p_stream_version::text || chr(10) ||
        p_type || chr(10) ||
        p_type_version::text || chr(10) ||
        p_codec::text || chr(10) ||
        coalesce(p_dict_id, 0)::text || chr(10) ||
        coalesce(p_correlation_id::text, '') || chr(10) ||
        coalesce(p_causation_id::text, '') || chr(10) ||
        p_recorded_micros::text || chr(10),
        'UTF8') || p_payload)
$$;

-- Appends a batch of independent stream appends in one statement (one round trip, one commit).
-- A lone append to an existing stream takes eventlog.append_one first and comes here for
-- everything else.
--
-- Per append i: p_stream_keys[i], p_categories[i], p_expected[i] (-2 any, -1 no stream or empty,
-- n = the stream's current version), p_event_counts[i] events and p_blob_counts[i] blobs taken in
-- order from the per-event and per-blob arrays, and p_groups[i]: consecutive appends with the same
-- group succeed or fail together (one transaction across several streams).
-- Per event, 0 in p_dict_ids and the nil UUID in the id arrays mean "none".
--
-- One row per append, in order. outcome: 0 appended, 1 wrong expected version (current_version
-- holds the actual one), 2 already appended (positions are the original ones), 3 an event id is
-- already used by another event, 4 not appended because another append of its group failed.
CREATE FUNCTION eventlog.append_batch(
    p_stream_keys text[], p_categories text[], p_expected bigint[], p_event_counts integer[],
    p_blob_counts integer[], p_groups integer[],
    p_event_ids uuid[], p_types text[], p_type_versions smallint[], p_codecs smallint[],
    p_dict_ids integer[], p_correlation_ids uuid[], p_causation_ids uuid[], p_payloads bytea[],
    p_blob_hashes bytea[], p_blob_sizes bigint[], p_blob_codecs smallint[], p_blob_dict_ids integer[],
    p_blob_data bytea[]
) RETURNS TABLE (outcome smallint, current_version bigint, positions bigint[])
LANGUAGE plpgsql
-- Plans are cached once per connection, often while the log is still small; these lookups are
-- probes of unique keys and must stay index probes however small the tables looked then.
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
AS $$
DECLARE
    nil constant uuid := '00000000-0000-0000-0000-000000000000';
    n integer := coalesce(array_length(p_stream_keys, 1), 0);
    now_ts timestamptz := now();
    now_micros bigint := (extract(epoch FROM now()) * 1000000)::bigint;
    lock_keys text[];
    lock_ids bigint[];
    lock_versions bigint[];
    trial_versions bigint[];
    dup_ids uuid[];
    dup_positions bigint[];
    dup_streams bigint[];
    outcomes smallint[] := array_fill(0::smallint, ARRAY[n]);
    currents bigint[] := array_fill(0::bigint, ARRAY[n]);
    first_event integer[] := array_fill(0, ARRAY[n]);
    first_blob integer[] := array_fill(0, ARRAY[n]);
    accepted_from integer[] := array_fill(0, ARRAY[n]);
    ev_index integer[] := '{}';
    ev_stream integer[] := '{}';
    ev_version bigint[] := '{}';
    blob_index integer[] := '{}';
    inserted bigint[];
    inserted_ids uuid[];
    stream_count integer;
    m integer := 0;
    mb integer := 0;
    conflict boolean;
    attempt integer;
    e integer := 1;
    b integer := 1;
    g_start integer;
    g_end integer;
    g_ok boolean;
    g_dups integer;
    g_events integer;
    i integer;
    j integer;
    k integer;
    li integer;
    cur bigint;
    found_at integer;
    dup_pos bigint[];
BEGIN
    IF n = 0 THEN
        RETURN;
    END IF;

    FOR i IN 1..n LOOP
        first_event[i] := e;
        first_blob[i] := b;
        e := e + p_event_counts[i];
        b := b + p_blob_counts[i];
    END LOOP;

    -- The streams' rows, locked in key order so concurrent batches cannot deadlock; missing
    -- streams are created first (in key order too) and the lock taken again.
    FOR attempt IN 1..2 LOOP
        SELECT array_agg(l.stream_key ORDER BY l.stream_key), array_agg(l.stream_id ORDER BY l.stream_key),
               array_agg(l.version ORDER BY l.stream_key)
          INTO lock_keys, lock_ids, lock_versions
          FROM (SELECT s.stream_key, s.stream_id, s.version FROM eventlog.streams s
                 WHERE s.stream_key = ANY (p_stream_keys) ORDER BY s.stream_key FOR UPDATE) AS l;
        SELECT count(DISTINCT q.key) INTO stream_count FROM unnest(p_stream_keys) AS q(key);
        EXIT WHEN coalesce(array_length(lock_keys, 1), 0) = stream_count;
        INSERT INTO eventlog.streams (stream_key, category)
        SELECT DISTINCT u.key, u.category FROM unnest(p_stream_keys, p_categories) AS u(key, category)
        WHERE NOT (u.key = ANY (coalesce(lock_keys, '{}')))
        ORDER BY u.key
        ON CONFLICT (stream_key) DO NOTHING;
    END LOOP;

    SELECT array_agg(x.event_id), array_agg(x.global_position), array_agg(x.stream_id)
      INTO dup_ids, dup_positions, dup_streams
      FROM unnest(p_event_ids) AS q(id) JOIN eventlog.events x ON x.event_id = q.id;

    g_start := 1;
    WHILE g_start <= n LOOP
        g_end := g_start;
        WHILE g_end < n AND p_groups[g_end + 1] = p_groups[g_start] LOOP
            g_end := g_end + 1;
        END LOOP;

        -- Trial run of the whole group against a copy of the versions.
        trial_versions := lock_versions;
        g_ok := true;
        g_dups := 0;
        g_events := 0;
        FOR i IN g_start..g_end LOOP
            li := array_position(lock_keys, p_stream_keys[i]);
            cur := trial_versions[li];
            currents[i] := cur;
            g_events := g_events + p_event_counts[i];
            k := 0;
            conflict := false;
            IF dup_ids IS NOT NULL THEN
                FOR j IN first_event[i]..first_event[i] + p_event_counts[i] - 1 LOOP
                    found_at := array_position(dup_ids, p_event_ids[j]);
                    IF found_at IS NOT NULL THEN
                        IF dup_streams[found_at] = lock_ids[li] THEN
                            k := k + 1;
                        ELSE
                            conflict := true;
                        END IF;
                    END IF;
                END LOOP;
            END IF;
            g_dups := g_dups + k;
            IF conflict OR (k <> 0 AND k <> p_event_counts[i]) THEN
                outcomes[i] := 3;
                g_ok := false;
            ELSIF k = 0 AND p_expected[i] <> -2 AND p_expected[i] <> cur THEN
                outcomes[i] := 1;
                g_ok := false;
            ELSIF k = 0 THEN
                trial_versions[li] := cur + p_event_counts[i];
            END IF;
        END LOOP;

        IF g_ok AND g_dups > 0 AND g_dups = g_events THEN
            -- Every event of the group is already in the log: report the original positions.
            FOR i IN g_start..g_end LOOP
                outcomes[i] := 2;
                currents[i] := lock_versions[array_position(lock_keys, p_stream_keys[i])];
            END LOOP;
        ELSIF g_ok AND g_dups > 0 THEN
            -- Part of an atomic group is in the log and part is not: the ids were reused.
            FOR i IN g_start..g_end LOOP
                outcomes[i] := 3;
            END LOOP;
        ELSIF g_ok THEN
            FOR i IN g_start..g_end LOOP
                li := array_position(lock_keys, p_stream_keys[i]);
                cur := lock_versions[li];
                accepted_from[i] := m + 1;
                FOR j IN 0..p_event_counts[i] - 1 LOOP
                    m := m + 1;
                    ev_index[m] := first_event[i] + j;
                    ev_stream[m] := li;
                    ev_version[m] := cur + 1 + j;
                END LOOP;
                FOR j IN 0..p_blob_counts[i] - 1 LOOP
                    mb := mb + 1;
                    blob_index[mb] := first_blob[i] + j;
                END LOOP;
                lock_versions[li] := cur + p_event_counts[i];
                currents[i] := lock_versions[li];
            END LOOP;
        ELSE
            FOR i IN g_start..g_end LOOP
                IF outcomes[i] = 0 THEN
                    outcomes[i] := 4;
                END IF;
            END LOOP;
        END IF;

        g_start := g_end + 1;
    END LOOP;

    IF m > 0 THEN
        -- Identity values are drawn in the order rows reach the insert, so ordering RETURNING
        -- by position gives the events in input order; the ids confirm it.
        WITH ins AS (
            INSERT INTO eventlog.events (stream_id, stream_version, type, type_version, codec, dict_id,
                                         event_id, correlation_id, causation_id, recorded_at,
                                         content_hash, payload)
            SELECT lock_ids[u.li], u.v, p_types[u.k], p_type_versions[u.k], p_codecs[u.k],
                   nullif(p_dict_ids[u.k], 0), p_event_ids[u.k], nullif(p_correlation_ids[u.k], nil),
                   nullif(p_causation_ids[u.k], nil), now_ts,
                   eventlog.event_hash(p_event_ids[u.k], lock_keys[u.li], u.v, p_types[u.k], p_type_versions[u.k],
                                       p_codecs[u.k], nullif(p_dict_ids[u.k], 0), nullif(p_correlation_ids[u.k], nil),
                                       nullif(p_causation_ids[u.k], nil), now_micros, p_payloads[u.k]),
                   p_payloads[u.k]
              FROM unnest(ev_index, ev_stream, ev_version) WITH ORDINALITY AS u(k, li, v, ord)
             ORDER BY u.ord
            RETURNING global_position, event_id
        )
        SELECT array_agg(ins.global_position ORDER BY ins.global_position),
               array_agg(ins.event_id ORDER BY ins.global_position)
          INTO inserted, inserted_ids FROM ins;
        FOR j IN 1..m LOOP
            IF inserted_ids[j] <> p_event_ids[ev_index[j]] THEN
                RAISE EXCEPTION 'append_batch: events were not numbered in input order';
            END IF;
        END LOOP;

        UPDATE eventlog.streams s SET version = u.v
          FROM unnest(lock_ids, lock_versions) AS u(id, v)
         WHERE s.stream_id = u.id AND s.version <> u.v;

        IF mb > 0 THEN
            INSERT INTO eventlog.blobs (sha256, size, codec, dict_id, data)
            SELECT p_blob_hashes[u.k], p_blob_sizes[u.k], p_blob_codecs[u.k],
                   nullif(p_blob_dict_ids[u.k], 0), p_blob_data[u.k]
              FROM unnest(blob_index) AS u(k)
            ON CONFLICT (sha256) DO NOTHING;
        END IF;

        PERFORM pg_notify('pillarbox_events', '');
    END IF;

    FOR i IN 1..n LOOP
        outcome := outcomes[i];
        current_version := currents[i];
        IF outcomes[i] = 0 THEN
            positions := inserted[accepted_from[i] : accepted_from[i] + p_event_counts[i] - 1];
        ELSIF outcomes[i] = 2 THEN
            dup_pos := '{}';
            FOR j IN first_event[i]..first_event[i] + p_event_counts[i] - 1 LOOP
                dup_pos := dup_pos || dup_positions[array_position(dup_ids, p_event_ids[j])];
            END LOOP;
            positions := dup_pos;
        ELSE
            positions := '{}';
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

-- The short path for the most common append: one stream that exists, at the expected version,
-- with event ids not seen before, in a single statement. When any of that does not hold it
-- writes nothing and returns no row, and the caller goes through append_batch, which says
-- exactly what went wrong. Arguments as for one append of append_batch.
CREATE FUNCTION eventlog.append_one(
    p_stream_key text, p_expected bigint,
    p_event_ids uuid[], p_types text[], p_type_versions smallint[], p_codecs smallint[], p_dict_ids integer[],
    p_correlation_ids uuid[], p_causation_ids uuid[], p_payloads bytea[],
    p_blob_hashes bytea[], p_blob_sizes bigint[], p_blob_codecs smallint[], p_blob_dict_ids integer[],
    p_blob_data bytea[]
) RETURNS TABLE (current_version bigint, positions bigint[])
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
AS $$
DECLARE
    nil constant uuid := '00000000-0000-0000-0000-000000000000';
    now_micros bigint := (extract(epoch FROM now()) * 1000000)::bigint;
BEGIN
    RETURN QUERY
    WITH s AS (
        SELECT x.stream_id, x.stream_key, x.version FROM eventlog.streams x WHERE x.stream_key = p_stream_key FOR UPDATE
    ), ok AS (
        SELECT s.stream_id, s.stream_key, s.version FROM s
         WHERE (p_expected = -2 OR s.version = p_expected)
           AND NOT EXISTS (SELECT 1 FROM eventlog.events e WHERE e.event_id = ANY (p_event_ids))
    ), ins AS (
        INSERT INTO eventlog.events (stream_id, stream_version, type, type_version, codec, dict_id, event_id,
                                     correlation_id, causation_id, recorded_at, content_hash, payload)
        SELECT ok.stream_id, ok.version + u.ord, u.type, u.type_version, u.codec, nullif(u.dict_id, 0), u.id,
               nullif(u.correlation_id, nil), nullif(u.causation_id, nil), now(),
               eventlog.event_hash(u.id, ok.stream_key, ok.version + u.ord, u.type, u.type_version, u.codec,
                                   nullif(u.dict_id, 0), nullif(u.correlation_id, nil), nullif(u.causation_id, nil),
                                   now_micros, u.payload),
               u.payload
          FROM ok, unnest(p_event_ids, p_types, p_type_versions, p_codecs, p_dict_ids, p_correlation_ids,
                          p_causation_ids, p_payloads)
                   WITH ORDINALITY AS u(id, type, type_version, codec, dict_id, correlation_id, causation_id, payload, ord)
         ORDER BY u.ord
        RETURNING eventlog.events.global_position
    ), bumped AS (
        UPDATE eventlog.streams t SET version = ok.version + cardinality(p_event_ids) FROM ok WHERE t.stream_id = ok.stream_id
    ), stored AS (
        INSERT INTO eventlog.blobs (sha256, size, codec, dict_id, data)
        SELECT b.sha256, b.size, b.codec, nullif(b.dict_id, 0), b.data
          FROM unnest(p_blob_hashes, p_blob_sizes, p_blob_codecs, p_blob_dict_ids, p_blob_data) AS b(sha256, size, codec, dict_id, data)
         WHERE EXISTS (SELECT 1 FROM ok)
        ON CONFLICT (sha256) DO NOTHING
    )
    SELECT ok.version + cardinality(p_event_ids), (SELECT array_agg(ins.global_position ORDER BY ins.global_position) FROM ins)
      FROM ok;
    IF FOUND THEN
        PERFORM pg_notify('pillarbox_events', '');
    END IF;
END
$$;
