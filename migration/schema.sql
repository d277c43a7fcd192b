--
-- PostgreSQL database dump
--

--
-- Name: uuid-ossp; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA public;

--
-- Name: EXTENSION "uuid-ossp"; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON EXTENSION "uuid-ossp" IS 'generate universally unique identifiers (UUIDs)';

--
-- Name: engine_add_jobs(jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.engine_add_jobs(p_jobs jsonb) RETURNS TABLE(id bigint, existed boolean)
    LANGUAGE sql
    AS $$
        INSERT INTO engine_jobs AS t (kind, args, queue, priority, run_at, max_attempts, dedupe_key,
                                      concurrency_key, group_key, created_by, correlation_id)
        SELECT j.kind, coalesce(j.args, '{}'::jsonb), coalesce(j.queue, k.queue, 'default'),
               coalesce(j.priority, k.priority, 1), coalesce(j.run_at, now()),
               coalesce(j.max_attempts, k.max_attempts, 20), j.dedupe_key, j.concurrency_key,
               j.group_key, j.created_by, j.correlation_id
          FROM ROWS FROM (jsonb_to_recordset(p_jobs) AS (
                   kind text, args jsonb, queue text, priority smallint, run_at timestamptz,
                   max_attempts int, dedupe_key text, concurrency_key text, group_key text,
                   created_by text, correlation_id uuid))
               WITH ORDINALITY AS j(kind, args, queue, priority, run_at, max_attempts, dedupe_key,
                                    concurrency_key, group_key, created_by, correlation_id, ord)
          LEFT JOIN engine_kinds k ON k.kind = j.kind
         ORDER BY j.ord
        ON CONFLICT (kind, dedupe_key) WHERE dedupe_key IS NOT NULL AND state IN ('available', 'running')
        DO UPDATE SET priority = greatest(t.priority, excluded.priority)
        RETURNING t.id, t.xmax <> 0
    $$;

--
-- Name: engine_capture_event(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.engine_capture_event() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        v_id uuid := gen_random_uuid();
        v_old jsonb;
        v_new jsonb;
    BEGIN
        IF current_setting('engine.capture_events', true) = 'off' THEN
            RETURN NULL;
        END IF;
        -- The trigger's arguments name columns left out (secrets such as password hashes).
        IF TG_OP IN ('UPDATE', 'DELETE') THEN v_old := to_jsonb(OLD) - coalesce(TG_ARGV, '{}'); END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN v_new := to_jsonb(NEW) - coalesce(TG_ARGV, '{}'); END IF;
        IF TG_OP = 'UPDATE' AND v_old = v_new THEN
            RETURN NULL;
        END IF;
        INSERT INTO engine_events (id, source, trigger_name, table_schema, table_name, op, old, new,
                                   session_variables, created_at)
        VALUES (v_id, 'native', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP, v_old, v_new,
                nullif(current_setting('engine.session_variables', true), '')::jsonb,
                clock_timestamp());
        PERFORM engine_add_jobs(jsonb_build_array(jsonb_build_object(
            'kind', 'engine.detect', 'args', jsonb_build_object('eventId', v_id),
            'correlation_id', v_id, 'created_by', 'trigger ' || TG_NAME)));
        RETURN NULL;
    END $$;

--
-- Name: engine_jobs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.engine_jobs (
    id bigint NOT NULL,
    queue text DEFAULT 'default'::text NOT NULL,
    kind text NOT NULL,
    args jsonb DEFAULT '{}'::jsonb NOT NULL,
    state text DEFAULT 'available'::text NOT NULL,
    priority smallint DEFAULT 1 NOT NULL,
    run_at timestamp with time zone DEFAULT now() NOT NULL,
    attempt integer DEFAULT 0 NOT NULL,
    max_attempts integer DEFAULT 20 NOT NULL,
    dedupe_key text,
    concurrency_key text,
    group_key text,
    isolate boolean DEFAULT false NOT NULL,
    crashes integer DEFAULT 0 NOT NULL,
    lease_owner uuid,
    lease_expires_at timestamp with time zone,
    cancel_requested_at timestamp with time zone,
    progress jsonb,
    result jsonb,
    last_error text,
    created_by text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    finished_at timestamp with time zone,
    correlation_id uuid,
    CONSTRAINT engine_jobs_check CHECK (((state = 'running'::text) = (lease_owner IS NOT NULL))),
    CONSTRAINT engine_jobs_max_attempts_check CHECK ((max_attempts > 0)),
    CONSTRAINT engine_jobs_state_check CHECK ((state = ANY (ARRAY['available'::text, 'running'::text, 'completed'::text, 'failed'::text, 'cancelled'::text, 'discarded'::text])))
);

--
-- Name: engine_claim(text, integer, uuid, double precision); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.engine_claim(p_queue text, p_limit integer, p_worker uuid, p_lease_secs double precision) RETURNS SETOF public.engine_jobs
    LANGUAGE plpgsql
    AS $$
    DECLARE
        q engine_queues;
        -- Candidates by priority (h_*) and, with fairness, the low ones (l_*); *_key is the
        -- position of the job's key in keys/rooms, *_twin its position in the other list.
        h_ids bigint[]; h_prio smallint[]; h_keys text[]; h_key int[]; h_twin int[]; h_taken boolean[];
        l_ids bigint[]; l_keys text[]; l_key int[]; l_twin int[]; l_taken boolean[];
        -- Per key met: the slots it has free (0 when another claimer holds the key).
        keys text[]; rooms int[];
        full_keys text[] := '{}';
        chosen bigint[] := '{}';
        taken int := 0;
        hi int; li int; k int;
        blocked boolean;
        rounds int := 0;
        wanted int;
    BEGIN
        SELECT * INTO q FROM engine_queues WHERE name = p_queue;
        IF NOT FOUND THEN
            q.fair_counter := 0;
            q.fair_low_max := 1;
        END IF;
        IF q.paused_until IS NOT NULL AND q.paused_until > now() THEN
            RETURN;
        END IF;
        IF q.fair_every IS NOT NULL THEN
            -- Serialises the claimers of this queue only: the counter is read and written once.
            SELECT * INTO q FROM engine_queues WHERE name = p_queue FOR UPDATE;
        END IF;
        -- Keys already at their cap are passed over from the first round: a first round that
        -- locked them, only to find no room, cost a second round on every claim while the
        -- highest-priority keys were full.
        IF q.per_key_limit IS NOT NULL THEN
            SELECT coalesce(array_agg(concurrency_key), '{}') INTO full_keys
              FROM (SELECT concurrency_key FROM engine_jobs
                     WHERE state = 'running' AND concurrency_key IS NOT NULL
                     GROUP BY concurrency_key HAVING count(*) >= q.per_key_limit) f;
        END IF;
        LOOP
            rounds := rounds + 1;
            wanted := p_limit - taken;
            -- Locked candidates: an eighth more than wanted, for the ones whose key has no room (a
            -- further round looks past keys found full).
            SELECT coalesce(array_agg(c.id ORDER BY c.n), '{}'), coalesce(array_agg(c.priority ORDER BY c.n), '{}'),
                   coalesce(array_agg(c.concurrency_key ORDER BY c.n), '{}')
              INTO h_ids, h_prio, h_keys
              FROM (SELECT l.*, row_number() OVER () AS n FROM (
                        SELECT id, priority, concurrency_key FROM engine_jobs
                         WHERE state = 'available' AND queue = p_queue AND run_at <= now() AND NOT isolate
                           AND (concurrency_key IS NULL OR NOT concurrency_key = ANY (full_keys))
                           AND NOT id = ANY (chosen)
                         ORDER BY priority DESC, run_at, id
                         LIMIT wanted + wanted / 8 + 8 FOR UPDATE SKIP LOCKED) l) c;
            l_ids := '{}'; l_keys := '{}';
            IF q.fair_every IS NOT NULL THEN
                SELECT coalesce(array_agg(c.id ORDER BY c.n), '{}'), coalesce(array_agg(c.concurrency_key ORDER BY c.n), '{}')
                  INTO l_ids, l_keys
                  FROM (SELECT l.*, row_number() OVER () AS n FROM (
                            SELECT id, concurrency_key FROM engine_jobs
                             WHERE state = 'available' AND queue = p_queue AND run_at <= now() AND NOT isolate
                               AND priority <= q.fair_low_max
                               AND (concurrency_key IS NULL OR NOT concurrency_key = ANY (full_keys))
                               AND NOT id = ANY (chosen)
                             ORDER BY priority DESC, run_at, id
                             LIMIT wanted / q.fair_every + 2 FOR UPDATE SKIP LOCKED) l) c;
            END IF;
            EXIT WHEN cardinality(h_ids) = 0;
            -- Each key met once, in a fixed order: locked for this transaction (or left to the
            -- claimer holding it), then its running jobs counted after the lock was taken.
            keys := '{}'; rooms := '{}';
            IF q.per_key_limit IS NOT NULL THEN
                SELECT coalesce(array_agg(m.key ORDER BY m.key), '{}'),
                       coalesce(array_agg(CASE WHEN m.locked THEN q.per_key_limit ELSE 0 END ORDER BY m.key), '{}')
                  INTO keys, rooms
                  FROM (SELECT u.key, pg_try_advisory_xact_lock(hashtextextended('engine:key:' || u.key, 0)) AS locked
                          FROM (SELECT DISTINCT key FROM unnest(h_keys || l_keys) AS key
                                 WHERE key IS NOT NULL ORDER BY key) u) m;
                SELECT coalesce(array_agg(greatest(r.room - coalesce(x.running, 0), 0) ORDER BY r.i), '{}')
                  INTO rooms
                  FROM unnest(keys, rooms) WITH ORDINALITY AS r(key, room, i)
                  LEFT JOIN (SELECT concurrency_key, count(*)::int AS running FROM engine_jobs
                              WHERE state = 'running' AND concurrency_key = ANY (keys)
                              GROUP BY concurrency_key) x ON x.concurrency_key = r.key;
            END IF;
            -- Positions instead of searches in the loop below (hash joins here).
            SELECT coalesce(array_agg(k.i ORDER BY h.n), '{}'), coalesce(array_agg(t.n ORDER BY h.n), '{}')
              INTO h_key, h_twin
              FROM unnest(h_keys, h_ids) WITH ORDINALITY AS h(key, id, n)
              LEFT JOIN unnest(keys) WITH ORDINALITY AS k(key, i) ON k.key = h.key
              LEFT JOIN unnest(l_ids) WITH ORDINALITY AS t(id, n) ON t.id = h.id;
            SELECT coalesce(array_agg(k.i ORDER BY l.n), '{}'), coalesce(array_agg(t.n ORDER BY l.n), '{}')
              INTO l_key, l_twin
              FROM unnest(l_keys, l_ids) WITH ORDINALITY AS l(key, id, n)
              LEFT JOIN unnest(keys) WITH ORDINALITY AS k(key, i) ON k.key = l.key
              LEFT JOIN unnest(h_ids) WITH ORDINALITY AS t(id, n) ON t.id = l.id;
            h_taken := array_fill(false, ARRAY[cardinality(h_ids)]);
            l_taken := array_fill(false, ARRAY[greatest(cardinality(l_ids), 1)]);
            -- The order of service: by priority, and with fairness one low job after every
            -- `fair_every` higher ones. A job whose key has no room is passed over.
            hi := 1; li := 1; blocked := false;
            WHILE taken < p_limit AND hi <= cardinality(h_ids) LOOP
                IF q.fair_every IS NOT NULL AND q.fair_counter >= q.fair_every THEN
                    WHILE li <= cardinality(l_ids) LOOP
                        k := l_key[li];
                        IF NOT l_taken[li] AND (k IS NULL OR rooms[k] > 0) THEN
                            taken := taken + 1;
                            chosen[taken] := l_ids[li];
                            l_taken[li] := true;
                            IF l_twin[li] IS NOT NULL THEN h_taken[l_twin[li]] := true; END IF;
                            IF k IS NOT NULL THEN rooms[k] := rooms[k] - 1; END IF;
                            li := li + 1;
                            EXIT;
                        END IF;
                        IF k IS NOT NULL AND rooms[k] = 0 THEN blocked := true; END IF;
                        li := li + 1;
                    END LOOP;
                    -- Served one, or none could be: the higher ones are not held back.
                    q.fair_counter := 0;
                    CONTINUE;
                END IF;
                k := h_key[hi];
                IF NOT h_taken[hi] AND (k IS NULL OR rooms[k] > 0) THEN
                    taken := taken + 1;
                    chosen[taken] := h_ids[hi];
                    h_taken[hi] := true;
                    IF h_twin[hi] IS NOT NULL THEN l_taken[h_twin[hi]] := true; END IF;
                    IF k IS NOT NULL THEN rooms[k] := rooms[k] - 1; END IF;
                    IF q.fair_every IS NOT NULL THEN
                        IF h_prio[hi] <= q.fair_low_max THEN
                            q.fair_counter := 0;
                        ELSE
                            q.fair_counter := q.fair_counter + 1;
                        END IF;
                    END IF;
                ELSIF k IS NOT NULL AND rooms[k] = 0 THEN
                    blocked := true;
                END IF;
                hi := hi + 1;
            END LOOP;
            -- Another round only when keys without room hid jobs behind them (skipped then),
            -- and at most three.
            EXIT WHEN taken >= p_limit OR NOT blocked OR rounds >= 3
                   OR cardinality(h_ids) < wanted + wanted / 8 + 8;
            SELECT coalesce(array_agg(keys[i]), '{}') || full_keys INTO full_keys
              FROM generate_subscripts(keys, 1) AS i WHERE rooms[i] = 0;
        END LOOP;
        IF q.fair_every IS NOT NULL THEN
            UPDATE engine_queues SET fair_counter = q.fair_counter WHERE name = p_queue;
        END IF;
        IF taken = 0 THEN
            RETURN;
        END IF;
        -- One update for the batch; started_at follows the order of service.
        RETURN QUERY
            WITH claimed AS (
                UPDATE engine_jobs j
                   SET state = 'running', attempt = j.attempt + 1, lease_owner = p_worker,
                       lease_expires_at = now() + make_interval(secs => p_lease_secs),
                       started_at = clock_timestamp() + make_interval(secs => o.n / 1e6)
                  FROM unnest(chosen) WITH ORDINALITY AS o(id, n)
                 WHERE j.id = o.id
                RETURNING j.*),
            counted AS (
                SELECT engine_count_moves(array_agg(queue), array_agg(kind),
                                          array_fill('available'::text, ARRAY[count(*)::int]),
                                          array_fill('running'::text, ARRAY[count(*)::int]))
                  FROM claimed)
            SELECT c.* FROM claimed c, counted;
    END $$;

--
-- Name: engine_compact_counts(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.engine_compact_counts() RETURNS void
    LANGUAGE plpgsql
    AS $$
    BEGIN
        -- One compactor at a time; the others have nothing to do.
        IF NOT pg_try_advisory_xact_lock(hashtextextended('engine:compact_counts', 0)) THEN
            RETURN;
        END IF;
        WITH moved AS (
            DELETE FROM engine_job_counts WHERE at < now() - interval '10 seconds' RETURNING *),
        bucketed AS (
            SELECT queue, kind, state, jobs, entered,
                   CASE WHEN at < now() - interval '10 minutes' THEN '-infinity'::timestamptz
                        ELSE to_timestamp(floor(extract(epoch FROM at) / 10) * 10) END AS bucket
              FROM moved)
        INSERT INTO engine_job_counts (queue, kind, state, at, jobs, entered)
        SELECT queue, kind, state, bucket, sum(jobs),
               CASE WHEN bucket = '-infinity' THEN 0 ELSE sum(entered) END
          FROM bucketed GROUP BY queue, kind, state, bucket
        HAVING sum(jobs) <> 0 OR (bucket <> '-infinity' AND sum(entered) <> 0);
    END $$;

--
-- Name: engine_count_jobs(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.engine_count_jobs() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO engine_job_counts (queue, kind, state, jobs, entered)
            SELECT queue, kind, state, count(*), count(*) FROM new_rows GROUP BY 1, 2, 3;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO engine_job_counts (queue, kind, state, jobs)
            SELECT queue, kind, state, -count(*) FROM old_rows GROUP BY 1, 2, 3;
        ELSE
            DELETE FROM engine_job_counts;
        END IF;
        RETURN NULL;
    END $$;

--
-- Name: engine_count_moves(text[], text[], text[], text[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.engine_count_moves(p_queues text[], p_kinds text[], p_from text[], p_to text[]) RETURNS void
    LANGUAGE sql
    AS $$
        INSERT INTO engine_job_counts (queue, kind, state, jobs, entered)
        SELECT c.queue, c.kind, c.state, sum(c.change), sum(greatest(c.change, 0))
          FROM (SELECT queue, kind, from_state, to_state, count(*) AS moved
                  FROM unnest(p_queues, p_kinds, p_from, p_to) AS m(queue, kind, from_state, to_state)
                 WHERE from_state <> to_state
                 GROUP BY 1, 2, 3, 4) m
         CROSS JOIN LATERAL (VALUES (m.queue, m.kind, m.from_state, -m.moved),
                                    (m.queue, m.kind, m.to_state, m.moved)) AS c(queue, kind, state, change)
         GROUP BY 1, 2, 3
    $$;

--
-- Name: engine_emit(bigint[], text[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.engine_emit(p_ids bigint[], p_outcomes text[]) RETURNS void
    LANGUAGE sql
    AS $$
        SELECT engine_add_jobs(jsonb_agg(jsonb_build_object(
                   'kind', 'engine.webhook',
                   'args', jsonb_build_object(
                       'endpoint', e.id,
                       'eventId', 'evt_' || replace(gen_random_uuid()::text, '-', ''),
                       'type', t.type,
                       'occurredAt', now(),
                       'task', jsonb_build_object(
                           'id', j.id, 'kind', j.kind, 'queue', j.queue, 'state', j.state,
                           'attempt', j.attempt, 'maxAttempts', j.max_attempts, 'args', j.args,
                           'result', j.result, 'error', j.last_error, 'priority', j.priority,
                           'createdAt', j.created_at, 'startedAt', j.started_at,
                           'finishedAt', j.finished_at, 'createdBy', j.created_by)),
                   'group_key', 'webhook:' || e.id, 'created_by', 'engine')))
          FROM unnest(p_ids, p_outcomes) AS u(id, outcome)
          JOIN engine_jobs j ON j.id = u.id
          CROSS JOIN LATERAL (
              SELECT 'task.succeeded' WHERE j.state = 'completed'
              UNION ALL SELECT 'task.failed' WHERE j.state IN ('failed', 'discarded')
              UNION ALL SELECT 'task.handler_error'
               WHERE u.outcome IN ('retried', 'panicked', 'timed_out', 'discarded')) AS t(type)
          JOIN engine_webhook_endpoints e
            ON e.enabled AND t.type = ANY (e.events) AND (e.kinds IS NULL OR j.kind = ANY (e.kinds))
         WHERE j.kind <> 'engine.webhook'
        HAVING count(*) > 0
    $$;

--
-- Name: engine_finish(uuid, bigint[], integer[], text[], timestamp with time zone[], text[], jsonb[], text[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.engine_finish(p_worker uuid, p_ids bigint[], p_attempts integer[], p_states text[], p_run_at timestamp with time zone[], p_errors text[], p_results jsonb[], p_outcomes text[]) RETURNS SETOF bigint
    LANGUAGE plpgsql
    AS $$
    DECLARE
        v_ids bigint[];
        v_outcomes text[];
    BEGIN
        PERFORM 1 FROM engine_jobs
         WHERE id = ANY (p_ids) AND lease_owner = p_worker
         ORDER BY id
           FOR UPDATE;
        WITH finished AS (
            SELECT * FROM unnest(p_ids, p_attempts, p_states, p_run_at, p_errors, p_results, p_outcomes)
                     AS f(id, attempt, state, run_at, error, result, outcome)),
        updated AS (
            UPDATE engine_jobs j
               SET state = f.state,
                   attempt = CASE WHEN f.outcome IN ('released', 'snoozed') THEN j.attempt - 1
                                  ELSE j.attempt END,
                   run_at = coalesce(f.run_at, j.run_at),
                   last_error = coalesce(f.error, j.last_error),
                   result = f.result,
                   isolate = j.isolate AND f.outcome = 'released',
                   finished_at = CASE WHEN f.state = 'available' THEN NULL ELSE now() END,
                   lease_owner = NULL,
                   lease_expires_at = NULL
              FROM finished f
             WHERE j.id = f.id AND j.attempt = f.attempt AND j.lease_owner = p_worker
            RETURNING j.id, j.queue, j.kind, j.state, f.attempt, j.started_at, f.outcome, f.error),
        logged AS (
            INSERT INTO engine_job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
            SELECT id, attempt, p_worker, started_at, now(), outcome, error FROM updated),
        counted AS (
            SELECT engine_count_moves(array_agg(queue), array_agg(kind),
                                      array_fill('running'::text, ARRAY[count(*)::int]), array_agg(state))
              FROM updated)
        SELECT array_agg(id), array_agg(outcome) INTO v_ids, v_outcomes FROM updated, counted;
        IF v_ids IS NULL THEN
            RETURN;
        END IF;
        IF EXISTS (SELECT 1 FROM engine_webhook_endpoints WHERE enabled) THEN
            PERFORM engine_emit(v_ids, v_outcomes);
        END IF;
        PERFORM engine_notify_updates(v_ids);
        RETURN QUERY SELECT unnest(v_ids);
    END $$;

--
-- Name: engine_jobs_notify(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.engine_jobs_notify() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        PERFORM pg_notify('engine_jobs', queues.queue)
        FROM (SELECT DISTINCT queue FROM inserted_jobs
              WHERE state = 'available' AND run_at <= now()) AS queues;
        PERFORM engine_notify_updates((SELECT array_agg(id) FROM inserted_jobs));
        RETURN NULL;
    END $$;

--
-- Name: engine_key_admits(text, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.engine_key_admits(p_key text, p_limit integer) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF p_key IS NULL OR p_limit IS NULL THEN
            RETURN true;
        END IF;
        IF NOT pg_try_advisory_xact_lock(hashtextextended('engine:key:' || p_key, 0)) THEN
            RETURN false;
        END IF;
        RETURN (SELECT count(*) FROM engine_jobs
                WHERE state = 'running' AND concurrency_key = p_key) < p_limit;
    END $$;

--
-- Name: engine_notify_updates(bigint[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.engine_notify_updates(p_ids bigint[]) RETURNS void
    LANGUAGE plpgsql
    AS $$
    BEGIN
        PERFORM pg_notify('engine_updates', string_agg(u.id::text, ','))
           FROM unnest(p_ids) WITH ORDINALITY AS u(id, n)
          GROUP BY (u.n - 1) / 380;
    END $$;

--
-- Name: engine_take(bigint, uuid, double precision); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.engine_take(p_id bigint, p_worker uuid, p_lease_secs double precision) RETURNS public.engine_jobs
    LANGUAGE sql
    AS $$
        UPDATE engine_jobs
           SET state = 'running', attempt = attempt + 1, lease_owner = p_worker,
               lease_expires_at = now() + make_interval(secs => p_lease_secs),
               started_at = clock_timestamp()
         WHERE id = p_id
        RETURNING *
    $$;

--
-- Name: engine_waiting(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.engine_waiting(p_queue text, OUT scheduled bigint, OUT oldest timestamp with time zone) RETURNS record
    LANGUAGE plpgsql STABLE
    AS $$
    DECLARE
        level smallint;
        level_scheduled bigint;
        level_oldest timestamptz;
    BEGIN
        -- Isolated jobs are few (they were running when a worker died).
        SELECT count(*) FILTER (WHERE run_at > now()), min(run_at) INTO scheduled, oldest
          FROM engine_jobs WHERE state = 'available' AND isolate AND queue = p_queue;
        -- The claim index orders a queue by priority, then time: each level's first entry is
        -- its oldest, its scheduled jobs one range at its end.
        SELECT max(priority) INTO level
          FROM engine_jobs WHERE state = 'available' AND NOT isolate AND queue = p_queue;
        WHILE level IS NOT NULL LOOP
            SELECT min(run_at) INTO level_oldest FROM engine_jobs
             WHERE state = 'available' AND NOT isolate AND queue = p_queue AND priority = level;
            SELECT count(*) INTO level_scheduled FROM engine_jobs
             WHERE state = 'available' AND NOT isolate AND queue = p_queue AND priority = level
               AND run_at > now();
            scheduled := scheduled + level_scheduled;
            oldest := least(oldest, level_oldest);
            SELECT max(priority) INTO level FROM engine_jobs
             WHERE state = 'available' AND NOT isolate AND queue = p_queue AND priority < level;
        END LOOP;
    END $$;

--
-- Name: mintbean_answers_changed(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.mintbean_answers_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
        BEGIN
            PERFORM pg_notify('mintbean_answers_changed', '');
            RETURN NULL;
        END $$;

--
-- Name: mintbean_sessions_changed(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.mintbean_sessions_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
        BEGIN
            PERFORM pg_notify('mintbean_sessions_changed', '');
            RETURN NULL;
        END $$;

--
-- Name: api_tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_tokens (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    prefix text NOT NULL,
    token_sha256 bytea NOT NULL,
    scopes text[] NOT NULL,
    created_by text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone,
    revoked_at timestamp with time zone,
    last_used_at timestamp with time zone,
    CONSTRAINT api_tokens_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200)))
);

--
-- Name: badges; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.badges (
    id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    alias text NOT NULL,
    "badgeShape" text NOT NULL,
    "faIcon" character varying(255) NOT NULL,
    "backgroundHex" character varying(6) DEFAULT '000000'::character varying,
    "iconHex" character varying(6) DEFAULT 'ffffff'::character varying,
    title text NOT NULL,
    description text DEFAULT 'No description provided.'::text NOT NULL,
    weight integer DEFAULT 0 NOT NULL,
    "createdAt" timestamp with time zone DEFAULT now() NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT now() NOT NULL,
    deleted boolean DEFAULT false NOT NULL
);

--
-- Name: badgesProjects; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public."badgesProjects" (
    id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    "projectId" uuid NOT NULL,
    "badgeId" uuid NOT NULL,
    "createdAt" timestamp with time zone DEFAULT now() NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: contact_messages; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.contact_messages (
    id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    client_key text NOT NULL,
    subject text NOT NULL,
    html text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: email_deliveries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.email_deliveries (
    id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    scheduled_email_id uuid,
    contact_message_id uuid,
    template_name text NOT NULL,
    meet_id uuid,
    recipient_user_id uuid,
    recipient_email text NOT NULL,
    message_id text NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    retries_left integer DEFAULT 3 NOT NULL,
    send_after timestamp with time zone DEFAULT now() NOT NULL,
    last_error text,
    sent_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    context jsonb,
    dedupe_key text,
    CONSTRAINT email_deliveries_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'sent'::text, 'failed'::text, 'skipped'::text, 'cancelled'::text])))
);

--
-- Name: engine_event_detections; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.engine_event_detections (
    event_id uuid NOT NULL,
    detector text NOT NULL,
    state text NOT NULL,
    error text,
    detected_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT engine_event_detections_state_check CHECK ((state = ANY (ARRAY['detected'::text, 'detection_failed'::text])))
);

--
-- Name: engine_event_jobs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.engine_event_jobs (
    event_id uuid NOT NULL,
    detector text NOT NULL,
    name text NOT NULL,
    job_id bigint NOT NULL
);

--
-- Name: engine_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.engine_events (
    id uuid NOT NULL,
    source text NOT NULL,
    trigger_name text NOT NULL,
    table_schema text NOT NULL,
    table_name text NOT NULL,
    op text NOT NULL,
    old jsonb,
    new jsonb,
    session_variables jsonb,
    trace_context jsonb,
    delivery_info jsonb,
    created_at timestamp with time zone NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    deliveries integer DEFAULT 1 NOT NULL,
    state text DEFAULT 'pending'::text NOT NULL,
    detected_at timestamp with time zone,
    CONSTRAINT engine_events_op_check CHECK ((op = ANY (ARRAY['INSERT'::text, 'UPDATE'::text, 'DELETE'::text, 'MANUAL'::text]))),
    CONSTRAINT engine_events_source_check CHECK ((source = ANY (ARRAY['hasura'::text, 'native'::text, 'manual'::text]))),
    CONSTRAINT engine_events_state_check CHECK ((state = ANY (ARRAY['pending'::text, 'detected'::text, 'detection_failed'::text])))
);

--
-- Name: engine_idempotency; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.engine_idempotency (
    scope text NOT NULL,
    key text NOT NULL,
    request_sha256 bytea NOT NULL,
    job_id bigint NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: engine_job_attempts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.engine_job_attempts (
    id bigint NOT NULL,
    job_id bigint NOT NULL,
    attempt integer NOT NULL,
    worker_id uuid,
    started_at timestamp with time zone,
    finished_at timestamp with time zone DEFAULT now() NOT NULL,
    outcome text NOT NULL,
    error text
);

--
-- Name: engine_job_attempts_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.engine_job_attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: engine_job_attempts_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.engine_job_attempts_id_seq OWNED BY public.engine_job_attempts.id;

--
-- Name: engine_job_counts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.engine_job_counts (
    queue text NOT NULL,
    kind text NOT NULL,
    state text NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    jobs bigint NOT NULL,
    entered bigint DEFAULT 0 NOT NULL
);

--
-- Name: engine_jobs_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.engine_jobs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: engine_jobs_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.engine_jobs_id_seq OWNED BY public.engine_jobs.id;

--
-- Name: engine_kinds; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.engine_kinds (
    kind text NOT NULL,
    queue text NOT NULL,
    priority smallint NOT NULL,
    max_attempts integer NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT engine_kinds_max_attempts_check CHECK ((max_attempts > 0))
);

--
-- Name: engine_queues; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.engine_queues (
    name text NOT NULL,
    concurrency integer,
    fair_every integer,
    fair_low_max smallint DEFAULT 1 NOT NULL,
    fair_counter integer DEFAULT 0 NOT NULL,
    per_key_limit integer,
    paused_until timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    settings_source text DEFAULT 'config'::text NOT NULL,
    CONSTRAINT engine_queues_concurrency_check CHECK (((concurrency IS NULL) OR (concurrency > 0))),
    CONSTRAINT engine_queues_fair_every_check CHECK (((fair_every IS NULL) OR (fair_every > 0))),
    CONSTRAINT engine_queues_per_key_limit_check CHECK (((per_key_limit IS NULL) OR (per_key_limit > 0))),
    CONSTRAINT engine_queues_settings_source_check CHECK ((settings_source = ANY (ARRAY['config'::text, 'operator'::text])))
);

--
-- Name: engine_schedule_runs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.engine_schedule_runs (
    schedule text NOT NULL,
    slot timestamp with time zone NOT NULL,
    job_id bigint,
    skipped_reason text,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: engine_schedules; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.engine_schedules (
    name text NOT NULL,
    cron text NOT NULL,
    timezone text DEFAULT 'UTC'::text NOT NULL,
    kind text NOT NULL,
    args jsonb DEFAULT '{}'::jsonb NOT NULL,
    queue text DEFAULT 'default'::text NOT NULL,
    priority smallint DEFAULT 1 NOT NULL,
    max_attempts integer DEFAULT 20 NOT NULL,
    overlap text DEFAULT 'allow'::text NOT NULL,
    run_on_start boolean DEFAULT false NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    next_run_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT engine_schedules_max_attempts_check CHECK ((max_attempts > 0)),
    CONSTRAINT engine_schedules_overlap_check CHECK ((overlap = ANY (ARRAY['allow'::text, 'skip'::text])))
);

--
-- Name: engine_webhook_endpoints; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.engine_webhook_endpoints (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    url text NOT NULL,
    secret text NOT NULL,
    events text[] NOT NULL,
    kinds text[],
    format text DEFAULT 'json'::text NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    description text,
    created_by text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT engine_webhook_endpoints_format_check CHECK (((length(format) >= 1) AND (length(format) <= 64)))
);

--
-- Name: engine_workers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.engine_workers (
    id uuid NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    queues text[] NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    last_heartbeat_at timestamp with time zone DEFAULT now() NOT NULL,
    stopped_at timestamp with time zone
);

--
-- Name: kanbanCanonCards; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public."kanbanCanonCards" (
    id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    "kanbanCanonId" uuid NOT NULL,
    title text NOT NULL,
    body text NOT NULL,
    status text DEFAULT 'TODO'::text NOT NULL,
    "createdAt" timestamp with time zone DEFAULT now() NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT now() NOT NULL,
    deleted boolean DEFAULT false NOT NULL
);

--
-- Name: kanbanCanons; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public."kanbanCanons" (
    id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    title text NOT NULL,
    description text NOT NULL,
    "cardPositions" jsonb DEFAULT '{"wip": [], "done": [], "todo": []}'::jsonb,
    "createdAt" timestamp with time zone DEFAULT now() NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: kanbanSessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public."kanbanSessions" (
    id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    "kanbanCanonId" uuid NOT NULL,
    "userId" uuid NOT NULL,
    "meetId" uuid,
    "cardPositions" jsonb DEFAULT '{"wip": [], "done": [], "todo": []}'::jsonb,
    "createdAt" timestamp with time zone DEFAULT now() NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT now() NOT NULL,
    deleted boolean DEFAULT false NOT NULL
);

--
-- Name: login_attempts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.login_attempts (
    id bigint NOT NULL,
    scope text NOT NULL,
    key text NOT NULL,
    attempted_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT login_attempts_scope_check CHECK ((scope = ANY (ARRAY['account'::text, 'client'::text])))
);

--
-- Name: login_attempts_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.login_attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: login_attempts_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.login_attempts_id_seq OWNED BY public.login_attempts.id;

--
-- Name: mediaAssets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public."mediaAssets" (
    id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    "userId" uuid NOT NULL,
    "cloudinaryPublicId" text NOT NULL,
    index integer DEFAULT 0,
    "createdAt" timestamp with time zone DEFAULT now() NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT now() NOT NULL,
    deleted boolean DEFAULT false NOT NULL
);

--
-- Name: meetRegistrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public."meetRegistrations" (
    id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    "userId" uuid NOT NULL,
    "meetId" uuid NOT NULL,
    "createdAt" timestamp with time zone DEFAULT now() NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT now() NOT NULL,
    deleted boolean DEFAULT false NOT NULL
);

--
-- Name: meets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.meets (
    id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    "meetType" text DEFAULT 'HACKATHON'::text NOT NULL,
    title text NOT NULL,
    description text NOT NULL,
    instructions text NOT NULL,
    "detailedDescription" text,
    "registerLink" text,
    "coverImageUrl" text NOT NULL,
    "startTime" timestamp with time zone NOT NULL,
    "endTime" timestamp with time zone NOT NULL,
    region text DEFAULT 'America/Toronto'::text NOT NULL,
    "kanbanCanonId" uuid,
    "createdAt" timestamp with time zone DEFAULT now() NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT now() NOT NULL,
    deleted boolean DEFAULT false NOT NULL
);

--
-- Name: posts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.posts (
    id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    "userId" uuid NOT NULL,
    body text NOT NULL,
    "createdAt" timestamp with time zone DEFAULT now() NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: projectMediaAssets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public."projectMediaAssets" (
    id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    "projectId" uuid NOT NULL,
    "mediaAssetId" uuid NOT NULL,
    "createdAt" timestamp with time zone DEFAULT now() NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT now() NOT NULL,
    deleted boolean DEFAULT false NOT NULL
);

--
-- Name: projects; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.projects (
    id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    "userId" uuid NOT NULL,
    "meetId" uuid,
    title text NOT NULL,
    "sourceCodeUrl" text NOT NULL,
    "liveUrl" text NOT NULL,
    "createdAt" timestamp with time zone DEFAULT now() NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT now() NOT NULL,
    deleted boolean DEFAULT false NOT NULL
);

--
-- Name: revoked_sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.revoked_sessions (
    token_sha256 bytea NOT NULL,
    user_id uuid NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: scheduledEmails; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public."scheduledEmails" (
    id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    "templateName" text NOT NULL,
    "userRecipientId" uuid,
    "meetRecipientId" uuid,
    "meetId" uuid,
    "sendAt" timestamp with time zone DEFAULT now() NOT NULL,
    "retriesLeft" integer DEFAULT 3 NOT NULL,
    "createdAt" timestamp with time zone DEFAULT now() NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: seaql_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.seaql_migrations (
    version character varying NOT NULL,
    applied_at bigint NOT NULL
);

--
-- Name: users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.users (
    id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    email text NOT NULL,
    "firstName" text NOT NULL,
    "lastName" text NOT NULL,
    "passwordHash" text NOT NULL,
    "isAdmin" boolean DEFAULT false NOT NULL,
    "createdAt" timestamp with time zone DEFAULT now() NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT now() NOT NULL,
    deleted boolean DEFAULT false NOT NULL
);

--
-- Name: engine_job_attempts id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.engine_job_attempts ALTER COLUMN id SET DEFAULT nextval('public.engine_job_attempts_id_seq'::regclass);

--
-- Name: engine_jobs id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.engine_jobs ALTER COLUMN id SET DEFAULT nextval('public.engine_jobs_id_seq'::regclass);

--
-- Name: login_attempts id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.login_attempts ALTER COLUMN id SET DEFAULT nextval('public.login_attempts_id_seq'::regclass);

--
-- Name: api_tokens api_tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_pkey PRIMARY KEY (id);

--
-- Name: api_tokens api_tokens_token_sha256_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_token_sha256_key UNIQUE (token_sha256);

--
-- Name: badgesProjects badgesProjects_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."badgesProjects"
    ADD CONSTRAINT "badgesProjects_pkey" PRIMARY KEY (id);

--
-- Name: badgesProjects badgesProjects_projectId_badgeId_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."badgesProjects"
    ADD CONSTRAINT "badgesProjects_projectId_badgeId_key" UNIQUE ("projectId", "badgeId");

--
-- Name: badges badges_alias_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.badges
    ADD CONSTRAINT badges_alias_key UNIQUE (alias);

--
-- Name: badges badges_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.badges
    ADD CONSTRAINT badges_pkey PRIMARY KEY (id);

--
-- Name: contact_messages contact_messages_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.contact_messages
    ADD CONSTRAINT contact_messages_pkey PRIMARY KEY (id);

--
-- Name: email_deliveries email_deliveries_dedupe_key_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.email_deliveries
    ADD CONSTRAINT email_deliveries_dedupe_key_key UNIQUE (dedupe_key);

--
-- Name: email_deliveries email_deliveries_message_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.email_deliveries
    ADD CONSTRAINT email_deliveries_message_id_key UNIQUE (message_id);

--
-- Name: email_deliveries email_deliveries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.email_deliveries
    ADD CONSTRAINT email_deliveries_pkey PRIMARY KEY (id);

--
-- Name: email_deliveries email_deliveries_scheduled_email_id_recipient_email_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.email_deliveries
    ADD CONSTRAINT email_deliveries_scheduled_email_id_recipient_email_key UNIQUE (scheduled_email_id, recipient_email);

--
-- Name: engine_event_detections engine_event_detections_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.engine_event_detections
    ADD CONSTRAINT engine_event_detections_pkey PRIMARY KEY (event_id, detector);

--
-- Name: engine_event_jobs engine_event_jobs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.engine_event_jobs
    ADD CONSTRAINT engine_event_jobs_pkey PRIMARY KEY (event_id, detector, name);

--
-- Name: engine_events engine_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.engine_events
    ADD CONSTRAINT engine_events_pkey PRIMARY KEY (id);

--
-- Name: engine_idempotency engine_idempotency_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.engine_idempotency
    ADD CONSTRAINT engine_idempotency_pkey PRIMARY KEY (scope, key);

--
-- Name: engine_jobs engine_jobs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.engine_jobs
    ADD CONSTRAINT engine_jobs_pkey PRIMARY KEY (id);

--
-- Name: engine_kinds engine_kinds_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.engine_kinds
    ADD CONSTRAINT engine_kinds_pkey PRIMARY KEY (kind);

--
-- Name: engine_queues engine_queues_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.engine_queues
    ADD CONSTRAINT engine_queues_pkey PRIMARY KEY (name);

--
-- Name: engine_schedule_runs engine_schedule_runs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.engine_schedule_runs
    ADD CONSTRAINT engine_schedule_runs_pkey PRIMARY KEY (schedule, slot);

--
-- Name: engine_schedules engine_schedules_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.engine_schedules
    ADD CONSTRAINT engine_schedules_pkey PRIMARY KEY (name);

--
-- Name: engine_webhook_endpoints engine_webhook_endpoints_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.engine_webhook_endpoints
    ADD CONSTRAINT engine_webhook_endpoints_pkey PRIMARY KEY (id);

--
-- Name: engine_workers engine_workers_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.engine_workers
    ADD CONSTRAINT engine_workers_pkey PRIMARY KEY (id);

--
-- Name: kanbanCanonCards kanbanCanonCards_kanbanCanonId_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."kanbanCanonCards"
    ADD CONSTRAINT "kanbanCanonCards_kanbanCanonId_id_key" UNIQUE ("kanbanCanonId", id);

--
-- Name: kanbanCanonCards kanbanCanonCards_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."kanbanCanonCards"
    ADD CONSTRAINT "kanbanCanonCards_pkey" PRIMARY KEY (id);

--
-- Name: kanbanCanons kanbanCanons_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."kanbanCanons"
    ADD CONSTRAINT "kanbanCanons_pkey" PRIMARY KEY (id);

--
-- Name: kanbanSessions kanbanSessions_kanbanCanonId_userId_meetId_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."kanbanSessions"
    ADD CONSTRAINT "kanbanSessions_kanbanCanonId_userId_meetId_key" UNIQUE ("kanbanCanonId", "userId", "meetId");

--
-- Name: kanbanSessions kanbanSessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."kanbanSessions"
    ADD CONSTRAINT "kanbanSessions_pkey" PRIMARY KEY (id);

--
-- Name: login_attempts login_attempts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.login_attempts
    ADD CONSTRAINT login_attempts_pkey PRIMARY KEY (id);

--
-- Name: mediaAssets mediaAssets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."mediaAssets"
    ADD CONSTRAINT "mediaAssets_pkey" PRIMARY KEY (id);

--
-- Name: meetRegistrations meetRegistrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."meetRegistrations"
    ADD CONSTRAINT "meetRegistrations_pkey" PRIMARY KEY (id);

--
-- Name: meetRegistrations meetRegistrations_userId_meetId_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."meetRegistrations"
    ADD CONSTRAINT "meetRegistrations_userId_meetId_key" UNIQUE ("userId", "meetId");

--
-- Name: meets meets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meets
    ADD CONSTRAINT meets_pkey PRIMARY KEY (id);

--
-- Name: posts posts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.posts
    ADD CONSTRAINT posts_pkey PRIMARY KEY (id);

--
-- Name: projectMediaAssets projectMediaAssets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."projectMediaAssets"
    ADD CONSTRAINT "projectMediaAssets_pkey" PRIMARY KEY (id);

--
-- Name: projects projects_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.projects
    ADD CONSTRAINT projects_pkey PRIMARY KEY (id);

--
-- Name: revoked_sessions revoked_sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.revoked_sessions
    ADD CONSTRAINT revoked_sessions_pkey PRIMARY KEY (token_sha256);

--
-- Name: scheduledEmails scheduledEmails_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."scheduledEmails"
    ADD CONSTRAINT "scheduledEmails_pkey" PRIMARY KEY (id);

--
-- Name: seaql_migrations seaql_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.seaql_migrations
    ADD CONSTRAINT seaql_migrations_pkey PRIMARY KEY (version);

--
-- Name: users users_email_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_email_key UNIQUE (email);

--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

--
-- Name: badges_projects_badge_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX badges_projects_badge_id_idx ON public."badgesProjects" USING btree ("badgeId");

--
-- Name: contact_messages_client_key_created_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX contact_messages_client_key_created_at_idx ON public.contact_messages USING btree (client_key, created_at);

--
-- Name: email_deliveries_contact_message_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX email_deliveries_contact_message_id_idx ON public.email_deliveries USING btree (contact_message_id);

--
-- Name: email_deliveries_due_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX email_deliveries_due_idx ON public.email_deliveries USING btree (send_after) WHERE (status = 'pending'::text);

--
-- Name: email_deliveries_meet_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX email_deliveries_meet_id_idx ON public.email_deliveries USING btree (meet_id);

--
-- Name: email_deliveries_recipient_user_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX email_deliveries_recipient_user_id_idx ON public.email_deliveries USING btree (recipient_user_id);

--
-- Name: engine_events_pending; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX engine_events_pending ON public.engine_events USING btree (received_at) WHERE (state = 'pending'::text);

--
-- Name: engine_events_received; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX engine_events_received ON public.engine_events USING btree (received_at DESC, id);

--
-- Name: engine_idempotency_created; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX engine_idempotency_created ON public.engine_idempotency USING btree (created_at);

--
-- Name: engine_job_attempts_finished; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX engine_job_attempts_finished ON public.engine_job_attempts USING brin (finished_at);

--
-- Name: engine_job_attempts_job; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX engine_job_attempts_job ON public.engine_job_attempts USING brin (job_id) WITH (pages_per_range='32');

--
-- Name: engine_jobs_correlation; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX engine_jobs_correlation ON public.engine_jobs USING btree (correlation_id) WHERE (correlation_id IS NOT NULL);

--
-- Name: engine_jobs_dedupe; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX engine_jobs_dedupe ON public.engine_jobs USING btree (kind, dedupe_key) WHERE ((dedupe_key IS NOT NULL) AND (state = ANY (ARRAY['available'::text, 'running'::text])));

--
-- Name: engine_jobs_fetch; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX engine_jobs_fetch ON public.engine_jobs USING btree (queue, priority DESC, run_at, id) WHERE ((state = 'available'::text) AND (NOT isolate));

--
-- Name: engine_jobs_group; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX engine_jobs_group ON public.engine_jobs USING btree (group_key, kind, id DESC) WHERE (group_key IS NOT NULL);

--
-- Name: engine_jobs_isolated; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX engine_jobs_isolated ON public.engine_jobs USING btree (queue, priority DESC, run_at, id) WHERE ((state = 'available'::text) AND isolate);

--
-- Name: engine_jobs_running; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX engine_jobs_running ON public.engine_jobs USING btree (lease_owner, lease_expires_at) WHERE (state = 'running'::text);

--
-- Name: engine_jobs_running_key; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX engine_jobs_running_key ON public.engine_jobs USING btree (concurrency_key) WHERE ((state = 'running'::text) AND (concurrency_key IS NOT NULL));

--
-- Name: engine_jobs_url; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX engine_jobs_url ON public.engine_jobs USING btree (((args ->> 'url'::text)) text_pattern_ops) WHERE (args ? 'url'::text);

--
-- Name: engine_schedule_runs_job; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX engine_schedule_runs_job ON public.engine_schedule_runs USING btree (job_id);

--
-- Name: kanban_sessions_meet_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX kanban_sessions_meet_id_idx ON public."kanbanSessions" USING btree ("meetId");

--
-- Name: kanban_sessions_user_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX kanban_sessions_user_id_idx ON public."kanbanSessions" USING btree ("userId");

--
-- Name: login_attempts_attempted_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX login_attempts_attempted_at_idx ON public.login_attempts USING btree (attempted_at);

--
-- Name: login_attempts_scope_key_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX login_attempts_scope_key_idx ON public.login_attempts USING btree (scope, key, attempted_at);

--
-- Name: media_assets_user_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX media_assets_user_id_idx ON public."mediaAssets" USING btree ("userId");

--
-- Name: meet_registrations_meet_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX meet_registrations_meet_id_idx ON public."meetRegistrations" USING btree ("meetId");

--
-- Name: meets_kanban_canon_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX meets_kanban_canon_id_idx ON public.meets USING btree ("kanbanCanonId");

--
-- Name: posts_user_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX posts_user_id_idx ON public.posts USING btree ("userId");

--
-- Name: project_media_assets_media_asset_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX project_media_assets_media_asset_id_idx ON public."projectMediaAssets" USING btree ("mediaAssetId");

--
-- Name: project_media_assets_project_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX project_media_assets_project_id_idx ON public."projectMediaAssets" USING btree ("projectId");

--
-- Name: projects_meet_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX projects_meet_id_idx ON public.projects USING btree ("meetId");

--
-- Name: projects_user_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX projects_user_id_idx ON public.projects USING btree ("userId");

--
-- Name: revoked_sessions_expires_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX revoked_sessions_expires_at_idx ON public.revoked_sessions USING btree (expires_at);

--
-- Name: revoked_sessions_user_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX revoked_sessions_user_id_idx ON public.revoked_sessions USING btree (user_id);

--
-- Name: scheduled_emails_meet_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX scheduled_emails_meet_id_idx ON public."scheduledEmails" USING btree ("meetId");

--
-- Name: scheduled_emails_meet_recipient_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX scheduled_emails_meet_recipient_id_idx ON public."scheduledEmails" USING btree ("meetRecipientId");

--
-- Name: scheduled_emails_send_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX scheduled_emails_send_at_idx ON public."scheduledEmails" USING btree ("sendAt");

--
-- Name: scheduled_emails_user_recipient_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX scheduled_emails_user_recipient_id_idx ON public."scheduledEmails" USING btree ("userRecipientId");

--
-- Name: users_email_lower_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX users_email_lower_idx ON public.users USING btree (lower(email));

--
-- Name: engine_jobs_url_stats; Type: STATISTICS; Schema: public; Owner: -
--

CREATE STATISTICS public.engine_jobs_url_stats ON (args ->> 'url'::text) FROM public.engine_jobs;

--
-- Name: badges answers_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER answers_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.badges FOR EACH STATEMENT EXECUTE FUNCTION public.mintbean_answers_changed();

--
-- Name: badgesProjects answers_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER answers_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public."badgesProjects" FOR EACH STATEMENT EXECUTE FUNCTION public.mintbean_answers_changed();

--
-- Name: kanbanCanonCards answers_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER answers_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public."kanbanCanonCards" FOR EACH STATEMENT EXECUTE FUNCTION public.mintbean_answers_changed();

--
-- Name: kanbanCanons answers_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER answers_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public."kanbanCanons" FOR EACH STATEMENT EXECUTE FUNCTION public.mintbean_answers_changed();

--
-- Name: kanbanSessions answers_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER answers_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public."kanbanSessions" FOR EACH STATEMENT EXECUTE FUNCTION public.mintbean_answers_changed();

--
-- Name: mediaAssets answers_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER answers_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public."mediaAssets" FOR EACH STATEMENT EXECUTE FUNCTION public.mintbean_answers_changed();

--
-- Name: meetRegistrations answers_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER answers_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public."meetRegistrations" FOR EACH STATEMENT EXECUTE FUNCTION public.mintbean_answers_changed();

--
-- Name: meets answers_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER answers_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.meets FOR EACH STATEMENT EXECUTE FUNCTION public.mintbean_answers_changed();

--
-- Name: posts answers_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER answers_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.posts FOR EACH STATEMENT EXECUTE FUNCTION public.mintbean_answers_changed();

--
-- Name: projectMediaAssets answers_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER answers_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public."projectMediaAssets" FOR EACH STATEMENT EXECUTE FUNCTION public.mintbean_answers_changed();

--
-- Name: projects answers_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER answers_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.projects FOR EACH STATEMENT EXECUTE FUNCTION public.mintbean_answers_changed();

--
-- Name: users answers_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER answers_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.users FOR EACH STATEMENT EXECUTE FUNCTION public.mintbean_answers_changed();

--
-- Name: badgesProjects engine_capture_badgesProjects; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER "engine_capture_badgesProjects" AFTER INSERT OR DELETE OR UPDATE ON public."badgesProjects" FOR EACH ROW EXECUTE FUNCTION public.engine_capture_event();

--
-- Name: meetRegistrations engine_capture_meetRegistrations; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER "engine_capture_meetRegistrations" AFTER INSERT OR DELETE OR UPDATE ON public."meetRegistrations" FOR EACH ROW EXECUTE FUNCTION public.engine_capture_event();

--
-- Name: meets engine_capture_meets; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER engine_capture_meets AFTER INSERT OR DELETE OR UPDATE ON public.meets FOR EACH ROW EXECUTE FUNCTION public.engine_capture_event();

--
-- Name: projects engine_capture_projects; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER engine_capture_projects AFTER INSERT OR DELETE OR UPDATE ON public.projects FOR EACH ROW EXECUTE FUNCTION public.engine_capture_event();

--
-- Name: users engine_capture_users; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER engine_capture_users AFTER INSERT OR DELETE OR UPDATE ON public.users FOR EACH ROW EXECUTE FUNCTION public.engine_capture_event('passwordHash');

--
-- Name: engine_jobs engine_count_deleted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER engine_count_deleted AFTER DELETE ON public.engine_jobs REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.engine_count_jobs();

--
-- Name: engine_jobs engine_count_inserted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER engine_count_inserted AFTER INSERT ON public.engine_jobs REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.engine_count_jobs();

--
-- Name: engine_jobs engine_count_truncated; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER engine_count_truncated AFTER TRUNCATE ON public.engine_jobs FOR EACH STATEMENT EXECUTE FUNCTION public.engine_count_jobs();

--
-- Name: engine_jobs engine_jobs_notify; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER engine_jobs_notify AFTER INSERT ON public.engine_jobs REFERENCING NEW TABLE AS inserted_jobs FOR EACH STATEMENT EXECUTE FUNCTION public.engine_jobs_notify();

--
-- Name: engine_jobs link_checks_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER link_checks_changed AFTER INSERT OR UPDATE ON public.engine_jobs FOR EACH ROW WHEN ((new.kind = 'project.link_check'::text)) EXECUTE FUNCTION public.mintbean_answers_changed();

--
-- Name: engine_jobs link_checks_removed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER link_checks_removed AFTER DELETE ON public.engine_jobs FOR EACH ROW WHEN ((old.kind = 'project.link_check'::text)) EXECUTE FUNCTION public.mintbean_answers_changed();

--
-- Name: revoked_sessions sessions_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER sessions_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.revoked_sessions FOR EACH STATEMENT EXECUTE FUNCTION public.mintbean_sessions_changed();

--
-- Name: users sessions_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER sessions_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.users FOR EACH STATEMENT EXECUTE FUNCTION public.mintbean_sessions_changed();

--
-- Name: badgesProjects badgesProjects_badgeId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."badgesProjects"
    ADD CONSTRAINT "badgesProjects_badgeId_fkey" FOREIGN KEY ("badgeId") REFERENCES public.badges(id) ON DELETE CASCADE;

--
-- Name: badgesProjects badgesProjects_projectId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."badgesProjects"
    ADD CONSTRAINT "badgesProjects_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES public.projects(id) ON DELETE CASCADE;

--
-- Name: email_deliveries email_deliveries_contact_message_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.email_deliveries
    ADD CONSTRAINT email_deliveries_contact_message_id_fkey FOREIGN KEY (contact_message_id) REFERENCES public.contact_messages(id) ON DELETE CASCADE;

--
-- Name: email_deliveries email_deliveries_meet_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.email_deliveries
    ADD CONSTRAINT email_deliveries_meet_id_fkey FOREIGN KEY (meet_id) REFERENCES public.meets(id) ON DELETE CASCADE;

--
-- Name: email_deliveries email_deliveries_recipient_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.email_deliveries
    ADD CONSTRAINT email_deliveries_recipient_user_id_fkey FOREIGN KEY (recipient_user_id) REFERENCES public.users(id) ON DELETE CASCADE;

--
-- Name: engine_event_detections engine_event_detections_event_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.engine_event_detections
    ADD CONSTRAINT engine_event_detections_event_id_fkey FOREIGN KEY (event_id) REFERENCES public.engine_events(id) ON DELETE CASCADE;

--
-- Name: engine_event_jobs engine_event_jobs_event_id_detector_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.engine_event_jobs
    ADD CONSTRAINT engine_event_jobs_event_id_detector_fkey FOREIGN KEY (event_id, detector) REFERENCES public.engine_event_detections(event_id, detector) ON DELETE CASCADE;

--
-- Name: engine_schedule_runs engine_schedule_runs_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.engine_schedule_runs
    ADD CONSTRAINT engine_schedule_runs_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.engine_jobs(id) ON DELETE SET NULL;

--
-- Name: engine_schedule_runs engine_schedule_runs_schedule_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.engine_schedule_runs
    ADD CONSTRAINT engine_schedule_runs_schedule_fkey FOREIGN KEY (schedule) REFERENCES public.engine_schedules(name) ON DELETE CASCADE;

--
-- Name: kanbanCanonCards kanbanCanonCards_kanbanCanonId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."kanbanCanonCards"
    ADD CONSTRAINT "kanbanCanonCards_kanbanCanonId_fkey" FOREIGN KEY ("kanbanCanonId") REFERENCES public."kanbanCanons"(id) ON DELETE CASCADE;

--
-- Name: kanbanSessions kanbanSessions_kanbanCanonId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."kanbanSessions"
    ADD CONSTRAINT "kanbanSessions_kanbanCanonId_fkey" FOREIGN KEY ("kanbanCanonId") REFERENCES public."kanbanCanons"(id) ON DELETE CASCADE;

--
-- Name: kanbanSessions kanbanSessions_meetId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."kanbanSessions"
    ADD CONSTRAINT "kanbanSessions_meetId_fkey" FOREIGN KEY ("meetId") REFERENCES public.meets(id) ON DELETE SET NULL;

--
-- Name: kanbanSessions kanbanSessions_userId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."kanbanSessions"
    ADD CONSTRAINT "kanbanSessions_userId_fkey" FOREIGN KEY ("userId") REFERENCES public.users(id) ON DELETE CASCADE;

--
-- Name: mediaAssets mediaAssets_userId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."mediaAssets"
    ADD CONSTRAINT "mediaAssets_userId_fkey" FOREIGN KEY ("userId") REFERENCES public.users(id) ON DELETE CASCADE;

--
-- Name: meetRegistrations meetRegistrations_meetId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."meetRegistrations"
    ADD CONSTRAINT "meetRegistrations_meetId_fkey" FOREIGN KEY ("meetId") REFERENCES public.meets(id) ON DELETE CASCADE;

--
-- Name: meetRegistrations meetRegistrations_userId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."meetRegistrations"
    ADD CONSTRAINT "meetRegistrations_userId_fkey" FOREIGN KEY ("userId") REFERENCES public.users(id) ON DELETE CASCADE;

--
-- Name: meets meets_kanbanCanonId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meets
    ADD CONSTRAINT "meets_kanbanCanonId_fkey" FOREIGN KEY ("kanbanCanonId") REFERENCES public."kanbanCanons"(id) ON DELETE SET NULL;

--
-- Name: posts posts_userId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.posts
    ADD CONSTRAINT "posts_userId_fkey" FOREIGN KEY ("userId") REFERENCES public.users(id) ON DELETE CASCADE;

--
-- Name: projectMediaAssets projectMediaAssets_mediaAssetId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."projectMediaAssets"
    ADD CONSTRAINT "projectMediaAssets_mediaAssetId_fkey" FOREIGN KEY ("mediaAssetId") REFERENCES public."mediaAssets"(id) ON DELETE CASCADE;

--
-- Name: projectMediaAssets projectMediaAssets_projectId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."projectMediaAssets"
    ADD CONSTRAINT "projectMediaAssets_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES public.projects(id) ON DELETE CASCADE;

--
-- Name: projects projects_meetId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.projects
    ADD CONSTRAINT "projects_meetId_fkey" FOREIGN KEY ("meetId") REFERENCES public.meets(id) ON DELETE SET NULL;

--
-- Name: projects projects_userId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.projects
    ADD CONSTRAINT "projects_userId_fkey" FOREIGN KEY ("userId") REFERENCES public.users(id) ON DELETE CASCADE;

--
-- Name: revoked_sessions revoked_sessions_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.revoked_sessions
    ADD CONSTRAINT revoked_sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

--
-- Name: scheduledEmails scheduledEmails_meetId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."scheduledEmails"
    ADD CONSTRAINT "scheduledEmails_meetId_fkey" FOREIGN KEY ("meetId") REFERENCES public.meets(id) ON DELETE CASCADE;

--
-- Name: scheduledEmails scheduledEmails_meetRecipientId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."scheduledEmails"
    ADD CONSTRAINT "scheduledEmails_meetRecipientId_fkey" FOREIGN KEY ("meetRecipientId") REFERENCES public.meets(id) ON DELETE CASCADE;

--
-- Name: scheduledEmails scheduledEmails_userRecipientId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."scheduledEmails"
    ADD CONSTRAINT "scheduledEmails_userRecipientId_fkey" FOREIGN KEY ("userRecipientId") REFERENCES public.users(id) ON DELETE CASCADE;

--
-- PostgreSQL database dump complete
--

