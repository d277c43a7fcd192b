-- `make bench-api`'s database: the shape of the issue's measurements, the same on every run.
-- 107 meets (40 with a kanban canon), 2 007 users, 4 012 registrations (two per user but two),
-- 503 projects with 3 media assets each, 11 badges and 253 badge awards. Ids are md5 of a name (as v4 UUIDs), so
-- answers can be compared across runs and backends. Every user's password is `bench-password`
-- (bcrypt cost 10, as Node stores them); user 1 is an admin. First names are unique, so the
-- registrants' order (by first name, as in Node) is one order. Badge shapes are upper-case, as
-- Node's last migration (transformBadgeShapeData) leaves them and as Node needs them.
-- Run on a migrated, empty database: psql -v ON_ERROR_STOP=1 -f scripts/bench/api-data.sql
BEGIN;
-- Bulk data is not business events.
SELECT set_config('engine.capture_events', 'off', true);

-- md5 with the version and variant digits of a v4 UUID (Node's UUID scalar checks them).
CREATE FUNCTION pg_temp.bench_id(kind text, n int) RETURNS uuid
  LANGUAGE sql IMMUTABLE AS $$
    SELECT (substr(h, 1, 12) || '4' || substr(h, 14, 3) || '8' || substr(h, 18))::uuid
    FROM md5('bench-' || kind || '-' || n) AS h
  $$;

INSERT INTO users (id, email, "firstName", "lastName", "passwordHash", "isAdmin", "createdAt", "updatedAt")
SELECT pg_temp.bench_id('user', n),
       'user' || n || '@bench.mintbean.test',
       (ARRAY['Ada','Grace','Linus','Margaret','Ken','Barbara','Dennis','Frances','Alan','Radia'])[n % 10 + 1] || ' ' || n,
       (ARRAY['Lovelace','Hopper','Torvalds','Hamilton','Thompson','Liskov','Ritchie','Allen','Turing','Perlman'])[n % 7 + 1] || ' ' || n,
       '$2a$10$ZN1vezMJ3oSnpMASMi4FsO0zOCoN.mzoBDykx1.wz6gpSysWwSA6e',
       n = 1,
       timestamptz '2020-01-01 00:00:00+00' + n * interval '1 hour',
       timestamptz '2020-01-01 00:00:00+00' + n * interval '1 hour'
FROM generate_series(1, 2007) AS n;

INSERT INTO "kanbanCanons" (id, title, description, "cardPositions")
SELECT pg_temp.bench_id('canon', c), 'Canon ' || c, 'Steps for project ' || c,
       jsonb_build_object(
         'todo', (SELECT jsonb_agg(pg_temp.bench_id('card', c * 10 + k) ORDER BY k) FROM generate_series(1, 4) AS k),
         'wip', (SELECT jsonb_agg(pg_temp.bench_id('card', c * 10 + k) ORDER BY k) FROM generate_series(5, 5) AS k),
         'done', (SELECT jsonb_agg(pg_temp.bench_id('card', c * 10 + k) ORDER BY k) FROM generate_series(6, 6) AS k))
FROM generate_series(1, 20) AS c;

INSERT INTO "kanbanCanonCards" (id, "kanbanCanonId", title, body, "createdAt")
SELECT pg_temp.bench_id('card', c * 10 + k), pg_temp.bench_id('canon', c),
       'Step ' || k, repeat('Do the thing number ' || k || '. ', 6),
       timestamptz '2020-01-01 00:00:00+00' + k * interval '1 minute'
FROM generate_series(1, 20) AS c, generate_series(1, 6) AS k;

-- Start times from mid-2025 to mid-2027, a week apart: past, running and future meets.
INSERT INTO meets (id, "meetType", title, description, "detailedDescription", instructions, "registerLink",
                   "coverImageUrl", "startTime", "endTime", region, "kanbanCanonId", "createdAt", "updatedAt")
SELECT pg_temp.bench_id('meet', m),
       (ARRAY['HACKATHON','WORKSHOP','WEBINAR','LECTURE'])[m % 4 + 1],
       'Meet number ' || m,
       repeat('A community meet about building things together. ', 3),
       '# Meet ' || m || E'\n\n' || repeat('Detailed plans for the day. ', 10),
       repeat('Fork the starter, build, submit a link. ', 4),
       'https://mintbean.example/register/' || m,
       'https://images.example/cover/' || m || '.png',
       timestamptz '2025-06-01 15:00:00+00' + m * interval '7 days',
       timestamptz '2025-06-01 15:00:00+00' + m * interval '7 days' + interval '3 hours',
       (ARRAY['America/Toronto','America/New_York','Europe/London','Asia/Kolkata','America/Vancouver'])[m % 5 + 1],
       CASE WHEN m <= 40 THEN pg_temp.bench_id('canon', (m - 1) % 20 + 1) END,
       timestamptz '2025-01-01 00:00:00+00' + m * interval '1 day',
       timestamptz '2025-01-01 00:00:00+00' + m * interval '1 day'
FROM generate_series(1, 107) AS m;

-- Each user's first meet is u mod 107, the second a non-zero offset further (so never the same);
-- users 2006 and 2007 register once.
INSERT INTO "meetRegistrations" ("userId", "meetId", "createdAt")
SELECT pg_temp.bench_id('user', u), pg_temp.bench_id('meet', meet + 1),
       timestamptz '2025-01-01 00:00:00+00' + (u * 2 + pass) * interval '1 minute'
FROM (
  SELECT u, 0 AS pass, u % 107 AS meet FROM generate_series(1, 2007) AS u
  UNION ALL
  SELECT u, 1, (u % 107 + 1 + (u * 5) % 106) % 107 FROM generate_series(1, 2005) AS u
) AS registrations;

INSERT INTO projects (id, "userId", "meetId", title, "sourceCodeUrl", "liveUrl", "createdAt", "updatedAt")
SELECT pg_temp.bench_id('project', p), pg_temp.bench_id('user', (p * 13) % 2007 + 1),
       pg_temp.bench_id('meet', (p - 1) % 107 + 1), 'Project ' || p,
       'https://git.example/bench/project-' || p, 'https://bench-project-' || p || '.example',
       timestamptz '2025-02-01 00:00:00+00' + p * interval '1 hour',
       timestamptz '2025-02-01 00:00:00+00' + p * interval '1 hour'
FROM generate_series(1, 503) AS p;

INSERT INTO "mediaAssets" (id, "userId", "cloudinaryPublicId", index, "createdAt")
SELECT pg_temp.bench_id('asset', p * 3 + k), pg_temp.bench_id('user', (p * 13) % 2007 + 1),
       'bench/project-' || p || '-' || k, k,
       timestamptz '2025-02-01 00:00:00+00' + (p * 3 + k) * interval '1 second'
FROM generate_series(1, 503) AS p, generate_series(0, 2) AS k;

INSERT INTO "projectMediaAssets" ("projectId", "mediaAssetId", "createdAt")
SELECT pg_temp.bench_id('project', p), pg_temp.bench_id('asset', p * 3 + k),
       timestamptz '2025-02-01 00:00:00+00' + (p * 3 + k) * interval '1 second'
FROM generate_series(1, 503) AS p, generate_series(0, 2) AS k;

INSERT INTO badges (id, alias, "badgeShape", "faIcon", "backgroundHex", "iconHex", title, description, weight)
SELECT pg_temp.bench_id('badge', b), 'bench-badge-' || b,
       (ARRAY['STAR','CIRCLE','SQUARE'])[b % 3 + 1], 'trophy',
       lpad(to_hex(b * 1193), 6, '0'), 'ffffff', 'Badge ' || b, 'Awarded for thing ' || b, b * 10
FROM generate_series(1, 11) AS b;

INSERT INTO "badgesProjects" ("projectId", "badgeId", "createdAt")
SELECT pg_temp.bench_id('project', i + 1), pg_temp.bench_id('badge', i % 11 + 1),
       timestamptz '2025-03-01 00:00:00+00' + i * interval '1 minute'
FROM generate_series(0, 252) AS i;

COMMIT;
ANALYZE;
