-- 0004: wake-ups name what grew.
--
-- The NOTIFY that an append sends after COMMIT carries the categories of the streams it wrote
-- (comma-separated), so a follower of some categories is woken only when one of them grew. An
-- empty payload still means "anything may have grown". The two append functions are as in 0001
-- apart from that payload.

CREATE OR REPLACE FUNCTION eventlog.append_batch(
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

        PERFORM pg_notify('pillarbox_events', (SELECT string_agg(DISTINCT c, ',' ORDER BY c) FROM unnest(p_categories) AS c));
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

CREATE OR REPLACE FUNCTION eventlog.append_one(
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
        PERFORM pg_notify('pillarbox_events', split_part(p_stream_key, '-', 1));
    END IF;
END
$$;
