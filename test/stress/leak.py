#!/usr/bin/python3
"""One backend, 200,000 calls: its memory stays flat.

A single connection (one backend process, checked by pid at every sample)
makes LEAK_CALLS calls (default 200,000) in batches of LEAK_BATCH, each
batch one PL/pgSQL loop in one statement: 60% append_messages of 1 to 3
messages to a handful of sessions, about 1 in 7 with a state delta
(session, user:, app: and temp: keys), about 1 in 11 with an idempotency
key that repeats (so some of those replay); the rest are get_messages
(latest 5, and a window by seq), get_session and list_sessions (one user's,
or the app's page after page with the previous page's token).  (PL/pgSQL,
not one SELECT over generate_series: two appends to one session in one
statement fail, see the fuzz test's "3 calls in one statement".)

Between batches the backend's memory is sampled two ways:
  - from inside: the total_bytes of all its memory contexts
    (pg_backend_memory_contexts), where every palloc lives;
  - from outside: its /proc/<pid>/status, read here (the server is local
    and this runs as root).  RssAnon is the figure used: private anonymous
    memory, i.e. malloc'd memory, including what palloc got from malloc, and
    anything allocated outside memory contexts.  RSS as a whole would grow
    with every shared buffer the backend touches (RssShmem, printed for
    contrast), which is not a leak.
After a warm-up (the first 10% of the calls: caches and plans filled, every
code path run) both must stay flat:
  - memory contexts: at most 1 MB of growth to the end.  A leak of one
    16-byte chunk per call would add 2.9 MB over 180,000 calls; legitimate
    growth after warm-up is nil, since every path already ran in the first
    batch and the store's data only grows on disk;
  - RssAnon: at most 4 MB of growth to the end, which allows for malloc's
    own slack (freed memory that glibc keeps and reuses; aset blocks of
    work-memory contexts) while a malloc leak of 24 bytes per call would add
    4.3 MB.
The growth is printed in bytes per 1,000 calls (end minus warm-up, and the
least-squares slope over all samples after warm-up).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sslib import Checker, connect, env_int, fresh_database, server_identity  # noqa: E402

DB = "session_store_stress_leak"
CALLS = env_int("LEAK_CALLS", 200000)
BATCH = env_int("LEAK_BATCH", 2000)
SESSIONS = 6
CTX_BOUND = 1 << 20          # bytes of memory-context growth allowed after warm-up
ANON_BOUND = 4 << 20         # bytes of RssAnon growth allowed after warm-up

ck = Checker("leak")
fresh_database(DB)

BATCH_FN = """
CREATE FUNCTION leak_batch(first bigint, n int, nsessions int) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    k bigint;
    u text;
    s text;
    msgs jsonb;
    delta jsonb;
    ikey text;
    tok text;
    calls bigint := 0;
BEGIN
    FOR k IN first .. first + n - 1 LOOP
        s := 's' || (k % nsessions);
        u := 'u' || (k % nsessions % 3);
        CASE k % 10
        WHEN 0, 1, 2, 3, 4, 5 THEN
            SELECT jsonb_agg(jsonb_build_object('role', 'user', 'content', 'message ' || k || '.' || j,
                                                'parts', jsonb_build_array(j, 'x')))
              INTO msgs FROM generate_series(1, 1 + (k / 10) % 3) j;
            delta := CASE WHEN k % 7 = 0 THEN
                jsonb_build_object('step', k, 'user:last', k, 'app:k' || (k % 5), k, 'temp:scratch', k)
                END;
            ikey := CASE WHEN k % 11 = 0 THEN 'req-' || (k / 11) % 1000 END;
            PERFORM session_store.append_messages('leak', u, s, msgs, delta, NULL, ikey);
        WHEN 6 THEN
            PERFORM count(*) FROM session_store.get_messages('leak', u, s, 5);
        WHEN 7 THEN
            PERFORM count(*) FROM session_store.get_session('leak', u, s);
        WHEN 8 THEN
            IF k % 20 = 8 THEN          -- one user's sessions, first page
                PERFORM count(*) FROM session_store.list_sessions('leak', u, 3);
            ELSE                        -- the app's sessions, page after page
                SELECT next_page_token INTO tok
                  FROM session_store.list_sessions('leak', NULL, 3, tok) OFFSET 2;
            END IF;
        ELSE
            PERFORM count(*) FROM session_store.get_messages('leak', u, s, NULL, k % 50, k % 50 + 20);
        END CASE;
        calls := calls + 1;
    END LOOP;
    RETURN calls;
END
$fn$"""

c = connect(DB)
c.prepare_threshold = None   # no server-side prepared statements of ours in the figures
c.execute(BATCH_FN)
for i in range(SESSIONS):
    c.execute("SELECT session_store.create_session('leak', %s, '{\"n\": 0}', %s)", (f"u{i % 3}", f"s{i}"))
pid0, start0 = server_identity(c)
status_path = f"/proc/{pid0}/status"


def proc_status():
    """Fields of the backend's /proc status, in bytes."""
    fields = {}
    with open(status_path) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                fields[key] = int(rest.split()[0]) * 1024
    return fields


try:
    proc_status()
    readable = True
except OSError as e:
    readable = False
    ck.check(False, f"the backend's {status_path} is readable (server on this machine, run as root)", e)

samples = []                 # (calls done, context total, RssAnon, RssShmem)
same_backend = True
done = 0
while done < CALLS:
    n = min(BATCH, CALLS - done)
    got = c.execute("SELECT leak_batch(%s, %s, %s)", (done, n, SESSIONS)).fetchone()[0]
    if got != n:
        break
    done += n
    ctx = c.execute("SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts").fetchone()[0]
    st = proc_status() if readable else {}
    samples.append((done, ctx, st.get("RssAnon", 0), st.get("RssShmem", 0)))
    if server_identity(c) != (pid0, start0):
        same_backend = False
        break

ck.check(done == CALLS and same_backend, f"{CALLS} calls ran in one backend (pid {pid0})", (done, same_backend))

# the calls really happened: every append is in the sessions' versions
versions = c.execute("SELECT sum(version), sum(last_seq) FROM session_store.sessions WHERE app_name = 'leak'"
                     ).fetchone()
appends = sum(1 for k in range(done) if k % 10 < 6)
replays = appends - versions[0]
ck.check(0 < replays < appends // 11 and versions[1] > appends,
         f"the calls happened: {appends} appends, {replays} of them replayed keys", (appends, versions))

warm = next(i for i, s in enumerate(samples) if s[0] >= CALLS // 10)
after = samples[warm:]


def growth(col):
    """(end - warm-up, least-squares slope) in bytes, slope per 1,000 calls."""
    xs = [s[0] for s in after]
    ys = [s[col] for s in after]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0
    return ys[-1] - ys[0], slope * 1000


calls_after = after[-1][0] - after[0][0]
print(f"     {'calls':>7} {'contexts':>10} {'RssAnon':>10} {'RssShmem':>10}")
for i in sorted({0, warm, len(samples) // 4, len(samples) // 2, 3 * len(samples) // 4, len(samples) - 1}):
    d, ctx, anon, shm = samples[i]
    print(f"     {d:7} {ctx:10} {anon:10} {shm:10}")
ctx_growth, ctx_slope = growth(1)
anon_growth, anon_slope = growth(2)
shm_growth, _ = growth(3)
print(f"     after warm-up ({calls_after} calls): contexts {ctx_growth:+} bytes"
      f" ({ctx_growth * 1000 / calls_after:+.1f} per 1,000 calls, slope {ctx_slope:+.1f});"
      f" RssAnon {anon_growth:+} bytes ({anon_growth * 1000 / calls_after:+.1f} per 1,000 calls,"
      f" slope {anon_slope:+.1f}); RssShmem {shm_growth:+} (shared buffers touched, not counted)")

ck.check(ctx_growth <= CTX_BOUND,
         f"memory contexts grow at most {CTX_BOUND >> 20} MB after warm-up", f"{ctx_growth} bytes")
if readable:
    ck.check(anon_growth <= ANON_BOUND,
             f"private anonymous RSS (RssAnon) grows at most {ANON_BOUND >> 20} MB after warm-up",
             f"{anon_growth} bytes")
ck.done()
