"""The writers of 002_crash_recovery.pl: append until the server goes away.

    crash_writer.py CONNSTR ROUND SECONDS WRITER:SEED:SESSIONS:LOG ...

One thread and one connection per writer (one process: importing psycopg
ten times in parallel takes longer than the writing).  SESSIONS is a
comma-separated list of APP/USER/SESSION names the writer may append to (the
first one is its private session, the only one it passes expected_version
to).  Every call is one transaction: SELECT append_messages, then COMMIT.  A
writer stops at its first error (the server going away) or after SECONDS
(SQLSTATE "deadline": the test expects the server to go first).  Its log,
one line per record, tab-separated, written before the call it describes
(I, M) or after the COMMIT returned (A):

    S  backend_pid                       connected
    I  call session n delta key expv     about to call (delta: k=v,k=v or -)
    M  call i message                    the exact JSON text of message i
    A  call first last version epoch t   COMMIT acknowledged (t: time.time())
    E  call sqlstate message             stopped on an error (the last line)

Each message is written in the text form jsonb gives back (keys ordered by
length, then bytewise; ", " and ": " separators), so the stored
message::text must equal the logged text byte for byte.  It carries
(r, w, c, i): round, writer, call, index in the call.  A delta sets keys
owned by this writer to R * 1000000 + call, so the latest call that set a
key is the one with the highest value.
"""
import random
import sys
import threading
import time

import psycopg


def writer(connstr, rnd, w, seed, sessions, log_path, deadline):
    rng = random.Random(seed)
    log = open(log_path, "w")

    def emit(*records):
        log.write("".join("\t".join(str(f) for f in r) + "\n" for r in records))
        log.flush()

    def message(c, i, big):
        role = "user" if i % 2 == 0 else "assistant"
        text = f"r{rnd} w{w} c{c} m{i} " + "lorem ipsum " * rng.randint(0, 8)
        blob = ""
        if big:
            # incompressible, so it is stored out of line (TOAST)
            blob = f'"blob": "{rng.getrandbits(4 * 6000):06000x}", '
        return (f'{{"c": {c}, "i": {i}, "r": {rnd}, "w": {w}, '
                f'{blob}"role": "{role}", "text": "{text}"}}')

    call = 0
    try:
        conn = psycopg.connect(connstr, autocommit=False,
                               application_name=f"crash_writer_r{rnd}_w{w}")
        own = sessions[0]
        own_version = conn.execute(
            "SELECT version FROM session_store.get_session(%s, %s, %s)",
            own).fetchone()[0]
        emit(("S", conn.execute("SELECT pg_backend_pid()").fetchone()[0]))
        conn.commit()
        while time.monotonic() < deadline:
            call += 1
            target = rng.choice(sessions)
            n = rng.randint(1, 20)
            big = rng.randrange(15) == 0
            msgs = [message(call, i, big and i == n - 1) for i in range(n)]
            value = rnd * 1000000 + call
            delta = {}
            if rng.randrange(3) == 0:
                delta[f"w{w}"] = value
            if rng.randrange(4) == 0:
                delta[f"user:w{w}"] = value
            if rng.randrange(5) == 0:
                delta[f"app:w{w}"] = value
            if delta and rng.randrange(3) == 0:
                delta[f"temp:w{w}"] = value      # stored nowhere
            key = f"r{rnd}-w{w}-c{call}" if rng.randrange(2) == 0 else None
            expv = own_version if target == own and rng.randrange(2) == 0 else None

            emit(("I", call, "/".join(target), n,
                  ",".join(f"{k}={v}" for k, v in delta.items()) or "-",
                  key or "-", "-" if expv is None else expv),
                 *(("M", call, i, m) for i, m in enumerate(msgs)))
            delta_json = ("{" + ", ".join(f'"{k}": {v}' for k, v in delta.items())
                          + "}") if delta else None
            row = conn.execute(
                """SELECT first_seq, last_seq, version,
                          extract(epoch FROM update_time)::text, replayed
                   FROM session_store.append_messages(%s, %s, %s, %s::jsonb,
                        state_delta => %s::jsonb, expected_version => %s,
                        idempotency_key => %s)""",
                (*target, "[" + ", ".join(msgs) + "]", delta_json, expv, key),
            ).fetchone()
            conn.commit()
            emit(("A", call, *row[:4], repr(time.time())))
            if row[4]:
                raise RuntimeError("a fresh idempotency key was replayed")
            if target == own:
                own_version = row[2]
        emit(("E", call, "deadline", "the server was still up"))
    except psycopg.Error as e:
        emit(("E", call, e.sqlstate or "-", " ".join(str(e).split())))
    except Exception as e:  # noqa: BLE001 - reported to the test
        emit(("E", call, "-", f"{type(e).__name__}: {' '.join(str(e).split())}"))


def main():
    connstr, rnd, seconds = sys.argv[1:4]
    deadline = time.monotonic() + float(seconds)
    threads = []
    for spec in sys.argv[4:]:
        w, seed, sessions, log_path = spec.split(":", 3)
        sessions = [s.split("/") for s in sessions.split(",")]
        threads.append(threading.Thread(
            target=writer,
            args=(connstr, int(rnd), int(w), int(seed), sessions, log_path,
                  deadline)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()


main()
