// SessionStoreService against the real @google/adk package.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BaseSessionService, createEvent, createEventActions } from '@google/adk';
import pg from 'pg';

import {
  IdempotencyConflict, SessionExists, SessionStore, SessionStoreService, StaleSessionError,
  VersionConflict, sessionVersion,
} from '../dist/index.js';
import { dropDatabases, freshDatabase } from './databases.mjs';

let pool;
let svc;
const APP = 'adk-app';

before(async () => {
  pool = new pg.Pool({ ...(await freshDatabase('adk')), max: 8 });
  svc = new SessionStoreService(pool);
});
after(async () => {
  await pool.end();
  await dropDatabases();
});

const json = (x) => JSON.parse(JSON.stringify(x));

function userEvent(text, extra = {}) {
  return createEvent({ invocationId: 'inv', author: 'user', content: { role: 'user', parts: [{ text }] }, ...extra });
}

describe('SessionStoreService', () => {
  test('is a BaseSessionService', () => {
    assert.ok(svc instanceof BaseSessionService);
  });

  test('createSession routes state; getSession returns it merged; null values kept', async () => {
    const s = await svc.createSession({
      appName: APP, userId: 'u', state: { a: 1, n: null, 'app:k': 'A', 'user:k': 'U', 'temp:t': 1 },
    });
    assert.deepEqual(s.state, { a: 1, n: null, 'app:k': 'A', 'user:k': 'U' });
    assert.deepEqual(s.events, []);
    assert.equal(sessionVersion(s), 0);
    assert.equal(typeof s.lastUpdateTime, 'number');
    const g = await svc.getSession({ appName: APP, userId: 'u', sessionId: s.id });
    assert.deepEqual(g.state, s.state);
    assert.equal(await svc.getSession({ appName: APP, userId: 'u', sessionId: 'missing' }), undefined);
    const err = await svc.createSession({ appName: APP, userId: 'u', sessionId: s.id }).catch((e) => e);
    assert.ok(err instanceof SessionExists);
  });

  test('events round-trip exactly, in order; state deltas applied, nulls stored', async () => {
    const s = await svc.createSession({ appName: APP, userId: 'u' });
    const events = [
      userEvent('hello'),
      createEvent({
        invocationId: 'inv', author: 'agent',
        content: { role: 'model', parts: [{ functionCall: { id: 'c1', name: 'f', args: { x: [1, { y: 'z' }] } } }] },
        actions: createEventActions({ stateDelta: { s1: 'v', gone: null, 'app:hits': 1, 'user:lang': 'fr', 'temp:scratch': 9 } }),
        customMetadata: { 'ünï': 'cødé', quote: '"\'\\' },
      }),
      userEvent('again'),
    ];
    for (const e of events) {
      const r = await svc.appendEvent({ session: s, event: e });
      assert.equal(r, e);
    }
    assert.equal(sessionVersion(s), 3);
    assert.equal(s.events.length, 3);
    assert.equal(s.state.s1, 'v');
    assert.equal(s.state.gone, null);
    assert.ok(!('temp:scratch' in events[1].actions.stateDelta), 'temp: keys are trimmed from the event');
    const g = await svc.getSession({ appName: APP, userId: 'u', sessionId: s.id });
    assert.deepEqual(g.events.map(json), events.map(json));
    assert.ok(g.events.every((e) => e[Symbol.for('google.adk.event')] === true), 'events are ADK events again');
    assert.deepEqual(g.state, { s1: 'v', gone: null, 'app:k': 'A', 'app:hits': 1, 'user:k': 'U', 'user:lang': 'fr' });
    assert.equal(sessionVersion(g), 3);
    assert.equal(g.lastUpdateTime, s.lastUpdateTime);
  });

  test('partial events are not stored', async () => {
    const s = await svc.createSession({ appName: APP, userId: 'u' });
    await svc.appendEvent({ session: s, event: createEvent({ author: 'agent', partial: true }) });
    const g = await svc.getSession({ appName: APP, userId: 'u', sessionId: s.id });
    assert.equal(g.events.length, 0);
    assert.equal(sessionVersion(g), 0);
  });

  test('numRecentEvents and afterTimestamp (inclusive) served by SQL', async () => {
    const s = await svc.createSession({ appName: APP, userId: 'u' });
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < 6; i++) {
      await svc.appendEvent({ session: s, event: userEvent(`m${i}`, { timestamp: t0 + 1000 * i }) });
    }
    const texts = (sess) => sess.events.map((e) => e.content.parts[0].text);
    const key = { appName: APP, userId: 'u', sessionId: s.id };
    assert.deepEqual(texts(await svc.getSession({ ...key, config: { numRecentEvents: 2 } })), ['m4', 'm5']);
    assert.deepEqual(texts(await svc.getSession({ ...key, config: { afterTimestamp: t0 + 3000 } })), ['m3', 'm4', 'm5']);
    assert.deepEqual(texts(await svc.getSession({ ...key, config: { afterTimestamp: t0 + 2500, numRecentEvents: 2 } })), ['m4', 'm5']);
    assert.deepEqual(texts(await svc.getSession({ ...key, config: { numRecentEvents: 0 } })).length, 6);
    const g = await svc.getSession({ ...key, config: { numRecentEvents: 1 } });
    assert.equal(g.events[0].timestamp, t0 + 5000);
  });

  test('a stale copy: StaleSessionError, nothing written', async () => {
    const s = await svc.createSession({ appName: APP, userId: 'u' });
    const a = await svc.getSession({ appName: APP, userId: 'u', sessionId: s.id });
    const b = await svc.getSession({ appName: APP, userId: 'u', sessionId: s.id });
    await svc.appendEvent({ session: a, event: userEvent('from a') });
    const err = await svc.appendEvent({ session: b, event: userEvent('from b') }).catch((e) => e);
    assert.ok(err instanceof StaleSessionError, String(err));
    assert.ok(err instanceof VersionConflict);
    assert.equal(err.sqlstate, '40001');
    assert.equal(b.events.length, 0, 'the stale copy is not changed');
    const g = await svc.getSession({ appName: APP, userId: 'u', sessionId: s.id });
    assert.deepEqual(g.events.map((e) => e.content.parts[0].text), ['from a']);
    // the version survives copies made the usual ways
    const copy = { ...g };
    await svc.appendEvent({ session: copy, event: userEvent('from copy') });
    const err2 = await svc.appendEvent({ session: g, event: userEvent('late') }).catch((e) => e);
    assert.ok(err2 instanceof StaleSessionError);
  });

  test('re-appending an event id: replayed once; other content under that id refused', async () => {
    const s = await svc.createSession({ appName: APP, userId: 'u' });
    const e = userEvent('once', { actions: createEventActions({ stateDelta: { c: 1 } }) });
    await svc.appendEvent({ session: s, event: e });
    const copy = await svc.getSession({ appName: APP, userId: 'u', sessionId: s.id });
    await svc.appendEvent({ session: s, event: e });      // a retry after a lost reply
    assert.equal(s.events.length, 1);
    const g = await svc.getSession({ appName: APP, userId: 'u', sessionId: s.id });
    assert.equal(g.events.length, 1);
    assert.equal(sessionVersion(g), 1);
    const changed = { ...e, content: { role: 'user', parts: [{ text: 'twice' }] } };
    const err = await svc.appendEvent({ session: copy, event: changed }).catch((x) => x);
    assert.ok(err instanceof IdempotencyConflict, String(err));
    assert.equal(err.sqlstate, '42710');
  });

  test('listSessions: limit/offset/page, totalItems, keyset continuation', async () => {
    const app = 'adk-list';
    for (let i = 0; i < 12; i++) {
      await svc.createSession({ appName: app, userId: i % 3 === 0 ? 'x' : 'y', sessionId: `L${String(i).padStart(2, '0')}` });
    }
    const all = await svc.listSessions({ appName: app });
    assert.equal(all.totalItems, 12);
    assert.deepEqual([all.page, all.limit, all.totalPages], [1, 12, 1]);
    const newestFirst = all.sessions.map((s) => s.id);
    assert.equal(newestFirst[0], 'L11');
    const p1 = await svc.listSessions({ appName: app, limit: 5 });
    assert.deepEqual([p1.page, p1.limit, p1.totalItems, p1.totalPages], [1, 5, 12, 3]);
    const p2 = await svc.listSessions({ appName: app, limit: 5, offset: 5 });
    const p3 = await svc.listSessions({ appName: app, limit: 5, page: 3 });
    assert.deepEqual([p2.page, p3.page], [2, 3]);
    assert.deepEqual([...p1.sessions, ...p2.sessions, ...p3.sessions].map((s) => s.id), newestFirst);
    // a fresh service has no keyset positions: it walks to the offset
    const cold = new SessionStoreService(pool);
    const c3 = await cold.listSessions({ appName: app, limit: 4, offset: 7 });
    assert.deepEqual(c3.sessions.map((s) => s.id), newestFirst.slice(7, 11));
    const past = await cold.listSessions({ appName: app, limit: 4, page: 9 });
    assert.deepEqual([past.sessions.length, past.totalItems, past.page], [0, 12, 9]);
    const rest = await cold.listSessions({ appName: app, offset: 10 });
    assert.deepEqual(rest.sessions.map((s) => s.id), newestFirst.slice(10));
    const byUser = await svc.listSessions({ appName: app, userId: 'x', limit: 10 });
    assert.deepEqual([byUser.totalItems, byUser.sessions.length], [4, 4]);
    assert.ok(byUser.sessions.every((s) => s.userId === 'x' && s.events.length === 0));
    const none = await svc.listSessions({ appName: 'no-such-app', limit: 3 });
    assert.deepEqual([none.sessions.length, none.totalItems, none.totalPages], [0, 0, 0]);
    const zero = await svc.listSessions({ appName: app, limit: 0 });
    assert.deepEqual([zero.sessions.length, zero.totalItems, zero.totalPages], [0, 12, 0]);
    const desc = await svc.listSessions({ appName: app, order: 'desc' });
    assert.deepEqual(desc.sessions.map((s) => s.id), newestFirst);
  });

  test("listSessions order 'asc': oldest first, limit/offset/page, per user, positions per direction", async () => {
    const app = 'adk-list-asc';
    for (let i = 0; i < 12; i++) {
      await svc.createSession({ appName: app, userId: i % 3 === 0 ? 'x' : 'y', sessionId: `A${String(i).padStart(2, '0')}` });
    }
    const newestFirst = (await svc.listSessions({ appName: app })).sessions.map((s) => s.id);
    const all = await svc.listSessions({ appName: app, order: 'asc' });
    const oldestFirst = all.sessions.map((s) => s.id);
    assert.deepEqual(oldestFirst, [...newestFirst].reverse());
    assert.equal(oldestFirst[0], 'A00');
    assert.deepEqual([all.page, all.limit, all.totalItems, all.totalPages], [1, 12, 12, 1]);
    const p1 = await svc.listSessions({ appName: app, limit: 5, order: 'asc' });
    const p2 = await svc.listSessions({ appName: app, limit: 5, offset: 5, order: 'asc' });
    const p3 = await svc.listSessions({ appName: app, limit: 5, page: 3, order: 'asc' });
    assert.deepEqual([p1.page, p2.page, p3.page, p3.totalItems, p3.totalPages], [1, 2, 3, 12, 3]);
    assert.deepEqual([...p1.sessions, ...p2.sessions, ...p3.sessions].map((s) => s.id), oldestFirst);
    // walked to without a remembered position
    const cold = new SessionStoreService(pool);
    const c = await cold.listSessions({ appName: app, limit: 4, offset: 7, order: 'asc' });
    assert.deepEqual(c.sessions.map((s) => s.id), oldestFirst.slice(7, 11));
    const rest = await cold.listSessions({ appName: app, offset: 10, order: 'asc' });
    assert.deepEqual(rest.sessions.map((s) => s.id), oldestFirst.slice(10));
    const byUser = await svc.listSessions({ appName: app, userId: 'x', limit: 10, order: 'asc' });
    assert.deepEqual(byUser.sessions.map((s) => s.id), ['A00', 'A03', 'A06', 'A09']);
    // each direction continues from its own positions: page 2 of one
    // order after page 1 of the other is the second page of its own order
    const both = new SessionStoreService(pool);
    const d1 = await both.listSessions({ appName: app, limit: 5, page: 1 });
    const a2 = await both.listSessions({ appName: app, limit: 5, page: 2, order: 'asc' });
    const a1 = await both.listSessions({ appName: app, limit: 5, page: 1, order: 'asc' });
    const d2 = await both.listSessions({ appName: app, limit: 5, page: 2, order: 'desc' });
    const a3 = await both.listSessions({ appName: app, limit: 5, page: 3, order: 'asc' });
    assert.deepEqual(d1.sessions.map((s) => s.id), newestFirst.slice(0, 5));
    assert.deepEqual(d2.sessions.map((s) => s.id), newestFirst.slice(5, 10));
    assert.deepEqual(a1.sessions.map((s) => s.id), oldestFirst.slice(0, 5));
    assert.deepEqual(a2.sessions.map((s) => s.id), oldestFirst.slice(5, 10));
    assert.deepEqual(a3.sessions.map((s) => s.id), oldestFirst.slice(10));
    await assert.rejects(svc.listSessions({ appName: app, order: 'newest' }), RangeError);
  });

  test('listSessions with a keyset position: one statement per page', async () => {
    const app = 'adk-list-rt';
    for (let i = 0; i < 9; i++) await svc.createSession({ appName: app, userId: 'u' });
    let n = 0;
    const counting = new SessionStoreService(new SessionStore({ query: (c) => { n++; return pool.query(c); } }));
    for (const order of ['desc', 'asc']) {
      for (let page = 1; page <= 3; page++) {
        n = 0;
        const r = await counting.listSessions({ appName: app, limit: 3, page, order });
        assert.equal(r.sessions.length, 3);
        assert.equal(n, 1, `${order} page ${page} took ${n} statements`);
      }
    }
  });

  test('listSessions counts once per page, not once per row', async () => {
    const app = 'adk-list-count';
    for (let i = 0; i < 10; i++) await svc.createSession({ appName: app, userId: 'u' });
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await c.query("SET LOCAL track_functions = 'all'");
      const inTx = new SessionStoreService(c);
      const r = await inTx.listSessions({ appName: app, limit: 8 });
      assert.equal(r.sessions.length, 8);
      const calls = await c.query(
        "SELECT pg_stat_get_xact_function_calls('session_store.count_sessions'::regproc) AS n");
      assert.equal(Number(calls.rows[0].n), 1);
      await c.query('COMMIT');
    } finally {
      c.release();
    }
  });

  test('listSessions with state is O(page): one listing call, one newest-message probe per listed row', async () => {
    const app = 'adk-list-with-state';
    for (let i = 0; i < 10; i++) {
      const s = await svc.createSession({ appName: app, userId: 'u', state: { i } });
      await svc.appendEvent({ session: s, event: userEvent(`m${i}`) });
    }
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await c.query("SET LOCAL track_functions = 'all'");
      // The counts read in a transaction include calls of earlier, not yet
      // reported transactions of this backend (PostgreSQL 15): compare.
      const counts = async () => Object.fromEntries((await c.query(
        `SELECT p.proname, sum(pg_stat_get_xact_function_calls(p.oid)) AS n
           FROM pg_proc p WHERE p.pronamespace = 'session_store'::regnamespace
            AND p.proname IN ('list_sessions_with_state', 'get_messages')
          GROUP BY p.proname`)).rows.map((x) => [x.proname, Number(x.n ?? 0)]));
      const before = await counts();
      const inTx = new SessionStoreService(c);
      const r = await inTx.listSessions({ appName: app, limit: 3, page: 2 });
      assert.equal(r.sessions.length, 3);
      assert.ok(r.sessions.every((s) => typeof s.state.i === 'number'), 'listed with their state');
      const after = await counts();
      // (page 2 of a fresh service: the position after page 1 is first walked to by list_sessions)
      assert.equal(after.list_sessions_with_state - before.list_sessions_with_state, 1);
      assert.equal(after.get_messages - before.get_messages, 3, 'one probe per listed row, not per session of the app');
      await c.query('COMMIT');
    } finally {
      c.release();
    }
  });

  test('listSessions pages continue where the last one ended, across updates', async () => {
    const app = 'adk-list-moving';
    const own = new SessionStoreService(pool);
    const ss = [];
    for (let i = 0; i < 9; i++) ss.push(await own.createSession({ appName: app, userId: 'u', sessionId: `m${i}` }));
    const p1 = await own.listSessions({ appName: app, limit: 3, page: 1 });
    assert.deepEqual(p1.sessions.map((s) => s.id), ['m8', 'm7', 'm6']);
    // m3 is written to: it moves to the front, which page 1 has passed
    await own.appendEvent({ session: ss[3], event: userEvent('bump') });
    const p2 = await own.listSessions({ appName: app, limit: 3, page: 2 });
    const p3 = await own.listSessions({ appName: app, limit: 3, page: 3 });
    assert.deepEqual(p2.sessions.map((s) => s.id), ['m5', 'm4', 'm2'], 'no row of page 1 again');
    assert.deepEqual(p3.sessions.map((s) => s.id), ['m1', 'm0']);
    // starting over sees the new order
    const again = await own.listSessions({ appName: app, limit: 3, page: 1 });
    assert.deepEqual(again.sessions.map((s) => s.id), ['m3', 'm8', 'm7']);
    const again2 = await own.listSessions({ appName: app, limit: 3, page: 2 });
    assert.deepEqual(again2.sessions.map((s) => s.id), ['m6', 'm5', 'm4']);
  });

  test('getSession on a store whose loadSession gives no latestMessageTime: lastUpdateTime is the create time', async () => {
    // LoadedSession.latestMessageTime is optional: a store wrapped or mocked by the caller may leave it out
    class Wrapped extends SessionStore {
      async loadSession(...a) {
        const { latestMessageTime, ...rest } = await super.loadSession(...a);
        void latestMessageTime;
        return rest;
      }
    }
    const wrapped = new SessionStoreService(new Wrapped(pool));
    const s = await wrapped.createSession({ appName: APP, userId: 'u-no-latest' });
    await wrapped.appendEvent({ session: s, event: userEvent('x', { timestamp: s.lastUpdateTime + 5000 }) });
    const g = await wrapped.getSession({ appName: APP, userId: 'u-no-latest', sessionId: s.id });
    assert.equal(g.events.length, 1);
    const row = await new SessionStore(pool).getSession(APP, 'u-no-latest', s.id);
    assert.equal(g.lastUpdateTime, row.createTime.getTime());
  });

  test('deleteSession', async () => {
    const s = await svc.createSession({ appName: APP, userId: 'd' });
    await svc.appendEvent({ session: s, event: userEvent('x') });
    await svc.deleteSession({ appName: APP, userId: 'd', sessionId: s.id });
    assert.equal(await svc.getSession({ appName: APP, userId: 'd', sessionId: s.id }), undefined);
    await svc.deleteSession({ appName: APP, userId: 'd', sessionId: s.id });
  });

  test('made from a connection string, closed by close()', async () => {
    const own = new SessionStoreService({ connectionString: `postgresql:///${pool.options.database}`,
                                          host: process.env.PGHOST, port: Number(process.env.PGPORT) });
    const s = await own.createSession({ appName: APP, userId: 'cs' });
    assert.ok(s.id);
    await own.close();
  });

  test('close() leaves a SessionStore passed in open for its other users', async () => {
    const shared = new SessionStore({ connectionString: `postgresql:///${pool.options.database}`,
                                      host: process.env.PGHOST, port: Number(process.env.PGPORT) });
    const one = new SessionStoreService(shared);
    const other = new SessionStoreService(shared);
    await one.createSession({ appName: APP, userId: 'shared' });
    await one.close();
    const s = await other.createSession({ appName: APP, userId: 'shared' });
    assert.ok(s.id);
    await shared.close();
  });
});
