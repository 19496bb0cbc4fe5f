// The TypeScript adapters' benchmark: ADK-JS's own DatabaseSessionService
// (MikroORM, PostgreSQL driver) against SessionStoreService, on one server,
// alternating rounds, one fresh database per side.  Prints medians and the
// ratio.  Run by bench/node.sh (make bench) inside a throwaway cluster.
//
//   BENCH_ROUNDS=3 node clients/node/bench/bench.mjs
//
// SS_PORTABLE_SQL=portable/session_store.sql adds a third side: the same
// SessionStoreService on the portable edition, in a database of its own
// (the script run in place of CREATE EXTENSION), with its ratio to ADK's
// and to the C edition's.  BENCH_RETRY_ROUNDS=0 skips the retry layer's part.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { createEvent } from '@google/adk';
import { DatabaseSessionService } from '@google/adk/sessions/database';
import pg from 'pg';

import { SessionStore, SessionStoreService, SessionStoreSession, StaleSessionError } from '../dist/index.js';
import { connectionString, dropDatabases, freshDatabase } from '../test/databases.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RETRY_ROUNDS = Number(process.env.BENCH_RETRY_ROUNDS ?? 41);
const RETRY_CALLS = Number(process.env.BENCH_RETRY_CALLS ?? 60);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const now = () => performance.now();

const adkDb = await freshDatabase('bench_adk');
const ourDb = await freshDatabase('bench_ss');
const adk = new DatabaseSessionService(connectionString(adkDb));
await adk.init();
const ourPool = new pg.Pool({ ...ourDb, max: 16 });
const ours = new SessionStoreService(ourPool);
const adkSql = new pg.Pool({ ...adkDb, max: 2 });
const sides = { adk, ours };
const ourPools = [[ours, ourPool]];
let ptPool;
if (process.env.SS_PORTABLE_SQL) {
  const ptDb = await freshDatabase('bench_pt');
  const c = new pg.Client(ptDb);
  await c.connect();
  try {
    await c.query('DROP EXTENSION session_store CASCADE');
    await c.query(readFileSync(process.env.SS_PORTABLE_SQL, 'utf8'));
    const { rows } = await c.query('SELECT edition FROM session_store.edition()');
    if (rows[0].edition !== 'portable') throw new Error(`edition ${rows[0].edition}, not portable`);
  } finally {
    await c.end();
  }
  ptPool = new pg.Pool({ ...ptDb, max: 16 });
  sides.portable = new SessionStoreService(ptPool);
  ourPools.push([sides.portable, ptPool]);
}
const APP = 'bench';

const event = (text) => createEvent({ invocationId: 'inv', author: 'user',
                                      content: { role: 'user', parts: [{ text }] } });

/** Runs fn(worker, i) for n calls per worker across `workers`; calls per second. */
async function rate(workers, n, fn) {
  const t0 = now();
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    for (let i = 0; i < n; i++) await fn(w, i);
  }));
  return (workers * n) / ((now() - t0) / 1000);
}

/** Median latency in ms of `n` sequential calls, after a few untimed ones. */
async function latency(n, fn, warmup = 3) {
  for (let i = 0; i < warmup; i++) await fn(i);
  const ts = [];
  for (let i = 0; i < n; i++) {
    const t0 = now();
    await fn(i);
    ts.push(now() - t0);
  }
  return median(ts);
}

const results = {};
const record = (name, side, v) => (((results[name] ??= { adk: [], ours: [] })[side] ??= []).push(v));

// Rows every phase needs: one user per worker, so no create races the
// app and user rows (ADK's own service fails on that race).
for (const svc of Object.values(sides)) {
  for (let w = 0; w < 16; w++) await svc.createSession({ appName: APP, userId: `u${w}` });
}

// Sessions with 1,000 and 100,000 events, for the read latency.  Loaded with
// SQL (the same event JSON repeated), not through the services.
const sample = event('x'.repeat(200));
async function seedLong(n) {
  const sid = `long-${n}`;
  await adk.createSession({ appName: APP, userId: 'reader', sessionId: sid });
  await adkSql.query(
    `INSERT INTO events (id, app_name, user_id, session_id, invocation_id, timestamp, event_data)
     SELECT gen_random_uuid()::text, $1, 'reader', $2, 'inv', now() - g * interval '1 ms', $3::jsonb
       FROM generate_series(1, $4::integer) g`, [APP, sid, JSON.stringify(sample), n]);
  for (const [svc, pool] of ourPools) {
    await svc.createSession({ appName: APP, userId: 'reader', sessionId: sid });
    for (let done = 0; done < n; done += 1000) {
      await pool.query(
        `SELECT FROM session_store.append_messages($1, 'reader', $2,
                   (SELECT pg_catalog.jsonb_agg($3::jsonb) FROM generate_series(1, $4::integer)))`,
        [APP, sid, JSON.stringify(sample), Math.min(1000, n - done)]);
    }
    await pool.query('ANALYZE');
  }
  await adkSql.query('ANALYZE');
  return sid;
}
// (BENCH_ROUNDS=0: nothing seeded, only the retry layer's comparison below)
const long1k = ROUNDS > 0 ? await seedLong(1000) : undefined;
const long100k = ROUNDS > 0 ? await seedLong(100000) : undefined;

// 10,000 sessions of one app, for the list page.
if (ROUNDS > 0) {
  await adkSql.query(
    `INSERT INTO sessions (id, app_name, user_id, state, create_time, update_time)
     SELECT 'l' || g, 'listed', 'u' || (g % 100), '{}', now(), now() - g * interval '1 s'
       FROM generate_series(1, 10000) g`);
  for (const [, pool] of ourPools) {
    await pool.query(
      `SELECT FROM generate_series(1, 10000) g,
              LATERAL session_store.create_session('listed', 'u' || (g % 100), NULL, 'l' || g)`);
  }
}

for (let r = 0; r < ROUNDS; r++) {
  for (const [side, svc] of Object.entries(sides)) {
    record('createSession, 8 workers (calls/s)', side,
           await rate(8, 50, (w) => svc.createSession({ appName: APP, userId: `u${w}` })));

    const own = await Promise.all(Array.from({ length: 8 }, (_, w) =>
      svc.createSession({ appName: APP, userId: `u${w}` })));
    record('appendEvent, 8 workers on own sessions (calls/s)', side,
           await rate(8, 100, (w, i) => svc.appendEvent({ session: own[w], event: event(`w${w} ${i}`) })));

    const hot = await svc.createSession({ appName: APP, userId: 'u0' });
    const copies = await Promise.all(Array.from({ length: 16 }, () =>
      svc.getSession({ appName: APP, userId: 'u0', sessionId: hot.id })));
    let stale = 0;
    record('appendEvent, 16 workers on one session (appends/s)', side,
           await rate(16, 20, async (w, i) => {
             const e = event(`w${w} ${i}`);
             for (;;) {
               try {
                 return await svc.appendEvent({ session: copies[w], event: e });
               } catch (err) {
                 if (!(err instanceof StaleSessionError)) throw err;
                 stale++;
                 copies[w] = await svc.getSession({ appName: APP, userId: 'u0', sessionId: hot.id });
               }
             }
           }));
    if (side !== 'adk') record('  of which stale copies re-read (count)', side, stale);

    for (const [label, sid] of [['1,000', long1k], ['100,000', long100k]]) {
      record(`getSession latest 20 of ${label} events (ms)`, side,
             await latency(30, () => svc.getSession({ appName: APP, userId: 'reader', sessionId: sid,
                                                      config: { numRecentEvents: 20 } })));
    }
    record('listSessions page 1 of 100 among 10,000 (ms)', side,
           await latency(20, () => svc.listSessions({ appName: 'listed', limit: 100, page: 1, order: 'desc' })));
    record('listSessions pages 1..50 in sequence, per page (ms)', side,
           await latency(1, async () => {
             for (let p = 1; p <= 50; p++) await svc.listSessions({ appName: 'listed', limit: 100, page: p, order: 'desc' });
           }, 0) / 50);
  }
}

// The retry layer's cost: the same appends through stores that differ only
// in `retry`, on the same pool, the order of the two sides alternating.  The
// ratio is the median of each round's on/off ratio (the two sides of a round
// ran seconds apart, so a shared machine's drift cancels out of it).
const retrySides = { on: new SessionStore(ourPool), off: new SessionStore(ourPool, { retry: false }) };
const retryResults = {};
const recordRetry = (name, side, v) => ((retryResults[name] ??= { on: [], off: [] })[side].push(v));
const keyResults = { on: [], off: [] };
const recordKey = (side, v) => keyResults[side].push(v);
for (let r = 0; r < RETRY_ROUNDS; r++) {
  for (const side of r % 2 ? ['off', 'on'] : ['on', 'off']) {
    const store = retrySides[side];
    const svc = new SessionStoreService(store);
    const own = await Promise.all(Array.from({ length: 8 }, (_, w) =>
      svc.createSession({ appName: APP, userId: `u${w}` })));
    recordRetry('ADK appendEvent, 8 workers on own sessions (calls/s)', side,
                await rate(8, RETRY_CALLS, (w, i) => svc.appendEvent({ session: own[w], event: event(`w${w} ${i}`) })));
    const sessions = Array.from({ length: 8 }, (_, w) =>
      new SessionStoreSession(`oai-${side}-${r}-${w}`, { store, appName: APP, userId: `u${w}` }));
    await Promise.all(sessions.map((s) => s.addItems([{ role: 'user', content: 'first' }])));
    recordRetry('OpenAI addItems, 8 workers on own sessions (calls/s)', side,
                await rate(8, RETRY_CALLS, (w, i) => sessions[w].addItems([{ role: 'user', content: `w${w} ${i}` }])));
    // what the server pays for a key: both with retries off, a key made here or none
    const keyed = side === 'on';
    const plain = await Promise.all(Array.from({ length: 8 }, (_, w) => retrySides.off.createSession(APP, `u${w}`)));
    recordKey(keyed ? 'on' : 'off', await rate(8, RETRY_CALLS, (w, i) => retrySides.off.appendMessages(
      APP, `u${w}`, plain[w].sessionId, [{ i }], { idempotencyKey: keyed ? randomUUID() : null })));
  }
}

// The layer's own CPU per call, without a server: a pool (shaped as
// pg.Pool) whose client answers at once, appendMessages through each store.
const instantClient = {
  on() {}, removeListener() {}, release() {},
  query: async () => ({ rows: [{ first_seq: 1, last_seq: 1, version: 1, update_time: new Date(), replayed: false }] }),
};
const instantPool = {
  totalCount: 0, idleCount: 0,
  connect(cb) { queueMicrotask(() => cb(undefined, instantClient, instantClient.release)); },
  query: (cfg) => instantClient.query(cfg),
};
const instant = { on: new SessionStore(instantPool), off: new SessionStore(instantPool, { retry: false }) };
const cpu = { on: [], off: [] };
for (let r = 0; r < 13; r++) {
  for (const side of r % 2 ? ['off', 'on'] : ['on', 'off']) {
    const t0 = now();
    for (let i = 0; i < 20000; i++) await instant[side].appendMessages(APP, 'u', 's', [{ i }]);
    if (r >= 3) cpu[side].push((now() - t0) * 1000 / 20000);   // the first rounds warm up
  }
}

const pad = (s, n) => String(s).padEnd(n);
const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
if (ROUNDS > 0) {
  console.log(`TypeScript adapters, ${ROUNDS} alternating rounds, medians (PostgreSQL ${(await ourPool.query('SHOW server_version')).rows[0].server_version}):`);
  const pt = 'portable' in sides;
  console.log(`  ${pad('', 58)}${pad('ADK DatabaseSessionService', 28)}${pad('SessionStoreService', 21)}` +
              (pt ? `${pad('on portable', 13)}${pad('ratio', 13)}${pad('portable', 13)}portable/C` : 'ratio'));
  const TARGET = Number(process.env.BENCH_TARGET ?? 0);
  const missed = [];
  for (const [name, v] of Object.entries(results)) {
    const a = v.adk.length ? median(v.adk) : undefined;
    const higherBetter = name.includes('/s');
    const vs = (o) => (a === undefined ? undefined : higherBetter ? o / a : a / o);
    const show = (r) => (r === undefined ? '' : higherBetter ? `${r.toFixed(1)}x` : `${r.toFixed(1)}x faster`);
    const o = median(v.ours);
    let line = `  ${pad(name, 58)}${pad(a === undefined ? '' : fmt(a), 28)}${pad(fmt(o), 21)}`;
    if (pt) {
      const p = median(v.portable);
      const pc = name.includes('(count)') ? '' : higherBetter ? `${(p / o).toFixed(2)}x` : `${(o / p).toFixed(2)}x`;
      line += `${pad(fmt(p), 13)}${pad(show(vs(o)), 13)}${pad(show(vs(p)), 13)}${pc}`;
      if (TARGET && vs(p) !== undefined && vs(p) < TARGET) missed.push(`${name.trim()}: ${vs(p).toFixed(1)}x`);
    } else {
      line += show(vs(o));
    }
    if (TARGET && vs(o) !== undefined && vs(o) < TARGET) missed.push(`${name.trim()} (C): ${vs(o).toFixed(1)}x`);
    console.log(line);
  }
  if (pt) console.log('  (ratio: SessionStoreService on the C edition over ADK; portable: on the portable edition; portable/C: the portable edition over the C one, higher is better)');
  if (TARGET) console.log(`  target: >= ${TARGET}x ADK on every workload: ${missed.length ? `MISSED on ${missed.join('; ')}` : 'met'}`);
}
if (RETRY_ROUNDS > 0) {
console.log(`Retry layer, retries on (default policy) against retry: false, same pool, ${RETRY_ROUNDS} interleaved rounds, medians:`);
console.log(`  ${pad('', 58)}${pad('retries on', 14)}${pad('retries off', 14)}on/off (median of rounds)`);
for (const [name, v] of Object.entries(retryResults)) {
  const ratios = v.on.map((on, i) => on / v.off[i]);
  console.log(`  ${pad(name, 58)}${pad(fmt(median(v.on)), 14)}${pad(fmt(median(v.off)), 14)}${median(ratios).toFixed(3)}`);
}
// ADK sends its event id as key either way; addItems sends a key only with
// retries on, and the server stores it: that part is the key's, not the layer's.
console.log(`  ${pad('appendMessages on a pool that answers at once (us/call)', 58)}${pad(median(cpu.on).toFixed(2), 14)}` +
            `${pad(median(cpu.off).toFixed(2), 14)}+${(median(cpu.on) - median(cpu.off)).toFixed(2)} us`);
console.log(`  ${pad('', 58)}${pad('with a key', 14)}${pad('without', 14)}with/without`);
console.log(`  ${pad('appendMessages, 8 workers, retries off (calls/s)', 58)}${pad(fmt(median(keyResults.on)), 14)}` +
            `${pad(fmt(median(keyResults.off)), 14)}${median(keyResults.on.map((x, i) => x / keyResults.off[i])).toFixed(3)}`);
}
await adk.orm?.close(true);
await ourPool.end();
await ptPool?.end();
await adkSql.end();
await dropDatabases();
