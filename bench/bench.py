#!/usr/bin/python3
"""session_store benchmark: session_store against the floors, a hand-written
PL/pgSQL implementation and the patterns from the field.

Runs inside a throwaway cluster (bench/run.sh starts it).  Every workload runs
its variants in alternating rounds (A B C A B C ...), each round a pgbench run
of the same length, so that drift on a shared machine hits every variant alike;
the table shows the median of the rounds and each variant's ratio to
session_store.

  bench/bench.py [--rounds N] [--seconds S] [--only NAME ...] [--baseline DIR]
                 [--portable FILE]

--only portable (or any portable-* workload) runs the portable edition
against the C edition, alternating rounds in two databases of one cluster:
the C edition by CREATE EXTENSION in one, the portable edition by psql -f
FILE (default portable/session_store.sql) in the other.  Same calls, same
clients; the table "portable edition / C edition" closes the report.  Every
run without --only includes them.

--baseline DIR adds, to the append workloads, a variant that runs the same
session_store calls against another build of the extension (installed with
"make install DESTDIR=DIR"), loaded in a second database of the same cluster
through Debian's extension_destdir: the two builds alternate round by round
on one server, so the ratio between them is a side-by-side comparison.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DB = "session_store_bench"
BASE_DB = "session_store_bench_baseline"
PT_DB = "session_store_bench_portable"
REPO = os.path.dirname(HERE)
MSG = {"role": "user", "content": "Find me a flight to Lisbon on the 3rd of May, morning if possible."}


def psql(sql, db=DB, value=False):
    out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                         check=True, capture_output=True, text=True).stdout.strip()
    return out if value else None


def psql_file(path, db=DB):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", path],
                   check=True, capture_output=True, text=True)


def msgs(n):
    return json.dumps([MSG] * n)


def unrolled_retry(attempt_sql, tries=10):
    """pgbench script text: attempt_sql (which \\gsets ok) retried while ok = 0."""
    text = attempt_sql
    for _ in range(tries - 1):
        text += "\\if :ok = 0\n" + attempt_sql
    text += "\\if :ok = 0\nSELECT nextval('bench.errors');\n\\endif\n"
    text += "\\endif\n" * (tries - 1)
    return text


class Variant:
    def __init__(self, name, script, per_call=1, counted=False, vars=None, reference=False, db=DB):
        self.name = name
        self.db = db                    # the database it runs in
        self.script = script
        self.per_call = per_call        # messages per call, for msgs/s
        self.counted = counted          # reads bench.retries / bench.errors
        self.vars = vars or {}
        self.reference = reference      # the session_store variant
        self.rounds = []


class Workload:
    def __init__(self, key, title, clients, variants, setup=None, targets=(), latency=False):
        self.key = key
        self.title = title
        self.clients = clients
        self.variants = variants
        self.setup = setup
        self.targets = targets          # (description, numerator name, denominator name, bound)
        self.latency = latency          # a read workload: compare latencies
        self.pair = None                # (numerator, denominator, target or None): the
                                        # edition ratio summed up by portable_report


def pgbench(script, clients, seconds, variables, db=DB):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
        path = f.name
    cmd = ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 4)),
           "-T", str(seconds), "-f", path, db]
    for k, v in variables.items():
        cmd[1:1] = ["-D", f"{k}={v}"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    os.unlink(path)
    out = p.stdout + p.stderr
    tps = re.search(r"^tps = ([0-9.]+)", out, re.M)
    lat = re.search(r"^latency average = ([0-9.]+) ms", out, re.M)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    aborted = p.returncode != 0
    if tps is None or lat is None:
        sys.exit(f"pgbench failed:\n{' '.join(cmd)}\n{out}")
    return {"tps": float(tps.group(1)), "lat": float(lat.group(1)),
            "failed": int(failed.group(1)) if failed else 0, "aborted": aborted,
            "log": out if aborted else ""}


def counters():
    r = psql("SELECT (SELECT last_value - 1 + is_called::int FROM bench.retries),"
             "       (SELECT last_value - 1 + is_called::int FROM bench.errors)", value=True)
    a, b = r.split("|")
    return int(a), int(b)


def reset_counters():
    psql("SELECT setval('bench.retries', 1, false), setval('bench.errors', 1, false)")


def run(workload, rounds, seconds):
    print(f"\n{workload.title}", flush=True)
    if workload.setup:
        workload.setup()
    for r in range(rounds):
        # an edition pair alternates its order too (A B, B A, ...): a variant
        # that always ran second would always meet the other's leftovers
        order = workload.variants if not workload.pair or r % 2 == 0 else workload.variants[::-1]
        for v in order:
            variables = {k: (val(r) if callable(val) else val) for k, val in v.vars.items()}
            reset_counters()
            res = pgbench(v.script, workload.clients, seconds, variables, v.db)
            res["retries"], res["errors"] = counters()
            v.rounds.append(res)
            print(f"  round {r + 1}: {v.name:<34} {res['tps']:>10.0f} calls/s {res['lat']:>8.2f} ms"
                  + (f"  retries {res['retries']} errors {res['errors']}" if v.counted else "")
                  + ("  CLIENT ABORTED" if res["aborted"] else ""), flush=True)
            for line in res["log"].splitlines():
                if "aborted" in line or "ERROR" in line:
                    print(f"    {line}", flush=True)


def median(v, key):
    return statistics.median(r[key] for r in v.rounds)


def report(workloads, header):
    lines = [header]
    for w in workloads:
        if not w.variants[0].rounds:
            continue
        ref = next(v for v in w.variants if v.reference)
        lines.append("")
        lines.append(w.title)
        if w.latency:
            lines.append(f"  {'variant':<36}{'calls/s':>10}{'latency ms':>12}{'latency vs first':>18}")
            base = median(w.variants[0], "lat")
            for v in w.variants:
                lines.append(f"  {v.name:<36}{median(v, 'tps'):>10,.0f}{median(v, 'lat'):>12.3f}"
                             f"{median(v, 'lat') / base:>17.2f}x")
        else:
            lines.append(f"  {'variant':<36}{'calls/s':>10}{'msgs/s':>10}{'latency ms':>12}"
                         f"{'vs session_store':>18}{'retries':>9}{'errors':>8}")
            for v in w.variants:
                tps = median(v, "tps")
                retries = sum(r["retries"] for r in v.rounds) if v.counted else "-"
                errors = (sum(r["errors"] + r["failed"] for r in v.rounds) +
                          sum(1 for r in v.rounds if r["aborted"]))
                lines.append(f"  {v.name:<36}{tps:>10,.0f}{tps * v.per_call:>10,.0f}"
                             f"{median(v, 'lat'):>12.2f}{tps / median(ref, 'tps'):>17.2f}x"
                             f"{retries:>9}{errors:>8}")
        for desc, num, den, bound in w.targets:
            a = next(v for v in w.variants if v.name == num)
            b = next(v for v in w.variants if v.name == den)
            if w.latency:
                ratio = median(a, "lat") / median(b, "lat")
                ok = ratio <= bound
            else:
                ratio = median(a, "tps") / median(b, "tps")
                ok = ratio >= bound
            lines.append(f"  target: {desc}: {ratio:.2f} ({'met' if ok else 'MISSED'})")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 3)))
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_SECONDS", 10)))
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--label", default="")
    ap.add_argument("--out", default=None)
    ap.add_argument("--baseline", default=os.environ.get("BENCH_BASELINE") or None,
                    help="a DESTDIR holding another build, compared side by side")
    ap.add_argument("--portable", default=os.environ.get("BENCH_PORTABLE") or
                    os.path.join(REPO, "portable", "session_store.sql"),
                    help="the portable edition's install script, compared with the C edition")
    args = ap.parse_args()
    # "portable": every portable-* workload (the portable edition vs the C one)
    only = None if args.only is None else {k for k in args.only if k != "portable"}
    with_portable = args.only is None or any(k == "portable" or k.startswith("portable-")
                                             for k in args.only)
    dbs = [DB] + ([BASE_DB] if args.baseline else []) + ([PT_DB] if with_portable else [])

    for db in dbs:
        with subprocess.Popen(["psql", "-X", "-d", "postgres", "-c", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)',
                               "-c", f'CREATE DATABASE "{db}"'], stdout=subprocess.DEVNULL) as p:
            p.wait()
    if args.baseline:
        # set before the first backend of that database loads the module
        psql(f"ALTER DATABASE \"{BASE_DB}\" SET extension_destdir = '{args.baseline}'", db="postgres")
        psql("CREATE EXTENSION session_store", db=BASE_DB)
    if with_portable:
        psql_file(args.portable, db=PT_DB)
        edition = psql("SELECT edition || ' ' || version FROM session_store.edition()", db=PT_DB,
                       value=True)
        if not edition.startswith("portable"):
            sys.exit(f"{args.portable} installed edition {edition}, not the portable one")
    psql_file(os.path.join(HERE, "setup.sql"))
    psql_file(os.path.join(HERE, "plpgsql_store.sql"))
    settings = psql("SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings "
                    "WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'max_connections')",
                    value=True)
    version = psql("SHOW server_version", value=True)

    def create_sessions(users):
        # idempotent: a workload run alone (--only) creates what it needs
        for u in users:
            if args.baseline:
                psql(f"SELECT session_store.create_session('bench', '{u}', NULL, 's') "
                     f"WHERE NOT EXISTS (SELECT FROM session_store.get_session('bench', '{u}', 's'))",
                     db=BASE_DB)
            if with_portable:
                psql(f"SELECT session_store.create_session('bench', '{u}', NULL, 's') "
                     f"WHERE NOT EXISTS (SELECT FROM session_store.get_session('bench', '{u}', 's'))",
                     db=PT_DB)
            psql(f"SELECT session_store.create_session('bench', '{u}', NULL, 's') "
                 f"WHERE NOT EXISTS (SELECT FROM session_store.get_session('bench', '{u}', 's'));"
                 f"SELECT plpgsql_store.create_session('bench', '{u}', NULL, 's') "
                 f"WHERE NOT EXISTS (SELECT FROM plpgsql_store.sessions "
                 f"WHERE app_name = 'bench' AND user_id = '{u}' AND session_id = 's')")

    def create_own(n):
        return lambda: create_sessions([f"own-{i}" for i in range(n)])   # client_id is 0-based

    def create_hot():
        create_sessions(["hot"])

    def load_reads():
        # one session of 1,000,000 messages and one of 1,000; an app of
        # 1,000,000 sessions and one of 1,000 (loaded directly: setup only)
        psql("""
            SELECT session_store.create_session('bench', 'reader', NULL, 'big');
            SELECT session_store.create_session('bench', 'reader', NULL, 'small');
            INSERT INTO session_store.messages
            SELECT 'reader', s.sid, i, jsonb_build_object('role', 'user', 'content', 'message ' || i), now()
            FROM session_store.sessions s, generate_series(1, CASE s.session_id WHEN 'big' THEN 1000000 ELSE 1000 END) i
            WHERE s.app_name = 'bench' AND s.user_id = 'reader';
            UPDATE session_store.sessions SET last_seq = CASE session_id WHEN 'big' THEN 1000000 ELSE 1000 END
            WHERE app_name = 'bench' AND user_id = 'reader';
            INSERT INTO session_store.sessions
            SELECT app, 'u' || (i % 5000), 's' || i, nextval('session_store.session_sid_seq'), '{}', 0, 0,
                   now() - interval '30 days', now() - i * interval '1 second'
            FROM (VALUES ('list-small', 1000), ('list-big', 1000000)) a(app, n), generate_series(1, n) i;
        """)
        psql("VACUUM ANALYZE session_store.sessions")
        psql("VACUUM ANALYZE session_store.messages")

    m1, m10, m50 = msgs(1), msgs(10), msgs(50)
    obj = json.dumps(MSG)
    base = lambda r: (r + 1) * 10 ** 12          # floor seqs: a fresh range per round

    ss = "SELECT 1 FROM session_store.append_messages('bench', {user}, 's', :m);\n"
    pl = "SELECT 1 FROM plpgsql_store.append_messages('bench', {user}, 's', :m);\n"
    naive_append = unrolled_retry(
        "SELECT coalesce(max(seq), 0) + 1 AS seq FROM naive.messages WHERE session_key = {key} \\gset\n"
        "SELECT bench.naive_insert({key}, :seq, :o) AS ok \\gset\n")
    own_user = "'own-' || :client_id"

    def baseline(script, **kw):
        """The session_store variant again, on the baseline build (if any)."""
        return [Variant("session_store, baseline build", script, db=BASE_DB, **kw)] if args.baseline else []

    workloads = [
        Workload("own", "own-session appends: 1 message per call, 8 clients, each on its own session",
                 8, [
                     Variant("session_store", ss.format(user=own_user), vars={"m": m1}, reference=True),
                     *baseline(ss.format(user=own_user), vars={"m": m1}),
                     Variant("floor: bare INSERT",
                             "\\set seq :seq + 1\n"
                             "INSERT INTO bench.floor_messages VALUES ('own-' || :client_id, :client_id, :seq, :o, now());\n",
                             vars={"o": obj, "seq": base}),
                     Variant("hand-written PL/pgSQL", pl.format(user=own_user), vars={"m": m1}),
                     Variant("field: client max(seq)+1, retry", naive_append.format(key="'own-' || :client_id"),
                             counted=True, vars={"o": obj}),
                 ], setup=create_own(8),
                 targets=[("session_store >= 0.85x floor", "session_store", "floor: bare INSERT", 0.85)]),
        Workload("hot", "hot session: 1 message per call, 16 clients on one session",
                 16, [
                     Variant("session_store", ss.format(user="'hot'"), vars={"m": m1}, reference=True),
                     *baseline(ss.format(user="'hot'"), vars={"m": m1}),
                     Variant("floor: counter row + INSERT",
                             "WITH c AS (UPDATE bench.hot_counter SET n = n + 1 WHERE id = 1 RETURNING n)\n"
                             "INSERT INTO bench.floor_messages SELECT 'hot', 0, n, :o, now() FROM c;\n",
                             vars={"o": obj}),
                     Variant("hand-written PL/pgSQL", pl.format(user="'hot'"), vars={"m": m1}),
                     Variant("field: client max(seq)+1, retry", naive_append.format(key="'hot'"),
                             counted=True, vars={"o": obj}),
                 ], setup=create_hot,
                 targets=[("session_store >= 0.9x hot-session floor", "session_store",
                           "floor: counter row + INSERT", 0.9),
                          ("session_store >= PL/pgSQL", "session_store", "hand-written PL/pgSQL", 1.0)]),
    ]
    for n, m in ((10, m10), (50, m50)):
        workloads.append(Workload(
            f"batch{n}", f"hot session: batches of {n} messages, 16 clients on one session", 16, [
                Variant("session_store", ss.format(user="'hot'"), per_call=n, vars={"m": m}, reference=True),
                *baseline(ss.format(user="'hot'"), per_call=n, vars={"m": m}),
                Variant("floor: counter row + INSERT",
                        f"WITH c AS (UPDATE bench.hot_counter SET n = n + {n} WHERE id = 1 RETURNING n)\n"
                        f"INSERT INTO bench.floor_messages SELECT 'hot', 0, n - {n} + i, :o, now() "
                        f"FROM c, generate_series(1, {n}) i;\n",
                        per_call=n, vars={"o": obj}),
                Variant("hand-written PL/pgSQL", pl.format(user="'hot'"), per_call=n, vars={"m": m}),
            ], setup=create_hot,
            targets=[(f"session_store >= 0.9x hot-session floor", "session_store",
                      "floor: counter row + INSERT", 0.9),
                     ("session_store >= PL/pgSQL", "session_store", "hand-written PL/pgSQL", 1.0)]))
    own_state = json.dumps({"goal": "trip", "step": 1})
    shared_state = json.dumps({"app:model": "m-large", "user:lang": "pt", "goal": "trip"})

    def storm(key, title, st):
        return Workload(key, title, 32, [
            Variant("session_store",
                    "\\set u random(1, 50)\n"
                    "SELECT 1 FROM session_store.create_session(bench.storm_app(), 'u' || :u, :st);\n",
                    vars={"st": st}, reference=True),
            Variant("hand-written PL/pgSQL",
                    "\\set u random(1, 50)\n"
                    "SELECT 1 FROM plpgsql_store.create_session(bench.storm_app(), 'u' || :u, :st);\n",
                    vars={"st": st}),
            Variant("field: SELECT-then-INSERT, retry",
                    "\\set u random(1, 50)\nSELECT bench.storm_app() AS app \\gset\n" +
                    unrolled_retry("SELECT bench.naive_create(:app, 'u' || :u) AS ok \\gset\n"),
                    counted=True),
        ])

    workloads += [
        storm("create", "create_session storm: 32 clients, a fresh app every 100 ms, 50 users each; "
              "session state only", own_state),
        storm("create-shared", "create_session storm as above, each create also setting an app: and a "
              "user: key (merged into the one app-state row: no delta lost, so serialized on it)",
              shared_state),
        Workload("messages", "get_messages, the latest 20, 4 clients: a session of 1,000 messages "
                 "vs one of 1,000,000", 4, [
                     Variant("session of 1,000", "SELECT count(*) FROM session_store.get_messages("
                             "'bench', 'reader', 'small', 20);\n", reference=True),
                     Variant("session of 1,000,000", "SELECT count(*) FROM session_store.get_messages("
                             "'bench', 'reader', 'big', 20);\n"),
                 ], setup=load_reads, latency=True,
                 targets=[("latency at 1,000,000 <= 1.5x latency at 1,000", "session of 1,000,000",
                           "session of 1,000", 1.5)]),
        Workload("list", "list_sessions, a page of 20 after a token, 4 clients: an app of 1,000 sessions "
                 "vs one of 1,000,000", 4, [
                     Variant("app of 1,000", "SELECT count(*) FROM session_store.list_sessions("
                             "'list-small', NULL, 20, :tok);\n", vars={"tok": lambda r: TOKENS["small"]},
                             reference=True),
                     Variant("app of 1,000,000", "SELECT count(*) FROM session_store.list_sessions("
                             "'list-big', NULL, 20, :tok);\n", vars={"tok": lambda r: TOKENS["big"]}),
                 ], setup=lambda: TOKENS.update(
                     small=psql("SELECT next_page_token FROM session_store.list_sessions('list-small', NULL, 500) "
                                "OFFSET 499", value=True),
                     big=psql("SELECT next_page_token FROM session_store.list_sessions('list-big', NULL, 10000) "
                              "OFFSET 9999", value=True)),
                 latency=True,
                 targets=[("latency at 1,000,000 <= 1.5x latency at 1,000", "app of 1,000,000",
                           "app of 1,000", 1.5)]),
    ]
    if with_portable:
        workloads += portable_workloads(create_own, create_hot, msgs, obj, own_state, shared_state)
    if args.only is not None:
        workloads = [w for w in workloads if w.key in only or
                     (w.key.startswith("portable-") and "portable" in args.only)]
        if any(w.key in ("list",) for w in workloads) and not any(w.key == "messages" for w in workloads):
            load_reads()
        if any(w.key.startswith("portable-list") for w in workloads) and \
                not any(w.key.startswith("portable-messages") for w in workloads):
            load_portable_reads()

    header = (f"session_store benchmark {args.label}\nPostgreSQL {version}; {settings}\n"
              f"{args.rounds} alternating rounds of {args.seconds} s per variant; medians of the rounds")
    print(header, flush=True)
    for w in workloads:
        run(w, args.rounds, args.seconds)
    table = report(workloads, header)
    if any(w.pair for w in workloads):
        table += "\n\n" + portable_report(workloads, args.label)
    print("\n" + "=" * 100 + "\n" + table + "\n" + "=" * 100)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")


# ------------------------------------------------- the portable edition vs C

PT_SIZES = (1000, 100000)          # messages of a session, sessions of an app
PT_LOADED = []


def load_portable_reads():
    """In both databases, the same rows for the reads: sessions of 1,000 and
    100,000 messages, apps of 1,000 and 100,000 sessions (loaded directly
    into the tables, which both editions share; setup only), and the page
    tokens each edition's own list_sessions hands out."""
    if PT_LOADED:
        return
    small, big = PT_SIZES
    for db in (DB, PT_DB):
        psql(f"""
            SELECT session_store.create_session('bench', 'pt-reader', NULL, 'small');
            SELECT session_store.create_session('bench', 'pt-reader', NULL, 'big');
            INSERT INTO session_store.messages
            SELECT 'pt-reader', s.sid, i, jsonb_build_object('role', 'user', 'content', 'message ' || i), now()
            FROM session_store.sessions s,
                 generate_series(1, CASE s.session_id WHEN 'big' THEN {big} ELSE {small} END) i
            WHERE s.app_name = 'bench' AND s.user_id = 'pt-reader';
            UPDATE session_store.sessions SET last_seq = CASE session_id WHEN 'big' THEN {big} ELSE {small} END
            WHERE app_name = 'bench' AND user_id = 'pt-reader';
            INSERT INTO session_store.sessions
            SELECT app, 'u' || (i % 5000), 's' || i, nextval('session_store.session_sid_seq'), '{{}}', 0, 0,
                   now() - interval '30 days', now() - i * interval '1 second'
            FROM (VALUES ('pt-list-small', {small}), ('pt-list-big', {big})) a(app, n), generate_series(1, n) i;
        """, db=db)
        psql("VACUUM ANALYZE session_store.sessions", db=db)
        psql("VACUUM ANALYZE session_store.messages", db=db)
        for app, n in (("pt-list-small", 500), ("pt-list-big", 10000)):
            TOKENS[(db, app)] = psql(f"SELECT next_page_token FROM session_store.list_sessions("
                                     f"'{app}', NULL, {n}) OFFSET {n - 1}", db=db, value=True)
    PT_LOADED.append(True)


def portable_workloads(create_own, create_hot, msgs, obj, own_state, shared_state):
    """The workloads of the C bench, each as a pair: the C edition (in DB)
    and the portable edition (in PT_DB), the same script in each."""
    # the create storm's app names, in the portable database too
    psql("CREATE SCHEMA IF NOT EXISTS bench; CREATE OR REPLACE FUNCTION bench.storm_app() "
         "RETURNS text LANGUAGE sql VOLATILE AS $$ "
         "SELECT 'storm-' || (extract(epoch FROM clock_timestamp()) * 10)::bigint $$", db=PT_DB)
    ss = "SELECT 1 FROM session_store.append_messages('bench', {user}, 's', :m{extra});\n"
    own_user, target = "'own-' || :client_id", 0.7

    def pair(key, title, clients, script, setup=None, per_call=1, vars=None, latency=False,
             extra=(), bound=None):
        w = Workload(key, title, clients, [
            Variant("C edition", script, per_call=per_call, vars=vars, reference=True),
            Variant("portable edition", script, per_call=per_call, vars=vars, db=PT_DB),
            *extra], setup=setup, latency=latency,
            targets=[] if bound is None else
            [(f"portable >= {bound}x C", "portable edition", "C edition", bound)])
        w.pair = ("portable edition", "C edition", bound)
        return w

    storm = ("\\set u random(1, 50)\n"
             "SELECT 1 FROM session_store.create_session(bench.storm_app(), 'u' || :u, :st);\n")
    ws = [
        pair("portable-own", "portable vs C: own-session appends, 1 message per call, 8 clients, "
             "each on its own session", 8, ss.format(user=own_user, extra=""), create_own(8),
             vars={"m": msgs(1)}, bound=target, extra=[
                 Variant("hand-written PL/pgSQL (bench model)",
                         "SELECT 1 FROM plpgsql_store.append_messages('bench', 'own-' || :client_id, "
                         "'s', :m);\n", vars={"m": msgs(1)})]),
        pair("portable-own-key", "portable vs C: own-session appends as above, each with a new "
             "idempotency key (as the adapters send)", 8,
             ss.format(user=own_user, extra=", idempotency_key => gen_random_uuid()::text"),
             create_own(8), vars={"m": msgs(1)}),
        pair("portable-hot", "portable vs C: hot session, 1 message per call, 16 clients on one "
             "session", 16, ss.format(user="'hot'", extra=""), create_hot, vars={"m": msgs(1)}),
    ]
    for n in (10, 50):
        ws.append(pair(f"portable-batch{n}", f"portable vs C: hot session, batches of {n} messages, "
                       f"16 clients on one session", 16, ss.format(user="'hot'", extra=""),
                       create_hot, per_call=n, vars={"m": msgs(n)}))
    ws += [
        pair("portable-create", "portable vs C: create_session storm, 32 clients, a fresh app "
             "every 100 ms, 50 users each; session state only", 32, storm, vars={"st": own_state}),
        pair("portable-create-shared", "portable vs C: create_session storm as above, each with an "
             "app: and a user: key", 32, storm, vars={"st": shared_state}),
    ]
    for n in PT_SIZES:
        ws.append(pair(f"portable-messages-{n}", f"portable vs C: get_messages, the latest 20 of a "
                       f"session of {n:,} messages, 4 clients", 4,
                       f"SELECT count(*) FROM session_store.get_messages('bench', 'pt-reader', "
                       f"'{'small' if n == PT_SIZES[0] else 'big'}', 20);\n",
                       load_portable_reads, latency=True))
    for n in PT_SIZES:
        app = "pt-list-small" if n == PT_SIZES[0] else "pt-list-big"
        w = pair(f"portable-list-{n}", f"portable vs C: list_sessions, a page of 20 after a token, "
                 f"an app of {n:,} sessions, 4 clients", 4,
                 f"SELECT count(*) FROM session_store.list_sessions('{app}', NULL, 20, :tok);\n",
                 load_portable_reads, latency=True)
        for v in w.variants:     # each edition's own token
            v.vars = {"tok": (lambda db, a: lambda r: TOKENS[(db, a)])(v.db, app)}
        ws.append(w)
    return ws


def portable_report(workloads, label):
    lines = [f"portable edition / C edition {label}: the same calls in two databases of one "
             f"cluster, alternating rounds, medians",
             f"  {'workload':<34}{'C calls/s':>11}{'portable':>11}{'portable/C':>12}"
             f"{'paired':>8}{'C ms':>9}{'portable ms':>13}  target"]
    lat = {}
    for w in workloads:
        if not w.pair or not w.variants[0].rounds:
            continue
        num, den, bound = w.pair
        a = next(v for v in w.variants if v.name == num)
        b = next(v for v in w.variants if v.name == den)
        ratio = median(a, "tps") / median(b, "tps")
        paired = statistics.median(x["tps"] / y["tps"] for x, y in zip(a.rounds, b.rounds))
        t = "" if bound is None else f">= {bound}x: {'met' if ratio >= bound else 'MISSED'}"
        unit = "msgs/s" if a.per_call > 1 else ""
        name = w.key[len("portable-"):] + (f" ({unit})" if unit else "")
        lines.append(f"  {name:<34}{median(b, 'tps') * b.per_call:>11,.0f}"
                     f"{median(a, 'tps') * a.per_call:>11,.0f}{ratio:>11.2f}x{paired:>7.2f}x"
                     f"{median(b, 'lat'):>9.3f}{median(a, 'lat'):>13.3f}  {t}")
        if w.latency:
            lat[w.key] = (median(b, "lat"), median(a, "lat"))
    small, big = PT_SIZES
    for kind in ("messages", "list"):
        s, g = lat.get(f"portable-{kind}-{small}"), lat.get(f"portable-{kind}-{big}")
        if s and g:
            lines.append(f"  {kind}: latency at {big:,} / at {small:,}: C {g[0] / s[0]:.2f}x, "
                         f"portable {g[1] / s[1]:.2f}x (target <= 1.5x)")
    lines.append("  (portable/C: the ratio of the medians of calls per second, higher is better "
                 "for the portable edition; paired: the median of the rounds' own ratios, each "
                 "portable round over the C round next to it, which drift moves less; errors "
                 "and each round: above)")
    return "\n".join(lines)


TOKENS = {}

if __name__ == "__main__":
    main()
