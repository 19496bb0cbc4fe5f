#!/usr/bin/python3
"""Fuzz every API function with random and hostile arguments.

About 20,000 generated calls (FUZZ_CALLS) on one connection, spread over all
13 functions.  Each argument is drawn for its position: NULL; ids from a pool
of live sessions, hostile but valid ones (quotes, control characters, RTL and
combining marks, exactly 127/128 bytes in ASCII and multibyte) and invalid
ones (empty, 129/1000/1M bytes, a multibyte character straddling byte 128,
raw invalid UTF-8 and NUL sent as binary parameters); every JSON type in
every jsonb position, invalid JSON, \\u0000 and lone surrogate escapes,
nesting up to 100,000 levels, strings of several MB, up to 50,000 keys,
duplicate keys, 1,000+ messages; the extreme integers (0, -1, INT32 and INT64
minimum and maximum, one past them, non-numbers) in every integer position;
odd and overflowing intervals; page tokens that are real, of another
listing, truncated, bit-flipped, random, and forged with a valid check
around a bogus body; valid values (pool ids, NULL for optional arguments,
the session's current version) most of the time, so that calls also get
past validation.  Calls are made plainly, with named arguments, three times
in one statement, and inside transactions (every isolation level) with
savepoints; the limit settings are changed, and fuzzed, along the way.

What it proves, per call:
  - the server survives: the connection never breaks, the backend pid and
    pg_postmaster_start_time() never change, a second idle connection stays
    up to the end;
  - no internal error: no SQLSTATE of class XX, and no WARNING (leaked
    relcache, snapshot or buffer references are reported that way);
  - no hang: statement_timeout is 30 s and every call is small enough to
    take well under a second, so any 57014 fails;
  - the contract: the generator knows which arguments are malformed, so a
    call with a malformed argument must fail, with a SQLSTATE that argument
    explains; a call with only well-formed arguments may fail only for a
    reason of its situation (42704 no such session, 23505 an id that exists,
    40001 only when expected_version was given, 54000 over a limit, 54001
    nesting too deep for the parser); a call that succeeds returns
    well-formed rows; and, on a sample of calls, a failed call changes
    nothing and a successful one moves version and last_seq as documented.
After the run the store must be consistent (amcheck on every table and
index, seqs distinct and within 1..last_seq, no orphans, state routing kept)
and a normal append must still work.

The RNG is seeded; the seed is printed and FUZZ_SEED=<seed> replays the
run.  A failing call is printed and written to a standalone Python script
that replays it (in FUZZ_OUT, default /tmp).
"""
import base64
import json
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sslib import EDITION, Checker, connect, env_int, fresh_database, server_identity, sqlstate  # noqa: E402

import psycopg  # noqa: E402
from psycopg.adapt import Dumper  # noqa: E402
from psycopg.pq import Format  # noqa: E402
from psycopg.types.string import TextLoader  # noqa: E402

DB = "session_store_fuzz"
CALLS = env_int("FUZZ_CALLS", 20000)
SEED = env_int("FUZZ_SEED", random.SystemRandom().randrange(1 << 32))
OUT = os.environ.get("FUZZ_OUT", "/tmp")
STATEMENT_TIMEOUT_MS = 30000
WATCHDOG_S = 60          # a call that even statement_timeout cannot stop
MAX_REPORTED = 8

rng = random.Random(SEED)
ck = Checker("fuzz")
print(f"     seed {SEED} (FUZZ_SEED={SEED} replays it), {CALLS} calls")
fresh_database(DB)


# --------------------------------------------------------------------------
# Raw parameters: bytes sent as a binary text/jsonb parameter, exactly as
# given, so invalid UTF-8 and NUL reach the server's own input checks.

class RawText(bytes):
    pass


class RawJsonb(bytes):
    pass


class RawTextDumper(Dumper):
    format = Format.BINARY
    oid = 25                    # text

    def dump(self, obj):
        return bytes(obj)


class RawJsonbDumper(Dumper):
    format = Format.BINARY
    oid = 3802                  # jsonb; binary format is a version byte, then the text

    def dump(self, obj):
        return b"\x01" + bytes(obj)


WARNINGS = []        # WARNINGs the server sent: leaked relcache/snapshot/buffer references and the like


def collect_warning(diag):
    if diag.severity_nonlocalized not in ("NOTICE", "INFO", "DEBUG", "LOG"):
        WARNINGS.append(f"{diag.severity_nonlocalized}: {diag.message_primary}")


def fuzz_connection():
    c = connect(DB)
    c.add_notice_handler(collect_warning)
    c.adapters.register_dumper(RawText, RawTextDumper)
    c.adapters.register_dumper(RawJsonb, RawJsonbDumper)
    # jsonb comes back as text: Python's json would choke on 10,000 levels
    c.adapters.register_loader("jsonb", TextLoader)
    c.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
    return c


# --------------------------------------------------------------------------
# PostgreSQL's hash_bytes_extended and hash_combine64, to forge page tokens
# with a valid check (the token is opaque, not secret: see listing.c).  If
# the forger does not reproduce real tokens, forged tokens are skipped.

M32, M64 = 0xFFFFFFFF, (1 << 64) - 1


def _rot(x, k):
    return ((x << k) | (x >> (32 - k))) & M32


def _mix(a, b, c):
    a = (a - c) & M32; a ^= _rot(c, 4); c = (c + b) & M32      # noqa: E702
    b = (b - a) & M32; b ^= _rot(a, 6); a = (a + c) & M32      # noqa: E702
    c = (c - b) & M32; c ^= _rot(b, 8); b = (b + a) & M32      # noqa: E702
    a = (a - c) & M32; a ^= _rot(c, 16); c = (c + b) & M32     # noqa: E702
    b = (b - a) & M32; b ^= _rot(a, 19); a = (a + c) & M32     # noqa: E702
    c = (c - b) & M32; c ^= _rot(b, 4); b = (b + a) & M32      # noqa: E702
    return a, b, c


def _final(a, b, c):
    c ^= b; c = (c - _rot(b, 14)) & M32      # noqa: E702
    a ^= c; a = (a - _rot(c, 11)) & M32      # noqa: E702
    b ^= a; b = (b - _rot(a, 25)) & M32      # noqa: E702
    c ^= b; c = (c - _rot(b, 16)) & M32      # noqa: E702
    a ^= c; a = (a - _rot(c, 4)) & M32       # noqa: E702
    b ^= a; b = (b - _rot(a, 14)) & M32      # noqa: E702
    c ^= b; c = (c - _rot(b, 24)) & M32      # noqa: E702
    return a, b, c


def hash_bytes_extended(k, seed):
    n = len(k)
    a = b = c = (0x9e3779b9 + n + 3923095) & M32
    if seed:
        a = (a + (seed >> 32)) & M32
        b = (b + seed) & M32
        a, b, c = _mix(a, b, c)
    i = 0
    while n - i >= 12:
        a = (a + int.from_bytes(k[i:i + 4], "little")) & M32
        b = (b + int.from_bytes(k[i + 4:i + 8], "little")) & M32
        c = (c + int.from_bytes(k[i + 8:i + 12], "little")) & M32
        a, b, c = _mix(a, b, c)
        i += 12
    t = k[i:]
    a = (a + int.from_bytes(t[0:4], "little")) & M32
    b = (b + int.from_bytes(t[4:8], "little")) & M32
    c = (c + (int.from_bytes(t[8:11], "little") << 8)) & M32   # low byte of c: the length
    a, b, c = _final(a, b, c)
    return (b << 32) | c


def hash_combine64(a, b):
    return (a ^ ((b + 0x49a0f4dd15e5a8e3 + (a << 54) + (a >> 7)) & M64)) & M64


TOKEN_SEED = 0x6c6973745f746f6b
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(tok):
    return base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))


def forge_token(body, app, user_filter):
    h = hash_bytes_extended(body, TOKEN_SEED)
    h = hash_combine64(h, hash_bytes_extended(app.encode(), TOKEN_SEED))
    if user_filter is not None:
        h = hash_combine64(h, hash_bytes_extended(user_filter.encode(), TOKEN_SEED + 1))
    return b64url(body + (h & M32).to_bytes(4, "big"))


# --------------------------------------------------------------------------
# Arguments.  An Arg is an SQL fragment with its parameters, and what the
# contract says about it: parse = SQLSTATEs of PostgreSQL's own input
# functions (the cast fails before the call), bad = SQLSTATEs the function
# must raise for it, maybe = SQLSTATEs it may cause (nesting, size limits).

class Arg:
    __slots__ = ("sql", "params", "value", "parse", "bad", "maybe", "desc", "plain", "n")

    def __init__(self, value, typ, desc, parse=None, bad=None, maybe=()):
        self.value = value
        if isinstance(value, (RawText, RawJsonb)):
            self.sql = f"%b::{typ}"
        else:
            self.sql = f"%s::{typ}"
        self.params = [value]
        self.parse = set(parse) if parse else None
        self.bad = set(bad) if bad else None
        self.maybe = set(maybe)
        self.desc = desc
        # a valid str id (usable in direct lookups and token forging)
        self.plain = isinstance(value, str) and not parse and not bad
        self.n = None           # messages: how many, when known


def ok(value, typ, desc, maybe=()):
    return Arg(value, typ, desc, maybe=maybe)


APPS = ["fz", "fz-\u00fc", "o'h\"a\\ra"]
USERS = ["u1", "u2", "\u30e6\u30fc\u30b6\u30fc", "u" * 128]
SIDS = ["s1", "s2", "\u20ac" * 42 + "ab", "s 4;--"]
KEYS = ["k1", "k2", "k3"]
POOL = {"app": APPS, "user": USERS, "session": SIDS, "key": KEYS}

HOSTILE_IDS = [
    " ", "\t", "\n", "\x01", "\x7f", "'", "''", '"', "\\", "%s%n%x", "'; DROP TABLE x; --",
    "NULL", "e\u0301", "\ufeff", "\u202eabc", "\U0010ffff", "\uffff", "\U0001f600" * 32,
    "a" * 127, "b" * 128, "\u20ac" * 42, "\u20ac" * 42 + "ab", "a" * 124 + "\U0001f600",
    "\u00e9" * 64, "$1", "::jsonb", "\\x00", "%", "_", "*",
]
BAD_IDS = [
    "", "a" * 129, "a" * 1000, "\u20ac" * 43, "a" * 126 + "\u20ac", "a" * 125 + "\U0001f600",
    "\u00e9" * 65, "\U0001f600" * 33,
]
RAW_BAD_TEXT = [
    b"\xff", b"abc\x00def", b"\x00", b"\xed\xa0\x80", b"\xed\xb0\x80", b"\xc0\xaf",
    b"\xf4\x90\x80\x80", b"\x80", b"a" * 127 + b"\xe2\x82", b"\xfe\xfe", b"s1\x00",
]


HOSTILITY = [1.0]      # per call: the chance that an argument may be hostile


def hostile():
    return rng.random() < HOSTILITY[0]


OPTIONAL_NULL = 0.35     # an optional argument is left NULL this often, as callers mostly do


def g_id(role, optional=False):
    """An id argument (role: app, user, session, key)."""
    if optional and rng.random() < OPTIONAL_NULL:
        return ok(None, "text", "NULL")
    r = rng.random() if hostile() else rng.uniform(0.04, 0.76)
    if r < 0.04:
        return Arg(None, "text", "NULL", bad=None if optional else {"22004"})
    if r < 0.64:
        return ok(rng.choice(POOL[role]), "text", "pool id")
    if r < 0.76:
        v = rng.choice(HOSTILE_IDS)
        if rng.random() < 0.3:
            v = "".join(rng.choice("ab'\"\\ \u00e9\u20ac\U0001f600\x01\u0301")
                        for _ in range(rng.randint(1, 30)))
        return ok(v, "text", "hostile valid id")
    if r < 0.93:
        v = rng.choice(BAD_IDS)
        if rng.random() < 0.01:
            v = "x" * (1 << 20)
        return Arg(v, "text", f"id of {len(v.encode())} bytes", bad={"22023"})
    return Arg(RawText(rng.choice(RAW_BAD_TEXT)), "text", "raw invalid UTF-8/NUL id", parse={"22021"})


def g_new_id(optional):
    """A session id for create_session/fork_session: fresh ids half the time."""
    if rng.random() < 0.45:
        return ok("n" + uuid.UUID(int=rng.getrandbits(128)).hex[:rng.randint(1, 32)], "text", "fresh id")
    return g_id("session", optional)


INT4_MIN, INT4_MAX = -(1 << 31), (1 << 31) - 1
INT8_MIN, INT8_MAX = -(1 << 63), (1 << 63) - 1
INT_EXTREMES = [0, 1, -1, 2, INT4_MAX, INT4_MIN, INT4_MAX + 1, INT4_MIN - 1,
                INT8_MAX, INT8_MIN, INT8_MAX + 1, INT8_MIN - 1, 10 ** 30, -(10 ** 30)]
INT_SYNTAX = ["", "abc", "1.5", "1e3", "0x10", "1_000", "\uff11\uff12", "--1", "1 2", "NaN",
              "Infinity", "\u0663", "+", "-"]
INT_ODD_OK = [(" 5 ", 5), ("+5", 5), ("-0", 0), ("007", 7), ("\t3\n", 3)]


def g_int(bits, role, realistic=lambda: rng.randint(-2, 40)):
    """An integer argument; role decides what the function accepts."""
    lo, hi = (INT4_MIN, INT4_MAX) if bits == 32 else (INT8_MIN, INT8_MAX)
    typ = "int4" if bits == 32 else "int8"
    if role not in ("page_size", "max_sessions", "to_seq") and rng.random() < OPTIONAL_NULL:
        return ok(None, typ, f"{role}=None")
    required = role in ("page_size", "max_sessions", "to_seq")
    r = rng.random() if hostile() else rng.uniform(0.12 if required else 0, 0.55)
    if r < 0.12:
        v, text = None, None
    elif r < 0.55:
        v = realistic()
        text = str(v)
    elif r < 0.85:
        v = rng.choice(INT_EXTREMES)
        text = str(v)
    elif r < 0.93:
        text, v = rng.choice(INT_ODD_OK)
    else:
        return Arg(rng.choice(INT_SYNTAX), typ, "not an integer", parse={"22P02"})
    if v is not None and not lo <= v <= hi:
        return Arg(text, typ, f"{typ} out of range", parse={"22003"})
    desc = f"{role}={v}"
    if v is None:
        if role in ("page_size", "max_sessions", "to_seq"):
            return Arg(None, typ, desc, bad={"22004"})
        return ok(None, typ, desc)
    if role == "max_count" and v < 0:
        return Arg(text, typ, desc, bad={"22023"})
    if role in ("page_size", "max_sessions") and not 1 <= v <= 10000:
        return Arg(text, typ, desc, bad={"22023"})
    return ok(text, typ, desc)


def g_expected_version(key_args):
    """expected_version: a number, or the session's current version."""
    if rng.random() < 0.35:
        app, user, sid = key_args
        a = ok(None, "int8", "current version")
        a.sql = (f"(SELECT version FROM session_store.get_session({app.sql}, {user.sql}, {sid.sql}))")
        a.params = app.params + user.params + sid.params
        a.value = "CURRENT"
        return a
    return g_int(64, "expected_version", realistic=lambda: rng.randint(-1, 30))


INTERVALS = [  # (text, parse codes, bad codes)
    ("1 day", None, None), ("30 days", None, None), ("1000 years", None, None), ("0", None, None),
    ("00:00:00.000001", None, None), ("0.5 microseconds", None, None), ("1 week", None, None),
    ("-1 mon 31 days", None, None), ("1 day -24 hours", None, None), ("P1Y2M3DT4H5M6S", None, None),
    ("1 microsecond", None, None), ("10 years", None, None), ("1 century", None, None),
    ("-1 microsecond", None, {"22023"}), ("-1 day", None, {"22023"}), ("@ 1 minute ago", None, {"22023"}),
    ("1 mon -31 days", None, {"22023"}), ("-178000000 years", None, {"22023"}),
    ("-2147483648 days", None, {"22023"}), ("-2147483648 months", None, {"22023"}), ("P-1D", None, {"22023"}),
    ("178000000 years", None, {"22008"}), ("2147483647 days", None, {"22008"}),
    ("2147483647 months", None, {"22008"}), ("2562047788 hours", None, {"22008"}),
    ("9223372036854775807 microseconds", None, {"22008"}), ("5000 millennium", None, {"22008"}),
    ("2147483648 days", {"22015"}, None), ("infinity", {"22007"}, None), ("-infinity", {"22007"}, None),
    ("nonsense", {"22007"}, None), ("", {"22007"}, None), ("1e308 seconds", {"22007"}, None),
    ("1 day -1 microsecond 1 microsecond", {"22007"}, None),
]


def g_interval():
    if not hostile():
        text, parse, bad = rng.choice(INTERVALS[:13])
    elif rng.random() < 0.05:
        return Arg(None, "interval", "NULL idle_for", bad={"22004"})
    else:
        text, parse, bad = rng.choice(INTERVALS)
    return Arg(text, "interval", f"idle_for {text!r}", parse=parse, bad=bad)


# --- JSON ------------------------------------------------------------------

SCALARS = ["null", "true", "false", "0", "-0", "1.5", "-1e-7", "1e308", "1e-308",
           "123456789012345678901234567890.123456789", '""', '"x"', '"\\u00e9"',
           '"\\ud83d\\ude00"', '"\\uD83D\\uDE00"', '"\\uffff"', '"\\\\u0000"', '"\\n\\t\\"\\\\\\/"',
           '"\u00e9\U0001f600\u202e\u0301"', '"\\u0001"', '"\U0010ffff"']
PREFIXES = ["", "", "", "app:", "user:", "temp:", "App:", "USER:", "app:user:", "user:app:",
            "temp:app:", ":", "app", "app::", " app:"]
NAMES = ["", "x", "k1", "k2", "goal", "\u00e9", "\U0001f600", "a b", "\\", '"', "null", "0", "\\u0000"]
RAW_NAMES = ["\\u00e9", "\\ud83d\\ude00", "\\\\u0000", "\\uDBFF\\uDFFF", "k" * 300]   # JSON-escaped already
INVALID_JSON = [
    ("", {"22P02"}), ("{", {"22P02"}), ("[1,]", {"22P02"}), ('{"a"}', {"22P02"}), ('{"a":1,}', {"22P02"}),
    ("nul", {"22P02"}), ("[1] x", {"22P02"}), ("NaN", {"22P02"}), ("Infinity", {"22P02"}),
    ("{'a':1}", {"22P02"}), ('"\\ud800"', {"22P02"}), ('"\\udc00"', {"22P02"}),
    ('"\\ude00\\ud83d"', {"22P02"}), ('"\\ud800\\u0041"', {"22P02"}), ('"\\uZZZZ"', {"22P02"}),
    ('"\x01"', {"22P02"}), ("01", {"22P02"}), ("\ufeff{}", {"22P02"}), ("-", {"22P02"}),
    ('{"a":1}{"b":2}', {"22P02"}), ("[" * 10, {"22P02"}), ('[{"a":"\\u0000"}]', {"22P05"}),
    ('{"\\u0000":1}', {"22P05"}), ('"\\u0000"', {"22P05"}), ('[{"app:\\u0000x":1}]', {"22P05"}),
    ("1e1000000", {"22003"}), ("[{\"n\": 1e-1000000}]", {"22003"}), ('{"n": 123456789e123456789}', {"22003"}),
    ('[{"a":1}', {"22P02"}), ('{"a":[}', {"22P02"}), ('{"a" 1}', {"22P02"}), ("'{}'", {"22P02"}),
]
RAW_BAD_JSON = [b'{"a":"\xff"}', b'[{"a":"\x00"}]', b'{"\xed\xa0\x80":1}', b"\x00", b"[{}]\x00",
                b'[{"a":"\xc0\xaf"}]', b'{"user:\xf4\x90\x80\x80":1}']


def j_string():
    r = rng.random()
    if r < 0.5:
        return json.dumps("".join(rng.choice("ab \u00e9\u20ac\U0001f600\n\"\\\u0301\u202e\x01")
                                  for _ in range(rng.randint(0, 12))), ensure_ascii=rng.random() < 0.5)
    return rng.choice(SCALARS[10:])


def j_value(d=0):
    r = rng.random()
    if d > 3 or r < 0.45:
        return rng.choice(SCALARS) if rng.random() < 0.6 else j_string()
    if r < 0.7:
        return "[" + ",".join(j_value(d + 1) for _ in range(rng.randint(0, 4))) + "]"
    return j_object(rng.randint(0, 4), d + 1)


def j_key():
    if rng.random() < 0.9:
        return json.dumps(rng.choice(PREFIXES) + rng.choice(NAMES), ensure_ascii=rng.random() < 0.5)
    return '"' + rng.choice(PREFIXES) + rng.choice(RAW_NAMES) + '"'


def j_object(n, d=0):
    keys = [j_key() for _ in range(n)]
    if n > 1 and rng.random() < 0.15:
        keys.append(rng.choice(keys))      # a duplicate key
    return "{" + ",".join(f"{k}:{j_value(d + 1)}" for k in keys) + "}"


def deep(depth):
    """JSON nested depth deep, and whether it is an object (else an array of arrays)."""
    if rng.random() < 0.5:
        return "[" * depth + "]" * depth, False
    return '{"a":' * depth + "1" + "}" * depth, True


def huge_string(nbytes):
    r = rng.random()
    if r < 0.35:
        return '"' + base64.b64encode(rng.randbytes(nbytes * 3 // 4)).decode() + '"'
    if r < 0.55:
        return '"' + "\u20ac" * (nbytes // 3) + '"'
    if r < 0.75:
        return '"' + "\\n" * (nbytes // 2) + '"'
    if r < 0.9:
        return '"' + "\\ud83d\\ude00" * (nbytes // 12) + '"'
    return '"' + "x" * nbytes + '"'


LIMITS = {"max_message_size": 16 << 20, "max_batch_messages": 1000}


def g_json(role):
    """A jsonb argument: role 'messages' (array of objects) or 'state' (object)."""
    msgs = role == "messages"

    def shaped(inner, desc, maybe=()):
        # inner is any JSON value: put it where it is valid for the role
        key = json.dumps(rng.choice(PREFIXES) + "v")
        text = f"[{{{key}:{inner}}}]" if msgs else f"{{{key}:{inner}}}"
        a = Arg(text, "jsonb", desc, maybe=maybe)
        a.n = 1
        return a

    if not msgs and rng.random() < OPTIONAL_NULL:
        return ok(None, "jsonb", "NULL")
    r = rng.random() if hostile() else rng.choice((rng.uniform(0.05, 0.55),) * 5 + (rng.uniform(0.91, 1),))
    if r < 0.05:
        return Arg(None, "jsonb", "NULL", bad={"22004"} if msgs else None)
    if r < 0.55:
        if msgs:
            n = rng.choice((0, 1, 1, 1, 2, 3, 5))
            return messages_arg("[" + ",".join(j_object(rng.randint(0, 4)) for _ in range(n)) + "]", n)
        return ok(j_object(rng.randint(0, 6)), "jsonb", "object")
    if r < 0.67:
        choices = [rng.choice(SCALARS), "[]" if not msgs else "{}", j_object(2) if msgs else "[{}]",
                   "[" + ",".join([j_object(1)] * rng.randint(0, 3) + [j_value()]
                                  + [j_object(1)] * rng.randint(0, 3)) + "]",
                   "[[]]", "[null]", "[1]", '["{}"]', '"[]"', '"{}"']
        text = rng.choice(choices)
        if _shape_ok(text, msgs):
            a = ok(text, "jsonb", "valid by chance")
            a.n = len(json.loads(text)) if msgs else None
            return a
        a = Arg(text, "jsonb", f"wrong shape {text[:20]!r}", bad={"22023"})
        v = json.loads(text)
        a.n = len(v) if isinstance(v, list) else None
        return a
    if r < 0.77:
        text, codes = rng.choice(INVALID_JSON)
        return Arg(text, "jsonb", f"invalid JSON {text[:20]!r}", parse=codes)
    if r < 0.83:
        depth = rng.choice((100, 1000, 3000, 5000, 9000, 12000, 20000, 100000))
        text, is_object = deep(depth)
        if rng.random() < 0.8:
            return shaped(text, f"nested {depth} deep", maybe={"54001"})
        # bare: an object is a valid state; neither is an array of objects
        valid = is_object and not msgs
        return Arg(text, "jsonb", f"bare nesting {depth} deep", bad=None if valid else {"22023"},
                   maybe={"54001"})
    if r < 0.846:
        size = rng.choice((1 << 20, 3 << 20, 5 << 20, 5 << 20, 17 << 20 if rng.random() < 0.15 else 2 << 20))
        return shaped(huge_string(size), f"string of {size >> 20} MB")
    if r < 0.88:
        if msgs and rng.random() < 0.5:
            n = rng.choice((999, 1000, 1001, 5000))
            return messages_arg("[" + ",".join(['{"i":%d}' % i for i in range(n)]) + "]", n)
        n = rng.choice((1000, 10000, 50000))
        if rng.random() < 0.5:
            body = ",".join(f'"{rng.choice(PREFIXES)}k{i}":{i}' for i in range(n))
            desc = f"{n} keys"
        else:
            body = ",".join(f'"{rng.choice(("x", "app:x", "user:x"))}":{i}' for i in range(n))
            desc = f"{n} duplicate keys"
        return shaped("{" + body + "}", desc) if msgs else ok("{" + body + "}", "jsonb", desc)
    if r < 0.91:
        return Arg(RawJsonb(rng.choice(RAW_BAD_JSON)), "jsonb", "raw invalid UTF-8/NUL JSON", parse={"22021"})
    # unicode torture, valid
    s = "".join(rng.choice(['\\ud83d\\ude00', '\\uDBFF\\uDFFF', '\\uffff', '\\ufffe', '\\u202e',
                            '\\\\u0000', '\u0301', '\U0010ffff', '\\u00e9', '\\"', '\\\\', '\\/',
                            '\\b\\f\\r']) for _ in range(rng.randint(1, 20)))
    if msgs:
        return messages_arg(f'[{{"{s}": "{s}"}}]', 1)
    return ok(f'{{"{rng.choice(PREFIXES)}{s}": "{s}"}}', "jsonb", "unicode escapes")


def messages_arg(text, n):
    """n valid messages: more than max_batch_messages must fail with 54000."""
    a = Arg(text, "jsonb", f"{n} messages", bad={"54000"} if n > LIMITS["max_batch_messages"] else None)
    a.n = n
    return a


def _shape_ok(text, msgs):
    try:
        v = json.loads(text)
    except (ValueError, RecursionError):
        return False
    if msgs:
        return isinstance(v, list) and all(isinstance(x, dict) for x in v)
    return isinstance(v, dict)


# --- page tokens -------------------------------------------------------------

TOKENS = {}          # (app, user filter) -> real tokens seen
FORGE_OK = False
TIMES = [0, -1, 1, INT8_MIN, INT8_MAX, INT8_MAX - 1, INT8_MIN + 1, 1 << 62, -(1 << 62)]


def remember_tokens(app, user_filter, rows):
    lst = TOKENS.setdefault((app, user_filter), [])
    lst.extend(r[-1] for r in rows[-3:])
    del lst[:-20]


def g_token(app, user):
    """A page_token for a listing of (app, user)."""
    r = rng.random() if hostile() else rng.uniform(0, 0.5)
    if r < 0.3:
        return ok(None, "text", "no token")
    listing = (app.value, user.value) if app.plain and (user.plain or user.value is None) else None
    own = TOKENS.get(listing) if listing else None
    any_key = rng.choice(list(TOKENS)) if TOKENS else None
    any_tok = rng.choice(TOKENS[any_key]) if any_key else None
    if r < 0.5 and own:
        return ok(rng.choice(own), "text", "real token")
    if r < 0.58 and any_tok:
        return Arg(any_tok, "text", "token of another listing", bad=None if any_key == listing else {"22023"})
    if r < 0.66 and any_tok:
        return Arg(any_tok[:rng.randrange(len(any_tok))], "text", "truncated token", bad={"22023"})
    if r < 0.76 and any_tok:
        raw = bytearray(unb64url(any_tok))
        i = rng.randrange(len(raw) * 8)
        raw[i // 8] ^= 1 << (i % 8)
        return Arg(b64url(bytes(raw)), "text", "bit-flipped token", bad={"22023"})
    if r < 0.9 and FORGE_OK and listing:
        return forged(listing)
    if r < 0.97:
        n = rng.choice((0, 1, 2, 3, 4, 5, 16, 17, 18, 24, 50, 100, 358, 359, 360, 400))
        t = "".join(rng.choice(B64URL) for _ in range(n))
        return Arg(t, "text", f"random base64url of {n}", bad={"22023"})
    t = rng.choice(["====", "AQ==", "+/+/", "AQAB AQAB", "\u00e9\u00e9\u00e9\u00e9", "A" * 100000,
                    "\n", "%00", "null", "AQ", "A"])
    return Arg(t, "text", "garbage token", bad={"22023"})


def valid_utf8(b):
    """True if b is text in UTF-8 (the suite's databases): no NUL, valid sequences."""
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in b


def forged(listing):
    """A token with a valid check: a valid body (must work) or a bogus one."""
    app, user_filter = listing
    t = rng.choice(TIMES) & M64
    ids = []
    for _ in range(2):
        n = rng.choice((1, 1, 2, 5, 127, 128))
        ids.append(bytes(rng.randrange(256) for _ in range(n)) if rng.random() < 0.5
                   else rng.choice(SIDS + USERS).encode()[:n])
    body = b"\x01" + t.to_bytes(8, "big") + b"".join(bytes([len(i)]) + i for i in ids)
    if rng.random() < 0.5:
        if EDITION == "portable" and not all(valid_utf8(i) for i in ids):
            # the portable edition reads the ids as text: bytes that are no
            # text in the database's encoding make the token invalid there
            return Arg(forge_token(body, app, user_filter), "text", "forged token, ids not UTF-8",
                       bad={"22023"})
        return ok(forge_token(body, app, user_filter), "text", "forged token, valid body")
    r = rng.randrange(6)
    if r == 0:
        body = bytes([rng.choice((0, 2, 255))]) + body[1:]          # unknown format
    elif r == 1:
        body = body[:9] + bytes([0]) + body[10:]                    # id length 0 (then misaligned)
    elif r == 2:
        body = body[:9] + bytes([rng.choice((129, 200, 255))]) + body[10:]
    elif r == 3:
        body = body + b"\x00"                                       # trailing byte
    elif r == 4:
        body = body[:rng.randrange(1, 12)]                         # too short
    else:
        body = body[:-1]                                            # last id cut
    return Arg(forge_token(body, app, user_filter), "text", f"forged token, bogus body #{r}", bad={"22023"})


# --------------------------------------------------------------------------
# Calls: (function, [(parameter name, Arg)], in the function's parameter order)

def key3():
    return [g_id("app"), g_id("user"), g_id("session")]


def c_create():
    return ("create_session", [("app_name", g_id("app")), ("user_id", g_id("user")),
                               ("state", g_json("state")), ("session_id", g_new_id(True))])


def c_get_session():
    a = key3()
    return ("get_session", list(zip(("app_name", "user_id", "session_id"), a)))


def c_list():
    app = g_id("app")
    user = g_id("user", optional=True) if rng.random() < 0.7 else ok(None, "text", "no user filter")
    size = g_int(32, "page_size", realistic=lambda: rng.choice((1, 1, 2, 3, 5, 100, 10000)))
    return ("list_sessions", [("app_name", app), ("user_id", user), ("page_size", size),
                              ("page_token", g_token(app, user))])


def c_delete():
    a = key3()
    return ("delete_session", list(zip(("app_name", "user_id", "session_id"), a)))


def c_append():
    a = key3()
    return ("append_messages", list(zip(("app_name", "user_id", "session_id"), a)) + [
        ("messages", g_json("messages")), ("state_delta", g_json("state")),
        ("expected_version", g_expected_version(a)), ("idempotency_key", g_id("key", optional=True))])


def c_get_messages():
    a = key3()
    return ("get_messages", list(zip(("app_name", "user_id", "session_id"), a)) + [
        ("max_count", g_int(32, "max_count", realistic=lambda: rng.randint(0, 5))),
        ("after_seq", g_int(64, "after_seq")), ("before_seq", g_int(64, "before_seq"))])


def c_pop():
    a = key3()
    return ("pop_message", list(zip(("app_name", "user_id", "session_id"), a)) + [
        ("expected_version", g_expected_version(a))])


def c_rewind():
    a = key3()
    return ("rewind_session", list(zip(("app_name", "user_id", "session_id"), a)) + [
        ("to_seq", g_int(64, "to_seq", realistic=lambda: rng.randint(-1, 60))),
        ("expected_version", g_expected_version(a))])


def c_clear():
    a = key3()
    return ("clear_session", list(zip(("app_name", "user_id", "session_id"), a)) + [
        ("expected_version", g_expected_version(a))])


def c_fork():
    a = key3()
    return ("fork_session", list(zip(("app_name", "user_id", "session_id"), a)) + [
        ("new_session_id", g_new_id(True)), ("up_to_seq", g_int(64, "up_to_seq"))])


def c_app_state():
    return ("get_app_state", [("app_name", g_id("app"))])


def c_user_state():
    return ("get_user_state", [("app_name", g_id("app")), ("user_id", g_id("user"))])


def c_expire():
    return ("expire_sessions", [("idle_for", g_interval()),
                                ("app_name", g_id("app", optional=True)),
                                ("max_sessions", g_int(32, "max_sessions",
                                                       realistic=lambda: rng.randint(1, 5)))])


GENERATORS = [(c_create, 8), (c_get_session, 6), (c_list, 10), (c_delete, 3), (c_append, 22),
              (c_get_messages, 10), (c_pop, 5), (c_rewind, 5), (c_clear, 3), (c_fork, 6),
              (c_app_state, 3), (c_user_state, 3), (c_expire, 4)]
GEN_FNS = [g for g, _ in GENERATORS]
GEN_WEIGHTS = [w for _, w in GENERATORS]
REQUIRED_FIRST = {"create_session": 2, "get_session": 3, "list_sessions": 1, "delete_session": 3,
                  "append_messages": 4, "get_messages": 3, "pop_message": 3, "rewind_session": 4,
                  "clear_session": 3, "fork_session": 3, "get_app_state": 1, "get_user_state": 2,
                  "expire_sessions": 1}
VERSIONED = {"append_messages", "pop_message", "rewind_session", "clear_session"}
NEEDS_SESSION = VERSIONED | {"get_messages", "fork_session"}


def render(fn, args, form):
    """SQL and parameters of a call; form: plain, named, multi."""
    nreq = REQUIRED_FIRST[fn]
    if form == "named":
        present = [(n, a) for i, (n, a) in enumerate(args)
                   if i < nreq or a.value is not None or rng.random() < 0.6]
        # an omitted optional argument takes its default, a valid value
        for i, (n, a) in enumerate(args):
            if (n, a) not in present:
                args[i] = (n, ok(None, a.sql.split("::")[-1], "default"))
        args_sql = [(f"{n} => {a.sql}", a.params) for n, a in rng.sample(present, len(present))]
    else:
        args_sql = [(a.sql, a.params) for n, a in args]
    inner = f"session_store.{fn}({', '.join(s for s, _ in args_sql)})"
    params = [p for _, ps in args_sql for p in ps]
    if form == "multi":
        # count(x), not count(*): an unused STABLE call would be planned away
        return f"SELECT count(s.x) FROM (SELECT {inner} AS x FROM pg_catalog.generate_series(1, 3) g) s", params
    return f"SELECT * FROM {inner}", params


def situational(fn, args, form):
    """SQLSTATEs a call with only well-formed arguments may still get."""
    byname = dict(args)
    s = set()
    if fn in NEEDS_SESSION:
        s.add("42704")
    if fn in VERSIONED:
        ev = byname["expected_version"]
        if ev.value is not None and (ev.value != "CURRENT" or form == "multi"):
            s.add("40001")
    if fn == "create_session" and (byname["session_id"].value is not None or form == "multi"):
        s.add("23505")
    if fn == "fork_session":
        s.add("23505")
    return s


def over_size(fn, byname):
    """54000 if a message may be over max_message_size (as jsonb, which can be
    several times its text for deep arrays of tiny values).  Messages are
    checked with the arguments, so this may come before another bad one."""
    if fn == "append_messages":
        m = byname["messages"]
        if isinstance(m.value, str) and len(m.value) * 8 > LIMITS["max_message_size"]:
            return {"54000"}
        if m.n is not None and m.n > LIMITS["max_batch_messages"]:   # counted before the elements' shape
            return {"54000"}
    return set()


# --------------------------------------------------------------------------
# Judging

outcomes = Counter()          # SQLSTATE or "ok" -> count
per_fn = Counter()
violations = []               # (what, call description)
internal = []
hangs = []
crashed = []
slowest = []                  # (seconds, desc)
repro_files = []
watched = Counter()


def describe(fn, args):
    parts = []
    for n, a in args:
        v = a.value
        if isinstance(v, (bytes, str)) and len(v) > 40:
            v = f"{v[:30]!r}...({len(v)} chars)"
        elif v is not None:
            v = repr(v)
        parts.append(f"{n}={v}")
    return f"{fn}({', '.join(parts)})"


def write_repro(tag, sql, params, setup):
    if len(repro_files) >= MAX_REPORTED:
        return None
    path = os.path.join(OUT, f"session_store_fuzz_{SEED}_{len(repro_files)}_{tag}.py")
    lines = [
        "#!/usr/bin/python3",
        f"# session_store fuzz, seed {SEED}: {tag}.  Run against the fuzz database ({DB}).",
        "import psycopg",
        "from psycopg.adapt import Dumper",
        "from psycopg.pq import Format",
        "class RawText(bytes): pass",
        "class RawJsonb(bytes): pass",
        "class RT(Dumper):\n    format = Format.BINARY\n    oid = 25\n"
        "    def dump(self, o): return bytes(o)",
        "class RJ(Dumper):\n    format = Format.BINARY\n    oid = 3802\n"
        "    def dump(self, o): return b'\\x01' + bytes(o)",
        f"c = psycopg.connect(dbname={DB!r}, autocommit=True)",
        "c.adapters.register_dumper(RawText, RT)",
        "c.adapters.register_dumper(RawJsonb, RJ)",
    ]
    lines += [f"c.execute({s!r})" for s in setup]
    rp = []
    for p in params:
        if isinstance(p, RawText):
            rp.append(f"RawText({bytes(p)!r})")
        elif isinstance(p, RawJsonb):
            rp.append(f"RawJsonb({bytes(p)!r})")
        else:
            rp.append(repr(p))
    lines.append(f"print(c.execute({sql!r}, [{', '.join(rp)}]).fetchall())")
    try:
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
    except OSError:
        return None
    repro_files.append(path)
    return path


def limit_setup():
    return [f"SET session_store.{k} = {v}" for k, v in LIMITS.items()]


EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)


def check_rows(fn, args, rows, cols):
    """Well-formedness of a successful plain call's rows; None or a complaint."""
    byname = {n: a for n, a in args}

    def val(name):
        a = byname.get(name)
        return None if a is None or a.value in (None, "CURRENT") else a.value

    def intval(name):
        v = val(name)
        return None if v is None else int(v)

    if fn in ("create_session", "fork_session"):
        if len(rows) != 1:
            return f"{len(rows)} rows"
        r = dict(zip(cols, rows[0]))
        if r["version"] != 0 or r["last_seq"] < 0 or not (r["state"] or "").startswith("{"):
            return f"bad new session {r}"
        want = val("session_id") if fn == "create_session" else val("new_session_id")
        if want is not None and r["session_id"] != want:
            return f"session_id {r['session_id']!r} != {want!r}"
        up_to = intval("up_to_seq")
        if fn == "fork_session" and up_to is not None and r["last_seq"] > max(0, up_to):
            return f"fork last_seq {r['last_seq']} > up_to_seq"
    elif fn == "get_session":
        if len(rows) > 1:
            return f"{len(rows)} rows"
    elif fn == "list_sessions":
        if len(rows) > intval("page_size"):
            return f"{len(rows)} rows > page_size"
        keys = [(-((r[5] - EPOCH) // MICROSECOND), r[0].encode(), r[1].encode()) for r in rows]
        if keys != sorted(set(keys)):
            return "rows not in (update_time DESC, user_id, session_id) order"
        if val("user_id") is not None and any(r[0] != val("user_id") for r in rows):
            return "a row of another user"
        if any(not r[6] for r in rows):
            return "a row without next_page_token"
    elif fn == "append_messages":
        if len(rows) != 1:
            return f"{len(rows)} rows"
        first, last, version, _, replayed = rows[0]
        n = byname["messages"].n
        if n is None:
            return None
        if version < 1 or replayed is None:
            return f"bad result {rows[0]}"
        if not replayed and ((n == 0 and (first, last) != (None, None)) or
                             (n > 0 and (first is None or last - first + 1 != n))):
            return f"range {first}..{last} for {n} messages"
    elif fn in ("get_messages", "pop_message"):
        seqs = [r[0] for r in rows]
        if seqs != sorted(set(seqs)):
            return "seqs not strictly ascending"
        lo = intval("after_seq") if fn == "get_messages" else None
        hi = intval("before_seq") if fn == "get_messages" else None
        if any((lo is not None and s <= lo) or (hi is not None and s >= hi) or s < 1 for s in seqs):
            return f"seq outside the window: {seqs[:5]}"
        mc = intval("max_count") if fn == "get_messages" else 1
        if mc is not None and len(seqs) > mc:
            return f"{len(seqs)} rows > max_count {mc}"
    elif fn in ("rewind_session", "clear_session", "delete_session"):
        if len(rows) != 1 or rows[0][0] is None or (fn != "delete_session" and rows[0][0] < 0):
            return f"bad result {rows}"
    elif fn in ("get_app_state", "get_user_state"):
        if len(rows) != 1 or not (rows[0][0] or "").startswith("{"):
            return f"bad state {rows}"
    elif fn == "expire_sessions":
        if len(rows) != 1 or not 0 <= rows[0][0] <= intval("max_sessions"):
            return f"bad count {rows}"
    return None


HEAD_SQL = ("SELECT s.version, s.last_seq, s.update_time, s.state::text,"
            " (SELECT count(*) FROM session_store.messages m WHERE m.user_id = s.user_id AND m.sid = s.sid)"
            " FROM session_store.sessions s WHERE app_name = %s AND user_id = %s AND session_id = %s")


def head_of(c, key):
    rows = c.execute(HEAD_SQL, key).fetchall()
    return rows[0] if rows else None


def check_effect(fn, args, before, after, code, rows):
    """What a call did to its session, against the contract; None or a complaint."""
    if code is not None:
        return None if before == after else f"failed with {code} but changed the session: {before} -> {after}"
    if before is None:
        return None if fn in ("create_session", "get_session", "delete_session") or after is None \
            else "a session appeared"
    v0, ls0, _, _, n0 = before
    if fn in ("get_session", "get_messages", "list_sessions", "get_app_state", "get_user_state",
              "fork_session", "create_session"):
        return None if before == after else f"{fn} changed the session"
    if fn == "delete_session":
        return None if after is None and rows[0][0] is True else "delete_session left it"
    if after is None:
        return "the session disappeared"
    v1, ls1, _, _, n1 = after
    if ls1 < ls0:
        return f"last_seq went down {ls0} -> {ls1}"
    if fn == "append_messages":
        first, last, version, _, replayed = rows[0]
        if replayed:
            return None if before == after else "a replayed call changed the session"
        added = 0 if first is None else last - first + 1
        if (v1, ls1, n1) != (v0 + 1, ls0 + added, n0 + added) or version != v1:
            return f"append: {before[:2]}+{added} -> {after[:2]}, result version {version}"
        return None
    removed = len(rows) if fn == "pop_message" else rows[0][0]
    if removed == 0:
        return None if before == after else f"{fn} removed nothing but changed the session"
    if (v1, ls1, n1) != (v0 + 1, ls0, n0 - removed):
        return f"{fn} removed {removed}: {before[:2]},{n0} -> {after[:2]},{n1}"
    return None


# --------------------------------------------------------------------------
# The run

conn = fuzz_connection()
witness = connect(DB)
ident0 = server_identity(conn)
witness_pid = server_identity(witness)[0]
current = {"what": None, "since": None, "last": "no call"}


def watchdog():
    while True:
        time.sleep(1)
        since = current["since"]
        if since is not None and time.monotonic() - since > WATCHDOG_S:
            print(f"FAIL no call hangs: call still running after {WATCHDOG_S}s "
                  f"(statement_timeout did not stop it): {current['what']}")
            sys.stdout.flush()
            os._exit(1)


threading.Thread(target=watchdog, daemon=True).start()


def setup_pool(full):
    """Shrink big states; when full, also create the pool sessions that are
    missing and start over when the store grew big."""
    with conn.transaction():
        conn.execute("SET LOCAL session_store.max_batch_messages = 1000")
        conn.execute("SET LOCAL session_store.max_message_size = '16MB'")
        shrink_states()
        if full:
            fill_pool()


def shrink_states():
    """Keep states small: a 5 MB app: value would be read by every later call
    of its app.  Big keys (as text: a compressible 5 MB string is small on
    disk) are removed with a delta (null) on a session that sees them."""
    big = 256 << 10
    shrink = conn.execute(
        "SELECT s.app_name, s.user_id, s.session_id, 'app:', ARRAY(SELECT jsonb_object_keys(a.state))"
        " FROM session_store.app_states a, LATERAL (SELECT * FROM session_store.sessions s"
        "  WHERE s.app_name = a.app_name LIMIT 1) s"
        " WHERE pg_column_size(a.state) > 1000 AND octet_length(a.state::text) > %(big)s"
        " UNION ALL"
        " SELECT s.app_name, s.user_id, s.session_id, 'user:', ARRAY(SELECT jsonb_object_keys(u.state))"
        " FROM session_store.user_states u, LATERAL (SELECT * FROM session_store.sessions s"
        "  WHERE s.app_name = u.app_name AND s.user_id = u.user_id LIMIT 1) s"
        " WHERE pg_column_size(u.state) > 1000 AND octet_length(u.state::text) > %(big)s"
        " UNION ALL"
        " SELECT app_name, user_id, session_id, '', ARRAY(SELECT jsonb_object_keys(state))"
        " FROM session_store.sessions"
        " WHERE pg_column_size(state) > 1000 AND octet_length(state::text) > %(big)s",
        {"big": big}).fetchall()
    for a, u, sid, prefix, keys in shrink:
        conn.execute("SELECT session_store.append_messages(%s, %s, %s, '[]', %s)",
                     (a, u, sid, json.dumps({prefix + k: None for k in keys})))


def fill_pool():
    have = {tuple(r) for r in conn.execute(
        "SELECT app_name, user_id, session_id FROM session_store.sessions WHERE app_name = ANY(%s)", (APPS,))}
    size = conn.execute("SELECT count(*), coalesce(sum(pg_column_size(message)), 0) FROM session_store.messages"
                        ).fetchone()
    nsess = conn.execute("SELECT count(*) FROM session_store.sessions").fetchone()[0]
    if size[0] > 60000 or size[1] > (150 << 20) or nsess > 1500:
        conn.execute("SELECT session_store.expire_sessions('0', NULL, 10000)")
        have = set()
    for a in APPS:
        for u in USERS:
            for s in SIDS:
                if (a, u, s) not in have:
                    conn.execute("SELECT session_store.create_session(%s, %s, %s, %s)",
                                 (a, u, '{"k": 1, "user:u": 1, "app:a": 1}', s))
                    conn.execute("SELECT session_store.append_messages(%s, %s, %s, %s)",
                                 (a, u, s, json.dumps([{"i": i} for i in range(rng.randint(0, 8))])))
    for a in APPS:
        for u in (None,) + tuple(USERS[:2]):
            rows = conn.execute("SELECT * FROM session_store.list_sessions(%s, %s, 3)", (a, u)).fetchall()
            remember_tokens(a, u, rows)


setup_pool(True)
# the forger must reproduce a real token first
real = [(k, t) for k, ts in TOKENS.items() for t in ts]
FORGE_OK = bool(real) and all(forge_token(unb64url(t)[:-4], k[0], k[1]) == t for k, t in real)
if not FORGE_OK:
    print("     note: the token forger does not reproduce real tokens; forged tokens skipped")

LIMIT_VALUES = {
    "max_message_size": (["1kB", "1024", "4kB", "64kB", "1MB", "16MB", "16MB", "1023MB", "1.5kB"],
                         ["1023", "0", "-1", "1GB", "2GB", "abc", "", "1TB", "1 parsec"]),
    "max_batch_messages": (["1", "2", "3", "10", "1000", "1000", "1000000"],
                           ["0", "-1", "1000001", "x", "2147483648", ""]),
}


def fuzz_limits():
    name = rng.choice(list(LIMIT_VALUES))
    good, badv = LIMIT_VALUES[name]
    valid = rng.random() < 0.7
    v = rng.choice(good if valid else badv)
    sql = f"SET session_store.{name} = '{v}'"
    try:
        conn.execute(sql)
        code = None
    except psycopg.Error as e:
        code = sqlstate(e) or "client"
    outcomes[code or "ok"] += 1
    per_fn["SET limit"] += 1
    if EDITION == "portable" and not valid and code is None:
        # placeholder settings take any value; the portable edition checks
        # it at the call (22023, expected/limits.out): take it back
        conn.execute(f"RESET session_store.{name}")
        code = "22023"
    if valid and code is not None or not valid and code != "22023":
        violations.append((f"SET of a {'valid' if valid else 'invalid'} value got {code}", sql))
    if code and code.startswith("XX"):
        internal.append((code, sql))
    if EDITION == "portable":
        # placeholders: the limit in force is what the edition computes
        for lim in LIMIT_VALUES:
            LIMITS[lim] = conn.execute("SELECT session_store._limit(%s)", (lim,)).fetchone()[0]
        return
    for name, setting in conn.execute("SELECT name, setting::int FROM pg_settings"
                                      " WHERE name LIKE 'session_store.max%'"):
        LIMITS[name.split(".")[1]] = setting      # bytes, messages


def one_call(form, in_tx):
    """Generate, run and judge one call (in_tx: the isolation level of the
    enclosing transaction, or False).  False when the connection is gone."""
    HOSTILITY[0] = rng.choice((0.0, 0.1, 0.3, 1.0))
    fn, args = rng.choices(GEN_FNS, GEN_WEIGHTS)[0]()
    sql, params = render(fn, args, form)
    desc = {"plain": "", "named": "named args: ", "multi": "3 calls in one statement: "}[form] + \
        (f"in {in_tx} transaction: " if in_tx else "") + describe(fn, args)
    byname = dict(args)
    watch = None
    if (form == "plain" and not in_tx and "session_id" in byname and byname["user_id"].value is not None
            and rng.random() < 0.15):
        key = [byname[k] for k in ("app_name", "user_id", "session_id")]
        if all(a.plain for a in key):
            watch = tuple(a.value for a in key)
            before = head_of(conn, watch)
    per_fn[fn] += 1
    if in_tx:
        conn.execute("SAVEPOINT f")
    code, rows, cols = None, None, None
    current.update(what=desc, since=time.monotonic())
    t0 = time.monotonic()
    try:
        cur = conn.execute(sql, params)
        rows = cur.fetchall()
        cols = [d.name for d in cur.description]
    except psycopg.Error as e:
        code = sqlstate(e)
        err_msg = str(e).splitlines()[0] if str(e) else ""
        if conn.broken:
            current.update(since=None)
            crashed.append((f"connection lost: {err_msg}", desc))
            write_repro("crash", sql, params, limit_setup())
            return False
        if code is None:             # raised by psycopg itself: a bug of this script
            code = "client"
    took = time.monotonic() - t0
    current.update(since=None, last=desc)
    slowest.append((took, desc))
    if len(slowest) > 50:
        slowest.sort(reverse=True)
        del slowest[5:]
    outcomes[code or "ok"] += 1
    if in_tx:
        conn.execute("ROLLBACK TO SAVEPOINT f" if code else "RELEASE SAVEPOINT f")

    parse = set().union(*(a.parse for _, a in args if a.parse))
    bad = set().union(*(a.bad for _, a in args if a.bad))
    maybe = set().union(*(a.maybe for _, a in args)) | over_size(fn, byname)
    if code is not None and code.startswith("XX"):
        internal.append((f"{code} {err_msg}", desc))
        write_repro(f"internal_{code}", sql, params, limit_setup())
        return True
    if code == "57014":
        hangs.append((f"{took:.1f}s", desc))
        write_repro("timeout", sql, params, limit_setup())
        return True
    if code is None:
        if parse or bad:
            violations.append((f"accepted a malformed argument (expected {sorted(parse or bad)})", desc))
            write_repro("accepted", sql, params, limit_setup())
        elif form == "plain":
            complaint = check_rows(fn, args, rows, cols)
            if complaint:
                violations.append((f"malformed result: {complaint}", desc))
            if fn == "list_sessions" and rows:
                app, user = byname["app_name"], byname["user_id"]
                if app.plain and (user.plain or user.value is None):
                    remember_tokens(app.value, user.value, rows)
    else:
        allowed = (parse or bad or situational(fn, args, form)) | maybe
        if in_tx and fn == "expire_sessions":
            allowed |= {"40001"}
        if code not in allowed:
            violations.append((f"{code} ({err_msg[:80]}) not in {sorted(allowed)}", desc))
            write_repro(f"unexpected_{code}", sql, params, limit_setup())
    if watch:
        watched[fn] += 1
        complaint = check_effect(fn, args, before, head_of(conn, watch), code, rows)
        if complaint:
            violations.append((f"effect: {complaint}", desc))
    return True


def fuzz_loop():
    """Run the calls; returns how many ran and how many were in transactions."""
    n = groups = 0
    next_setup = next_ident = 0
    while n < CALLS:
        if n >= next_ident:
            ident = server_identity(conn)
            if ident != ident0:
                crashed.append((f"backend or postmaster changed: {ident0} -> {ident}", f"before call {n}"))
                break
            next_ident = n + 50
            setup_pool(n >= next_setup)
            if n >= next_setup:
                next_setup = n + 250
        r = rng.random()
        if r < 0.004:
            fuzz_limits()
            continue
        if r < 0.03:
            # a transaction: several calls under savepoints, then commit or roll back
            groups += 1
            level = rng.choice(("READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"))
            conn.execute(f"BEGIN ISOLATION LEVEL {level}")
            for _ in range(rng.randint(2, 6)):
                n += 1
                if not one_call(rng.choice(("plain", "plain", "named", "multi")), level):
                    return n, groups
            conn.execute(rng.choice(("COMMIT", "ROLLBACK")))
            continue
        n += 1
        if not one_call(rng.choices(("plain", "named", "multi"), (77, 15, 8))[0], False):
            break
    return n, groups


started = time.monotonic()
try:
    n, groups = fuzz_loop()
except psycopg.Error as e:
    if not conn.broken:
        raise
    # lost between calls (the call itself is judged in one_call)
    crashed.append((f"connection lost: {str(e).splitlines()[0]}", f"after {current['last']}"))
    n, groups = sum(per_fn.values()), 0
elapsed = time.monotonic() - started

# --------------------------------------------------------------------------
# Report and checks

print(f"     {n} calls in {elapsed:.1f}s ({groups} transactions), {sum(watched.values())} effects watched;"
      f" per function: " + ", ".join(f"{k} {v}" for k, v in sorted(per_fn.items())))
print("     outcome  calls  condition")
for code, cnt in sorted(outcomes.items(), key=lambda kv: (kv[0] != "ok", kv[0])):
    name = "" if code == "ok" else psycopg.errors.lookup(code).__name__ if code != "client" else "client-side"
    print(f"     {code:7} {cnt:6}  {name}")
slowest.sort(reverse=True)
if slowest:
    print(f"     slowest call {slowest[0][0]:.2f}s: {slowest[0][1][:150]}")


def show(items):
    more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
    return "; ".join(f"{w} <- {d[:300]}" for w, d in items[:3]) + more


ck.check(not crashed, "no crash, restart or lost connection", show(crashed))
ck.check(n >= CALLS, f"all {CALLS} calls ran", n)
ck.check(not internal, "no internal error (SQLSTATE class XX)", show(internal))
ck.check(not hangs, f"no call hit statement_timeout ({STATEMENT_TIMEOUT_MS // 1000}s)", show(hangs))
ck.check(not violations, "every outcome is one the contract allows for the arguments given", show(violations))
ck.check(not WARNINGS, "no WARNING from the server (no leaked reference at transaction end)", WARNINGS[:3])
if repro_files:
    print("     replay scripts: " + " ".join(repro_files))

try:
    ident = server_identity(conn)
    ck.check(ident == ident0, "same backend and postmaster start time at the end", (ident0, ident))
    ck.check(server_identity(witness)[0] == witness_pid, "an idle second connection survived the run")
except psycopg.Error as e:
    ck.check(False, "connections still up at the end", e)
    ck.done()

# Consistency of the store after the fuzzing.
for lim in LIMITS:
    conn.execute(f"RESET session_store.{lim}")
c = conn
q = lambda sql, *a: c.execute(sql, a or None).fetchall()  # noqa: E731
bad_seq = q("SELECT s.app_name, s.user_id, s.session_id, s.last_seq, m.seq FROM session_store.sessions s"
            " JOIN session_store.messages m ON m.user_id = s.user_id AND m.sid = s.sid"
            " WHERE m.seq < 1 OR m.seq > s.last_seq LIMIT 5")
ck.check(not bad_seq, "every stored seq is within 1..last_seq of its session", bad_seq)
dups = q("SELECT user_id, sid, seq, count(*) FROM session_store.messages"
         " GROUP BY 1, 2, 3 HAVING count(*) > 1 LIMIT 5")
ck.check(not dups, "stored seqs are distinct within each session", dups)
orphans = q("SELECT count(*) FROM session_store.messages m WHERE NOT EXISTS"
            " (SELECT 1 FROM session_store.sessions s WHERE s.user_id = m.user_id AND s.sid = m.sid)")[0][0]
ck.check(orphans == 0, "no orphan messages", orphans)
orphan_keys = q("SELECT count(*) FROM session_store.idempotency_keys k WHERE NOT EXISTS (SELECT 1 FROM"
                " session_store.sessions s WHERE s.user_id = k.user_id AND s.sid = k.sid)")[0][0]
ck.check(orphan_keys == 0, "no orphan idempotency keys", orphan_keys)
bad_keys = q("SELECT k.idempotency_key, k.last_seq, s.last_seq FROM session_store.idempotency_keys k"
             " JOIN session_store.sessions s USING (user_id, sid) WHERE k.last_seq > s.last_seq"
             " OR k.version > s.version OR octet_length(k.idempotency_key) NOT BETWEEN 1 AND 128 LIMIT 5")
ck.check(not bad_keys, "idempotency keys: 1..128 bytes, results within their session's head", bad_keys)
shared_sid = q("SELECT user_id, sid FROM session_store.sessions GROUP BY 1, 2 HAVING count(*) > 1 LIMIT 5")
ck.check(not shared_sid, "no two sessions share a message key (user_id, sid)", shared_sid)
bad_heads = q("SELECT app_name, user_id, session_id, version, last_seq FROM session_store.sessions"
              " WHERE version < 0 OR last_seq < 0 OR update_time < create_time"
              " OR octet_length(app_name) NOT BETWEEN 1 AND 128 OR octet_length(user_id) NOT BETWEEN 1 AND 128"
              " OR octet_length(session_id) NOT BETWEEN 1 AND 128 LIMIT 5")
ck.check(not bad_heads, "every session head is sane (ids 1..128 bytes, version and last_seq >= 0)", bad_heads)
bad_state = q("SELECT 's', session_id FROM session_store.sessions WHERE jsonb_typeof(state) <> 'object'"
              " OR EXISTS (SELECT 1 FROM jsonb_object_keys(state) k WHERE k LIKE 'app:%' OR k LIKE 'user:%'"
              " OR k LIKE 'temp:%')"
              " UNION ALL SELECT 'u', user_id FROM session_store.user_states"
              "  WHERE jsonb_typeof(state) <> 'object'"
              " UNION ALL SELECT 'a', app_name FROM session_store.app_states"
              "  WHERE jsonb_typeof(state) <> 'object'"
              " LIMIT 5")
ck.check(not bad_state, "states are objects; no app:/user:/temp: key stored in a session's own state",
         bad_state)
bad_msgs = q("SELECT user_id, sid, seq FROM session_store.messages"
             " WHERE jsonb_typeof(message) <> 'object' LIMIT 5")
ck.check(not bad_msgs, "every stored message is a JSON object", bad_msgs)

c.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
problems = []
for (rel,) in q("SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'session_store' AND c.relkind = 'r'"):
    problems += [(rel,) + tuple(r) for r in q("SELECT blkno, offnum, msg FROM verify_heapam(%s::regclass,"
                                               " check_toast => true) LIMIT 3", rel)]
nidx = 0
for (idx,) in q("SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " JOIN pg_am am ON am.oid = c.relam WHERE n.nspname = 'session_store' AND c.relkind = 'i'"
                " AND am.amname = 'btree'"):
    nidx += 1
    try:
        c.execute("SELECT bt_index_parent_check(%s::regclass, heapallindexed => true)", (idx,))
    except psycopg.Error as e:
        problems.append((idx, str(e).splitlines()[0]))
ck.check(not problems and nidx >= 5,
         f"amcheck: heaps, TOAST and {nidx} btree indexes (every heap tuple indexed)",
         problems[:5])

try:
    s = c.execute("SELECT session_id, version FROM session_store.create_session('fz-after', 'u', "
                  "'{\"a\": 1}', 'after')").fetchone()
    r = c.execute("SELECT first_seq, last_seq, version, replayed FROM session_store.append_messages("
                  "'fz-after', 'u', 'after', '[{\"n\": 1}, {\"n\": 2}, {\"n\": 3}]', '{\"b\": 2}', 0, 'key')"
                  ).fetchone()
    got = c.execute("SELECT seq, message FROM session_store.get_messages('fz-after', 'u', 'after')").fetchall()
    st = c.execute("SELECT state, version FROM session_store.get_session('fz-after', 'u', 'after')").fetchone()
    ok_after = (s == ("after", 0) and tuple(r) == (1, 3, 1, False)
                and got == [(i, json.dumps({"n": i})) for i in (1, 2, 3)]
                and json.loads(st[0]) == {"a": 1, "b": 2} and st[1] == 1)
    ck.check(ok_after, "a normal create, append and read still work", (s, r, got, st))
except psycopg.Error as e:
    ck.check(False, "a normal create, append and read still work", e)
ck.done()
