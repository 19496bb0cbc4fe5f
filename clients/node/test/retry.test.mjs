// The retry layer: which failures are retried and which never, the budget,
// keys made once per call and reused by every attempt, nothing retried on a
// client passed in; and the pools the client makes surviving the loss of
// their idle connections.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';

import {
  ConnectionLost, DEFAULT_RETRY, IdempotencyConflict, InvalidArgument, LimitExceeded,
  SerializationFailure, SessionExists, SessionStore, SessionStoreError, SessionStoreService,
  SessionStoreSession, VersionConflict, isConnectionFailure, translateError,
} from '../dist/index.js';
import { connectionString, dropDatabases, freshDatabase } from './databases.mjs';
import { LossyPool, ScriptedPool, dbError, loseFirstOf, startTerminatingServer, sysError } from './fakes.mjs';

const run = promisify(execFile);
const here = new URL('.', import.meta.url).pathname;
const FAST = { maxAttempts: 6, baseDelayMs: 1, maxDelayMs: 2 };
const APP = 'retry-app';
let db;
let pool;

/** fn() with Math.random() answering `value`: every jittered pause at that point of its range. */
async function withRandom(value, fn) {
  const random = Math.random;
  Math.random = () => value;
  try {
    return await fn();
  } finally {
    Math.random = random;
  }
}

/**
 * fn() with setTimeout recording the delays it is asked for: the retry
 * layer's pauses (nothing else in a call on a ScriptedPool sets a timer).
 */
async function sleepsOf(fn) {
  const real = globalThis.setTimeout;
  const delays = [];
  globalThis.setTimeout = (cb, ms, ...rest) => { delays.push(ms); return real(cb, ms, ...rest); };
  try {
    return { result: await fn(), delays };
  } finally {
    globalThis.setTimeout = real;
  }
}

/** Each try started at least its pause after the one before (a timer may fire 1 ms early). */
function assertSleptBetween(starts, delays) {
  assert.equal(starts.length, delays.length + 1, `${starts.length} tries, ${delays.length} pauses`);
  for (let i = 0; i < delays.length; i++) {
    const gap = starts[i + 1] - starts[i];
    assert.ok(gap >= delays[i] - 1, `try ${i + 2} started ${gap} ms after try ${i + 1}, its pause was ${delays[i]} ms`);
  }
}

before(async () => {
  db = await freshDatabase('retry');
  pool = new pg.Pool({ ...db, max: 4 });
  pool.on('error', () => {});
});
after(async () => {
  await pool.end();
  await dropDatabases();
});

const RETRIED = [
  ['57P01 terminated by administrator', () => dbError('57P01', 'terminating connection due to administrator command')],
  ['57P02 crash shutdown', () => dbError('57P02')],
  ['57P03 cannot connect now', () => dbError('57P03', 'the database system is starting up')],
  ['08006 connection failure', () => dbError('08006')],
  ['08001 unable to connect', () => dbError('08001')],
  ['ECONNRESET', () => sysError('ECONNRESET')],
  ['EPIPE', () => sysError('EPIPE', 'write')],
  ['ECONNREFUSED', () => sysError('ECONNREFUSED', 'connect')],
  ['Connection terminated unexpectedly', () => new Error('Connection terminated unexpectedly')],
  ['a client not queryable', () => new Error('Client has encountered a connection error and is not queryable')],
  ['the pool timing out', () => new Error('timeout exceeded when trying to connect')],
];

const NEVER = [
  ['23505', SessionExists], ['40001', SerializationFailure], ['40P01', SerializationFailure],
  ['22023', InvalidArgument], ['22P02', InvalidArgument], ['42710', IdempotencyConflict],
  ['54000', LimitExceeded], ['42883', SessionStoreError], ['42501', SessionStoreError],
  ['XX000', SessionStoreError], ['57014', SessionStoreError],
];

describe('what is retried', () => {
  for (const [name, make] of RETRIED) {
    test(`retried: ${name}, on a fresh connection; the dead one destroyed`, async () => {
      const fake = new ScriptedPool([make(), [{ n: 7 }]]);
      const store = new SessionStore(fake, { retry: FAST });
      assert.deepEqual(await store.query('SELECT 7 AS n', []), [{ n: 7 }]);
      assert.equal(fake.attempts.length, 2);
      assert.equal(fake.connects, 2);
      assert.ok(fake.released[0] instanceof Error, 'the failed client is released with its error');
      assert.equal(fake.released[1], undefined, 'the healthy one goes back to the pool');
      assert.ok(isConnectionFailure(make()));
    });
  }

  test('retried: a pool that cannot hand out a connection (server down, then back)', async () => {
    const fake = new ScriptedPool([], { failConnect: [sysError('ECONNREFUSED', 'connect'),
                                                      dbError('57P03', 'the database system is starting up')] });
    const store = new SessionStore(fake, { retry: FAST });
    assert.deepEqual(await store.query('SELECT 1', []), [{ ok: true }]);
    assert.equal(fake.connects, 3);
    assert.equal(fake.attempts.length, 1);
  });

  for (const [code, cls] of NEVER) {
    test(`never retried: ${code} (${cls.name}); the connection is kept`, async () => {
      const fake = new ScriptedPool([dbError(code)]);
      const store = new SessionStore(fake, { retry: FAST });
      const err = await store.query('SELECT 1', []).catch((e) => e);
      assert.ok(err instanceof cls, `${code}: ${err}`);
      assert.equal(err.constructor, cls);
      assert.equal(err.sqlstate, code);
      assert.equal(fake.attempts.length, 1);
      assert.deepEqual(fake.released, [undefined]);
      assert.equal(isConnectionFailure(dbError(code)), false);
    });
  }

  test('never retried: an error that is no connection failure (the client is not reused)', async () => {
    const bug = new RangeError('bigint value 9007199254740993 does not fit a JavaScript number');
    const fake = new ScriptedPool([bug]);
    const store = new SessionStore(fake, { retry: FAST });
    assert.equal(await store.query('SELECT 1', []).catch((e) => e), bug);
    assert.equal(fake.attempts.length, 1);
    assert.equal(fake.released[0], bug);
  });

  test('real server: 23505, 22023 and 40001 reach the caller after one statement', async () => {
    const s = await new SessionStore(pool).createSession(APP, 'u', { sessionId: 'taken' });
    const lossy = new LossyPool(pool, () => 'ok');
    const store = new SessionStore(lossy, { retry: FAST });
    const dup = await store.createSession(APP, 'u', { sessionId: 'taken' }).catch((e) => e);
    assert.ok(dup instanceof SessionExists, String(dup));
    const bad = await store.listSessions(APP, { pageToken: 'not a token' }).catch((e) => e);
    assert.ok(bad instanceof InvalidArgument, String(bad));
    assert.equal(bad.sqlstate, '22023');
    await store.appendMessages(APP, 'u', s.sessionId, [{ a: 1 }]);
    const stale = await store.appendMessages(APP, 'u', s.sessionId, [{ a: 2 }], { expectedVersion: 0 })
      .catch((e) => e);
    assert.ok(stale instanceof VersionConflict, String(stale));
    assert.equal(lossy.attempts.length, 4, 'one statement per call');
  });

  test('a socket error named like a SQLSTATE (EPIPE) is not taken for a server error', () => {
    const e = sysError('EPIPE', 'write');
    assert.equal(translateError(e), e);
  });
});

describe('the budget', () => {
  test('defaults', () => {
    assert.deepEqual({ ...DEFAULT_RETRY }, { maxAttempts: 10, maxElapsedMs: 30000, baseDelayMs: 50, maxDelayMs: 5000 });
    const store = new SessionStore(new ScriptedPool());
    assert.deepEqual({ ...store.retry }, { ...DEFAULT_RETRY });
    assert.deepEqual({ ...new SessionStore(new ScriptedPool(), { retry: { maxAttempts: 3 } }).retry },
                     { ...DEFAULT_RETRY, maxAttempts: 3 });
    assert.equal(new SessionStore(new ScriptedPool(), { retry: false }).retry, undefined);
    assert.throws(() => new SessionStore(new ScriptedPool(), { retry: { maxAttempts: 0 } }), RangeError);
    assert.throws(() => new SessionStore(new ScriptedPool(), { retry: { baseDelayMs: -1 } }), RangeError);
    assert.throws(() => new SessionStore(new ScriptedPool(), { retry: { maxElapsedMs: 0 } }), RangeError);
  });

  test('maxAttempts: ConnectionLost with the attempt count and the last cause', async () => {
    const errs = Array.from({ length: 10 }, (_, i) => sysError('ECONNRESET', `read${i}`));
    const fake = new ScriptedPool(errs);
    const store = new SessionStore(fake, { retry: { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 1 } });
    const err = await store.query('SELECT 1', []).catch((e) => e);
    assert.ok(err instanceof ConnectionLost, String(err));
    assert.ok(err instanceof SessionStoreError);
    assert.equal(err.name, 'ConnectionLost');
    assert.equal(err.attempts, 4);
    assert.equal(err.cause, errs[3]);
    assert.match(err.message, /4 attempts/);
    assert.match(err.message, /outcome of the call is unknown/);
    assert.equal(fake.attempts.length, 4);
    assert.equal(isConnectionFailure(err), false, 'a ConnectionLost is not retried again (by a nested store)');
  });

  test('backoff: full jitter, doubling from baseDelayMs, capped by maxDelayMs', async () => {
    // every draw at its bound: 20, 40, 40, 40, 40 ms (uncapped: 20, 40, 80, 160, 320)
    const fake = new ScriptedPool(Array.from({ length: 6 }, () => sysError('ECONNRESET')));
    const store = new SessionStore(fake, { retry: { maxAttempts: 6, baseDelayMs: 20, maxDelayMs: 40 } });
    const t0 = performance.now();
    const { result: err, delays } = await withRandom(1, () => sleepsOf(() => store.query('SELECT 1', []).catch((e) => e)));
    const ms = performance.now() - t0;
    assert.ok(err instanceof ConnectionLost);
    assert.equal(err.attempts, 6);
    assert.deepEqual(delays, [20, 40, 40, 40, 40]);
    assertSleptBetween(fake.starts, delays);
    assert.ok(ms < 180 + 1000, `took ${ms} ms, the pauses add up to 180`);
    const fake0 = new ScriptedPool(Array.from({ length: 5 }, () => sysError('ECONNRESET')));
    const store0 = new SessionStore(fake0, { retry: { maxAttempts: 5, baseDelayMs: 20, maxDelayMs: 60 } });
    const zero = await withRandom(0, () => sleepsOf(() => store0.query('SELECT 1', []).catch((e) => e)));
    assert.equal(zero.result.attempts, 5);
    assert.deepEqual(zero.delays, [0, 0, 0, 0], 'a draw of 0 sleeps 0');
  });

  test('maxElapsedMs: no attempt starts later than that after the first', async () => {
    const fake = new ScriptedPool(Array.from({ length: 1000 }, () => sysError('ECONNRESET')));
    const budget = { maxAttempts: 1000, maxElapsedMs: 150, baseDelayMs: 10, maxDelayMs: 20 };
    const store = new SessionStore(fake, { retry: budget });
    const t0 = performance.now();
    const { result: err, delays } = await withRandom(1, () => sleepsOf(() => store.query('SELECT 1', []).catch((e) => e)));
    const end = performance.now();
    assert.ok(err instanceof ConnectionLost);
    assert.ok(err.attempts >= 2 && err.attempts < 1000, `${err.attempts} attempts`);
    assert.equal(err.attempts, fake.attempts.length);
    assert.deepEqual(delays, [10, ...Array(err.attempts - 2).fill(20)]);
    assertSleptBetween(fake.starts, delays);
    const last = fake.starts.at(-1) - fake.starts[0];
    assert.ok(last < budget.maxElapsedMs, `the last attempt started ${last} ms after the first`);
    // it gave up only when the next pause (20 ms) would have ended past the budget
    assert.ok(end - fake.starts[0] >= budget.maxElapsedMs - 20 - 2, `gave up ${end - fake.starts[0]} ms after the first`);
    assert.ok(end - t0 < budget.maxElapsedMs + 1000, `gave up after ${end - t0} ms`);
  });

  test('no connection to be had: tries beyond maxAttempts, waited out within maxElapsedMs', async () => {
    // a restart as the pool sees it: refused, then starting up, then back
    const down = [...Array.from({ length: 12 }, () => sysError('ECONNREFUSED', 'connect')),
                  ...Array.from({ length: 8 }, () => dbError('57P03', 'the database system is starting up'))];
    const fake = new ScriptedPool([[{ n: 1 }]], { failConnect: down });
    const store = new SessionStore(fake, { retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 4 } });
    const { result, delays } = await withRandom(1, () => sleepsOf(() => store.query('SELECT 1 AS n', [])));
    assert.deepEqual(result, [{ n: 1 }]);
    assert.equal(fake.connects, 21);
    assert.equal(fake.attempts.length, 1, 'sent once, when a connection was had');
    assert.deepEqual(delays, [1, 2, ...Array(18).fill(4)], 'the pauses double over every try, up to maxDelayMs');
    assertSleptBetween(fake.starts, delays);
  });

  test('no connection to be had until maxElapsedMs: ConnectionLost, 0 attempts, the call not sent', async () => {
    const fake = new ScriptedPool([], { failConnect: Array.from({ length: 100000 }, () => sysError('ECONNREFUSED', 'connect')) });
    const budget = { maxAttempts: 1, maxElapsedMs: 300, baseDelayMs: 1, maxDelayMs: 5 };
    const store = new SessionStore(fake, { retry: budget });
    const err = await store.query('SELECT 1', []).catch((e) => e);
    const end = performance.now();
    assert.ok(err instanceof ConnectionLost, String(err));
    assert.equal(err.attempts, 0);
    assert.equal(err.connectFailures, fake.connects);
    assert.ok(fake.connects > budget.maxAttempts, `${fake.connects} tries`);
    assert.equal(fake.attempts.length, 0);
    assert.equal(err.cause, fake.failConnect[fake.connects - 1]);
    assert.match(err.message, new RegExp(`${fake.connects} tries to connect failed over`));
    assert.match(err.message, /never sent, so the call did not take effect/);
    const last = fake.starts.at(-1) - fake.starts[0];
    assert.ok(last < budget.maxElapsedMs, `the last try started ${last} ms after the first`);
    assert.ok(end - fake.starts[0] >= budget.maxElapsedMs - 5 - 2, `gave up ${end - fake.starts[0]} ms after the first`);
    assert.ok(err.elapsedMs >= budget.maxElapsedMs - 5 - 2 && err.elapsedMs < end - fake.starts[0] + 2, `${err.elapsedMs}`);
  });

  test('statements sent and lost still stop at maxAttempts, failed connects between them or not', async () => {
    const refused = () => sysError('ECONNREFUSED', 'connect');
    const lost = () => new Error('Connection terminated unexpectedly');
    // check-outs 0, 1 fail, 2 sends; 3, 4, 5 fail, 6 sends; 7 fails, 8 sends ...
    const failConnect = [refused(), refused(), undefined, refused(), refused(), refused(), undefined, refused()];
    const budget = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 };

    const ok = new ScriptedPool([lost(), lost(), [{ n: 3 }]], { failConnect });
    assert.deepEqual(await new SessionStore(ok, { retry: budget }).query('SELECT 3 AS n', []), [{ n: 3 }],
                     'two attempts lost, the third answers: 9 tries, within maxAttempts');
    assert.equal(ok.connects, 9);
    assert.equal(ok.attempts.length, 3);

    const script = [lost(), lost(), lost(), lost()];
    const fake = new ScriptedPool(script, { failConnect });
    const err = await new SessionStore(fake, { retry: budget }).query('SELECT 1', []).catch((e) => e);
    assert.ok(err instanceof ConnectionLost, String(err));
    assert.equal(err.attempts, 3);
    assert.equal(err.connectFailures, 6);
    assert.equal(err.cause, script[2]);
    assert.equal(fake.attempts.length, 3);
    assert.equal(fake.connects, 9);
    assert.match(err.message, /each of 3 attempts \(and 6 tries to connect failed\) over/);
    assert.match(err.message, /outcome of the call is unknown/);

    const plain = new ScriptedPool(Array.from({ length: 10 }, lost));
    const err2 = await new SessionStore(plain, { retry: budget }).query('SELECT 1', []).catch((e) => e);
    assert.deepEqual([err2.attempts, err2.connectFailures, plain.attempts.length], [3, 0, 3]);
  });

  test('a check-out failing with a server answer (not a connection failure) is thrown at once', async () => {
    const fake = new ScriptedPool([], { failConnect: [dbError('28P01', 'password authentication failed')] });
    const err = await new SessionStore(fake, { retry: FAST }).query('SELECT 1', []).catch((e) => e);
    assert.ok(err instanceof SessionStoreError && !(err instanceof ConnectionLost), String(err));
    assert.equal(err.sqlstate, '28P01');
    assert.equal(fake.connects, 1);
  });

  test('retry: false sends each call once and throws the driver error as it is', async () => {
    const e = new Error('Connection terminated unexpectedly');
    const fake = new ScriptedPool([e]);
    fake.query = async () => { fake.attempts.push('direct'); throw e; };
    const store = new SessionStore(fake, { retry: false });
    assert.equal(await store.query('SELECT 1', []).catch((x) => x), e);
    assert.deepEqual(fake.attempts, ['direct']);
  });
});

describe('keys', () => {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  const keyOf = (values) => values.find((v) => typeof v === 'string' && uuid.test(v));

  test('append and replace: one key per call, made before the first attempt, sent by every attempt', async () => {
    const fake = new ScriptedPool([sysError('ECONNRESET'), dbError('57P01'), [{ first_seq: 1 }],
                                   new Error('Connection terminated unexpectedly'), [{ first_seq: 2 }],
                                   sysError('EPIPE', 'write'), [{ removed: 1 }]]);
    const store = new SessionStore(fake, { retry: FAST });
    await store.appendMessages(APP, 'u', 's', [{ a: 1 }]);
    await store.appendMessages(APP, 'u', 's', [{ a: 2 }]);
    await store.replaceMessages(APP, 'u', 's', [{ a: 2 }], [{ a: 3 }]);
    const keys = fake.attempts.map(keyOf);
    assert.ok(keys.every((k) => k !== undefined), JSON.stringify(fake.attempts));
    assert.equal(keys[0], keys[1]);
    assert.equal(keys[1], keys[2]);
    assert.equal(keys[3], keys[4]);
    assert.equal(keys[5], keys[6]);
    assert.equal(new Set(keys).size, 3, 'a new key for each call');
  });

  test('create, fork, pop, rewind, clear: a key (and an id) per call, the same for every attempt', async () => {
    const lost = () => new Error('Connection terminated unexpectedly');
    const row = [{ app_name: APP, user_id: 'u', session_id: 'x', state: {}, version: 0, last_seq: 0 }];
    const fake = new ScriptedPool([lost(), row, lost(), row, lost(), [], lost(), [{ n: 0 }], lost(), [{ n: 0 }],
                                   lost(), row]);
    const store = new SessionStore(fake, { retry: FAST });
    await store.createSession(APP, 'u');
    await store.forkSession(APP, 'u', 's');
    await store.popMessage(APP, 'u', 's');
    await store.rewindSession(APP, 'u', 's', 1, { expectedVersion: 4 });
    await store.clearSession(APP, 'u', 's');
    await store.createSession(APP, 'u', { sessionId: 'given' });
    const a = fake.attempts;
    for (let i = 0; i < a.length; i += 2) assert.deepEqual(a[i], a[i + 1], `call ${i / 2}: the same arguments`);
    const uuids = (v) => v.filter((x) => typeof x === 'string' && uuid.test(x));
    assert.equal(uuids(a[0]).length, 2, 'create: an id and a key');
    assert.equal(uuids(a[2]).length, 2, 'fork: a new id and a key');
    for (const i of [4, 6, 8]) assert.equal(uuids(a[i]).length, 1, 'pop / rewind / clear: a key');
    assert.ok(a[6].includes(4), "the caller's expected_version is sent as it is");
    assert.ok(a[10].includes('given') && uuids(a[10]).length === 1, 'an id given: kept, a key added');
    assert.equal(new Set(a.filter((_, i) => i % 2 === 0).flatMap(uuids)).size, 8, 'fresh for each call');
  });

  test('with retries off, create, fork, pop, rewind, clear send no key (as with 1.1)', async () => {
    const sent = [];
    const fake = new ScriptedPool();
    fake.query = async (cfg) => { sent.push(cfg.text); return { rows: [{ n: 0, app_name: APP }] }; };
    const store = new SessionStore(fake, { retry: false });
    await store.createSession(APP, 'u');
    await store.forkSession(APP, 'u', 's');
    await store.popMessage(APP, 'u', 's');
    await store.rewindSession(APP, 'u', 's', 1);
    await store.clearSession(APP, 'u', 's');
    assert.equal(sent.length, 5);
    for (const text of sent) assert.doesNotMatch(text, /idempotency_key/);
    assert.match(sent[0], /session_id => \$4\b/);
  });

  test('real server: each write whose reply was lost, retried, is applied once and returns its result', async () => {
    const plain = new SessionStore(pool);
    const lossy = new LossyPool(pool, loseFirstOf(/create_session|fork_session|pop_message|rewind_session|clear_session|replace_messages/));
    const store = new SessionStore(lossy, { retry: FAST });
    const s = await store.createSession(APP, 'once', { state: { a: 1 } });
    assert.equal(s.version, 0);
    assert.deepEqual(s.state, { a: 1 });
    const named = await store.createSession(APP, 'once', { sessionId: 'named-once' });
    assert.equal(named.sessionId, 'named-once');
    await plain.appendMessages(APP, 'once', s.sessionId, [1, 2, 3, 4, 5, 6].map((n) => ({ n })));
    const popped = await store.popMessage(APP, 'once', s.sessionId);
    assert.deepEqual([popped.seq, popped.message], [6, { n: 6 }], 'the row the first attempt popped');
    assert.equal(await store.rewindSession(APP, 'once', s.sessionId, 3), 2, "the first attempt's count");
    const r = await store.replaceMessages(APP, 'once', s.sessionId, [{ n: 3 }], [{ n: 30 }]);
    assert.equal(r.replayed, true);
    const f = await store.forkSession(APP, 'once', s.sessionId);
    assert.deepEqual((await plain.getMessages(APP, 'once', f.sessionId)).map((m) => m.message.n), [1, 2, 30]);
    assert.equal(await store.clearSession(APP, 'once', f.sessionId), 3, "the first attempt's count");
    assert.deepEqual((await plain.getMessages(APP, 'once', s.sessionId)).map((m) => m.message.n), [1, 2, 30]);
    const sessions = await plain.listSessions(APP, { userId: 'once' });
    assert.deepEqual(sessions.map((x) => x.sessionId).sort(), [s.sessionId, f.sessionId, 'named-once'].sort(),
                     'no session made twice');
    assert.equal(lossy.attempts.filter((a) => a.what === 'lose').length, 7);
    assert.equal(lossy.attempts.length, 14);
  });

  test('a key reused by another kind of call: IdempotencyConflict, not retried', async () => {
    const store = new SessionStore(pool, { retry: FAST });
    const s = await store.createSession(APP, 'kinds');
    await store.appendMessages(APP, 'kinds', s.sessionId, [{ a: 1 }], { idempotencyKey: 'k-append' });
    const err = await store.popMessage(APP, 'kinds', s.sessionId, { idempotencyKey: 'k-append' }).catch((e) => e);
    assert.ok(err instanceof IdempotencyConflict, String(err));
    assert.equal(err.sqlstate, '42710');
  });

  test("the caller's key is the one sent; none is made with retries off", async () => {
    const fake = new ScriptedPool([sysError('ECONNRESET')]);
    await new SessionStore(fake, { retry: FAST }).appendMessages(APP, 'u', 's', [{}], { idempotencyKey: 'mine' });
    assert.deepEqual(fake.attempts.map((v) => v.includes('mine')), [true, true]);
    const off = new ScriptedPool();
    off.query = async (cfg) => { off.attempts.push(cfg.values); return { rows: [{}] }; };
    await new SessionStore(off, { retry: false }).appendMessages(APP, 'u', 's', [{}]);
    assert.equal(keyOf(off.attempts[0]), undefined);
    assert.equal(new SessionStore(off, { retry: false }).newKey(), undefined);
  });

  test('a reply lost after the append committed: the retry returns the stored result, stored once', async () => {
    const store = new SessionStore(pool);
    const s = await store.createSession(APP, 'lost');
    const lossy = new LossyPool(pool, (i) => (i === 0 ? 'lose' : 'ok'));
    const r = await new SessionStore(lossy, { retry: FAST })
      .appendMessages(APP, 'lost', s.sessionId, [{ n: 1 }, { n: 2 }]);
    assert.deepEqual([r.firstSeq, r.lastSeq, r.version, r.replayed], [1, 2, 1, true]);
    assert.equal(lossy.attempts.length, 2);
    assert.deepEqual((await store.getMessages(APP, 'lost', s.sessionId)).map((m) => m.message.n), [1, 2]);
  });

  test('without retries the same lost reply reaches the caller (who cannot know it was stored)', async () => {
    const store = new SessionStore(pool);
    const s = await store.createSession(APP, 'lost-off');
    const lossy = new LossyPool(pool, (i) => (i === 0 ? 'lose' : 'ok'));
    lossy.query = async (cfg) => {
      const c = await lossy.connect();
      try { return await c.query(cfg); } finally { c.release(); }
    };
    const err = await new SessionStore(lossy, { retry: false })
      .appendMessages(APP, 'lost-off', s.sessionId, [{ n: 1 }]).catch((e) => e);
    assert.match(String(err), /Connection terminated/);
    assert.equal((await store.getMessages(APP, 'lost-off', s.sessionId)).length, 1);
  });

  test('ADK appendEvent: the event id is the key; a lost reply is replayed, the copy moves on', async () => {
    const { createEvent } = await import('@google/adk');
    const lossy = new LossyPool(pool, loseFirstOf(/append_messages/));
    const svc = new SessionStoreService(new SessionStore(lossy, { retry: FAST }));
    const s = await svc.createSession({ appName: APP, userId: 'adk' });
    for (let i = 0; i < 3; i++) {
      await svc.appendEvent({ session: s, event: createEvent({ author: 'user', invocationId: 'i',
                                                               content: { role: 'user', parts: [{ text: `e${i}` }] } }) });
    }
    const appends = lossy.attempts.filter((a) => a.text.includes('append_messages'));
    assert.equal(appends.length, 6, 'each append lost once, then replayed');
    for (let i = 0; i < 6; i += 2) assert.deepEqual(appends[i].values, appends[i + 1].values);
    const back = await svc.getSession({ appName: APP, userId: 'adk', sessionId: s.id });
    assert.deepEqual(back.events.map((e) => e.content.parts[0].text), ['e0', 'e1', 'e2']);
    assert.deepEqual(s.events.map((e) => e.id), back.events.map((e) => e.id));
    // the copy's version followed: a fourth append is not refused as stale
    await svc.appendEvent({ session: s, event: createEvent({ author: 'user', invocationId: 'i' }) });
  });

  test('OpenAI addItems: a key of its own per call, the same for the retry; stored once', async () => {
    const lossy = new LossyPool(pool, loseFirstOf(/append_messages/));
    const session = new SessionStoreSession('oai-lost', { store: new SessionStore(lossy, { retry: FAST }),
                                                          appName: APP, userId: 'oai' });
    const item = (t) => ({ role: 'user', content: t });
    await session.addItems([item('a'), item('b')]);   // first write: not found, create, write (lost), replay
    await session.addItems([item('c')]);
    const appends = lossy.attempts.filter((a) => a.text.includes('append_messages'));
    const keys = appends.map((a) => keyOf(a.values));
    assert.ok(keys.every(Boolean));
    assert.equal(new Set(keys).size, 2, JSON.stringify(appends.map((a) => a.what)));
    assert.deepEqual((await session.getItems()).map((i) => i.content), ['a', 'b', 'c']);
  });
});

describe('adapters, replies lost after the write', () => {
  test('ADK createSession (with and without an id) and deleteSession', async () => {
    const lossy = new LossyPool(pool, loseFirstOf(/create_session|delete_session/));
    const svc = new SessionStoreService(new SessionStore(lossy, { retry: FAST }));
    const a = await svc.createSession({ appName: APP, userId: 'adk-create', state: { x: 1 } });
    const b = await svc.createSession({ appName: APP, userId: 'adk-create', sessionId: 'adk-named' });
    assert.equal(b.id, 'adk-named');
    assert.deepEqual(a.state, { x: 1 });
    const listed = await svc.listSessions({ appName: APP, userId: 'adk-create' });
    assert.deepEqual(listed.sessions.map((x) => x.id).sort(), [a.id, 'adk-named'].sort());
    await svc.deleteSession({ appName: APP, userId: 'adk-create', sessionId: a.id });
    assert.equal(await svc.getSession({ appName: APP, userId: 'adk-create', sessionId: a.id }), undefined);
    assert.equal(lossy.attempts.filter((x) => x.what === 'lose').length, 3);
  });

  test('OpenAI popItem and clearSession', async () => {
    const lossy = new LossyPool(pool, loseFirstOf(/pop_message|clear_session/));
    const session = new SessionStoreSession('oai-pop-lost', { store: new SessionStore(lossy, { retry: FAST }),
                                                              appName: APP, userId: 'oai' });
    await session.addItems(['a', 'b', 'c'].map((t) => ({ role: 'user', content: t })));
    assert.equal((await session.popItem()).content, 'c');
    assert.equal((await session.popItem()).content, 'b');
    assert.deepEqual((await session.getItems()).map((i) => i.content), ['a'], 'each pop applied once');
    await session.clearSession();
    assert.deepEqual(await session.getItems(), []);
    assert.equal(lossy.attempts.filter((x) => x.what === 'lose').length, 3);
    const clears = lossy.attempts.filter((a) => a.text.includes('clear_session'));
    assert.equal(clears.length, 2, 'one clear_session, lost once, then replayed');
    assert.deepEqual(clears[0].values, clears[1].values, 'the same key on the retry');
  });

  test('OpenAI clearSession: its retry after a lost reply removes no item added in between', async () => {
    // The first clear commits and its reply is lost; before the retry is
    // sent another writer adds an item.  The retry replays the first clear
    // (its key), so the item stays.  (A delete_session sent again, or a
    // clear without a key, would remove it: a lost append.)
    const other = new SessionStoreSession('oai-clear-race', { pool, appName: APP, userId: 'oai' });
    let phase = 0;
    const lossy = new LossyPool(pool, async (_i, text) => {
      if (!/clear_session|delete_session/.test(text)) return 'ok';
      if (phase++ === 0) return 'lose';
      await other.addItems([{ role: 'user', content: 'added between' }]);
      return 'ok';
    });
    const session = new SessionStoreSession('oai-clear-race', { store: new SessionStore(lossy, { retry: FAST }),
                                                                appName: APP, userId: 'oai' });
    await session.addItems(['a', 'b'].map((t) => ({ role: 'user', content: t })));
    await session.clearSession();
    assert.equal(phase, 2, 'the clear was lost once and retried');
    assert.deepEqual((await session.getItems()).map((i) => i.content), ['added between']);
  });
});

describe('clients passed in', () => {
  test('a pg.Client: not retried; its calls fail as the driver says', async () => {
    const c = new pg.Client(db);
    const errors = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    try {
      const store = new SessionStore(c);
      assert.equal(store.retry, undefined);
      assert.equal(store.newKey(), undefined);
      await store.getAppState(APP);
      const pid = (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p;
      await pool.query('SELECT pg_terminate_backend($1)', [pid]);
      for (let i = 0; i < 100 && !errors.length; i++) await new Promise((r) => setTimeout(r, 10));
      const err = await store.getAppState(APP).catch((e) => e);
      assert.ok(err instanceof Error && !(err instanceof ConnectionLost), String(err));
      assert.match(err.message, /not queryable|terminat/);
    } finally {
      await c.end().catch(() => {});
    }
  });

  test('a pooled client, a { query } object: not retried', async () => {
    const pc = await pool.connect();
    try {
      assert.equal(new SessionStore(pc).retry, undefined);
    } finally {
      pc.release();
    }
    let n = 0;
    const once = { query: async () => { n++; throw new Error('Connection terminated unexpectedly'); } };
    const store = new SessionStore(once);
    assert.equal(store.retry, undefined);
    assert.match(String(await store.getAppState(APP).catch((e) => e)), /Connection terminated/);
    assert.equal(n, 1);
  });

  test('a pg.Pool passed in is retried on: a backend terminated mid-statement', async () => {
    // The statement waits on an advisory lock the test holds; once its
    // backend is seen waiting, it is terminated: mid-statement whatever the
    // machine's speed.  The lock is let go only after that backend is gone.
    const name = 'retry-midstatement';
    const LOCK = 7401;
    const own = new pg.Pool({ ...db, max: 2, application_name: name });
    own.on('error', () => {});
    let checkouts = 0;
    own.on('acquire', () => { checkouts++; });
    const holder = await pool.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [LOCK]);
      const store = new SessionStore(own, { retry: FAST });
      const call = store.query('SELECT pg_advisory_xact_lock($1), pg_backend_pid() AS pid', [LOCK]);
      const first = await terminateWhenWaiting(name);
      await holder.query('SELECT pg_advisory_unlock($1)', [LOCK]);
      const rows = await call;
      assert.equal(checkouts, 2, 'the statement was sent twice: killed, then retried');
      assert.notEqual(rows[0].pid, first, 'the answer came from a fresh connection');

      await holder.query('SELECT pg_advisory_lock($1)', [LOCK]);
      const off = new SessionStore(own, { retry: false });
      const once = off.query('SELECT pg_advisory_xact_lock($1)', [LOCK]).catch((e) => e);
      await terminateWhenWaiting(name);
      await holder.query('SELECT pg_advisory_unlock($1)', [LOCK]);
      const err = await once;
      assert.equal(err.sqlstate, '57P01', String(err));
      assert.equal(checkouts, 3, 'sent once');
    } finally {
      holder.release();
      await own.end();
    }
  });
});

/**
 * Terminates the backend of `applicationName` once it waits on a lock
 * (polling pg_stat_activity, for up to 60 s) and returns its pid when it
 * has gone.
 */
async function terminateWhenWaiting(applicationName) {
  const deadline = Date.now() + 60000;
  const poll = async (text, values) => {
    for (;;) {
      const { rows } = await pool.query(text, values);
      if (rows.length) return rows[0];
      assert.ok(Date.now() < deadline, `after 60 s: ${text} ${JSON.stringify(values)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const { pid } = await poll(`SELECT pid FROM pg_stat_activity
                               WHERE application_name = $1 AND wait_event_type = 'Lock'`, [applicationName]);
  const { rows } = await pool.query('SELECT pg_terminate_backend($1) AS sent', [pid]);
  assert.equal(rows[0].sent, true);
  await poll('SELECT 1 FROM (SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1) c WHERE n = 0', [pid]);
  return pid;
}

describe('pools the client makes', () => {
  test('a backend terminated as its connection completes: an error of the call, not of the process', async () => {
    // The FATAL arrives in the chunk that completed the connection, so it is
    // parsed before any promise continuation runs; the checked-out client
    // must have its 'error' listener by then.
    const server = await startTerminatingServer();
    const store = new SessionStore({ connectionString: `postgresql://u@127.0.0.1:${server.port}/d`, max: 2 },
                                   { retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 } });
    try {
      const err = await store.getAppState(APP).catch((e) => e);
      assert.ok(err instanceof ConnectionLost, String(err));
      assert.equal(err.attempts, 3);
      assert.equal(server.connections(), 3);
    } finally {
      await store.close();
      await server.close();
    }
  });

  test('survive the loss of their idle connections (a process that must not crash)', async () => {
    const appName = `idle-kill-${process.pid}`;
    const { stdout } = await run(process.execPath,
      [`${here}e2e/idle_kill_process.mjs`, connectionString(db), appName], { env: process.env });
    const out = JSON.parse(stdout);
    assert.equal(out.ok, true);
    assert.ok(out.terminated >= 3, `idle connections of the three pools terminated: ${out.terminated}`);
  });
});
