// ADK for JavaScript's own session contract, point by point, on
// SessionStoreService: each point that ADK's session tests check (its
// in-memory, database and state-write-order test files, @google/adk 2.0.0)
// is one test here, named after the point.  A point where the adapter does
// otherwise on purpose is a test of what it does, named "divergence: ...",
// that also shows ADK's own behaviour (its InMemorySessionService, or its
// DatabaseSessionService on the same server), so the test fails if either
// side changes; docs/typescript.md lists each with its reason.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  InMemorySessionService, State, createEvent, createEventActions,
} from '@google/adk';
import { DatabaseSessionService } from '@google/adk/sessions/database';
import pg from 'pg';

import { SessionExists, SessionNotFound, SessionStoreService } from '../dist/index.js';
import { connectionString, dropDatabases, freshDatabase } from './databases.mjs';

let pool;
let svc;
let adkDb;     // ADK's DatabaseSessionService, on a database of its own
before(async () => {
  pool = new pg.Pool({ ...(await freshDatabase('adkconf')), max: 4 });
  svc = new SessionStoreService(pool);
  const cfg = await freshDatabase('adkconf_adk');
  adkDb = new DatabaseSessionService(connectionString(cfg));
  await adkDb.init();
});
after(async () => {
  await adkDb?.orm?.close?.(true).catch(() => {});
  await pool.end();
  await dropDatabases();
});

let apps = 0;
/** An app of its own for each test, so that listings see only its sessions. */
const newApp = () => `conf-${++apps}`;
const json = (x) => JSON.parse(JSON.stringify(x));
const ids = (res) => res.sessions.map((s) => s.id);
const delta = (stateDelta, extra = {}) =>
  createEvent({ timestamp: Date.now(), actions: createEventActions({ stateDelta }), ...extra });

/** Sessions s1..sN of one user, with one event each at the given timestamps, appended in that order. */
async function sessionsWithEvents(service, appName, userId, timestamps) {
  const made = [];
  for (const [i, _] of timestamps.entries()) {
    made.push(await service.createSession({ appName, userId, sessionId: `s${i + 1}` }));
  }
  for (const [i, t] of timestamps.entries()) {
    await service.appendEvent({ session: made[i], event: createEvent({ timestamp: t }) });
  }
  return made;
}

describe('createSession', () => {
  test('returns the session with its app, user and state, no events and a lastUpdateTime', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u', state: { key: 'value', foo: 'bar' } });
    assert.equal(typeof s.id, 'string');
    assert.ok(s.id.length > 0);
    assert.equal(s.appName, appName);
    assert.equal(s.userId, 'u');
    assert.deepEqual(s.state, { key: 'value', foo: 'bar' });
    assert.deepEqual(s.events, []);
    assert.equal(typeof s.lastUpdateTime, 'number');
  });

  test('uses the sessionId given', async () => {
    const s = await svc.createSession({ appName: newApp(), userId: 'u', sessionId: 'custom-session-id' });
    assert.equal(s.id, 'custom-session-id');
  });

  test('a new session carries the app: and user: state written before', async () => {
    const appName = newApp();
    const s1 = await svc.createSession({ appName, userId: 'u' });
    await svc.appendEvent({ session: s1, event: delta({ 'app:appKey': 'appValue', 'user:userKey': 'userValue' }) });
    const s2 = await svc.createSession({ appName, userId: 'u' });
    assert.deepEqual(s2.state, { 'app:appKey': 'appValue', 'user:userKey': 'userValue' });
  });

  test('temp: keys of the initial state are not kept', async () => {
    const appName = newApp();
    const s = await svc.createSession({
      appName, userId: 'u', sessionId: 's', state: { normalKey: 'value', [`${State.TEMP_PREFIX}tempKey`]: 'v' },
    });
    assert.deepEqual(s.state, { normalKey: 'value' });
    const g = await svc.getSession({ appName, userId: 'u', sessionId: 's' });
    assert.deepEqual(g.state, { normalKey: 'value' });
  });

  test('app: keys of the initial state reach the sessions of other users of the app', async () => {
    const appName = newApp();
    await svc.createSession({ appName, userId: 'user1', sessionId: 's1', state: { 'app:config': 'dark-mode' } });
    const s2 = await svc.createSession({ appName, userId: 'user2', sessionId: 's2' });
    assert.equal(s2.state['app:config'], 'dark-mode');
    await svc.appendEvent({ session: s2, event: delta({ 'app:config': 'light-mode' }) });
    const s1 = await svc.getSession({ appName, userId: 'user1', sessionId: 's1' });
    assert.equal(s1.state['app:config'], 'light-mode');
  });

  test('user: keys of the initial state reach the user\'s other sessions, not other users\'', async () => {
    const appName = newApp();
    await svc.createSession({ appName, userId: 'user1', sessionId: 's1', state: { 'user:pref': 'A' } });
    const s2 = await svc.createSession({ appName, userId: 'user1', sessionId: 's2' });
    assert.equal(s2.state['user:pref'], 'A');
    await svc.appendEvent({ session: s2, event: delta({ 'user:pref': 'B' }) });
    const s1 = await svc.getSession({ appName, userId: 'user1', sessionId: 's1' });
    assert.equal(s1.state['user:pref'], 'B');
    const s3 = await svc.createSession({ appName, userId: 'user2', sessionId: 's3' });
    assert.equal(s3.state['user:pref'], undefined);
  });

  test('an existing session id fails with ADK\'s own error text', async () => {
    const appName = newApp();
    await svc.createSession({ appName, userId: 'u1', sessionId: 's1' });
    const err = await svc.createSession({ appName, userId: 'u1', sessionId: 's1' }).catch((e) => e);
    await adkDb.createSession({ appName, userId: 'u1', sessionId: 's1' });
    const adkErr = await adkDb.createSession({ appName, userId: 'u1', sessionId: 's1' }).catch((e) => e);
    assert.ok(adkErr instanceof Error);
    assert.equal(err.message, adkErr.message);
    assert.equal(err.message, 'Session with id s1 already exists.');
    assert.ok(err instanceof SessionExists, 'and the client\'s own class, for code that catches it');
    assert.equal(err.sqlstate, '23505');
  });

  test('lastUpdateTime of a new session is its create time', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u', sessionId: 's' });
    const row = await svc.store.getSession(appName, 'u', 's');
    assert.equal(s.lastUpdateTime, row.createTime.getTime());
  });
});

describe('getSession', () => {
  test('a session that does not exist is undefined', async () => {
    assert.equal(await svc.getSession({ appName: newApp(), userId: 'u', sessionId: 'non-existent' }), undefined);
  });

  test('returns an existing session with its state', async () => {
    const appName = newApp();
    const made = await svc.createSession({ appName, userId: 'u', state: { key: 'value' } });
    const s = await svc.getSession({ appName, userId: 'u', sessionId: made.id });
    assert.equal(s.id, made.id);
    assert.equal(s.appName, appName);
    assert.equal(s.userId, 'u');
    assert.deepEqual(s.state, { key: 'value' });
  });

  test('numRecentEvents: the last N events, oldest first', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u' });
    for (let i = 0; i < 5; i++) await svc.appendEvent({ session: s, event: createEvent({ timestamp: i }) });
    const g = await svc.getSession({ appName, userId: 'u', sessionId: s.id, config: { numRecentEvents: 2 } });
    assert.deepEqual(g.events.map((e) => e.timestamp), [3, 4]);
  });

  test('afterTimestamp between events: the events after it', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u' });
    for (let i = 0; i < 5; i++) await svc.appendEvent({ session: s, event: createEvent({ timestamp: i * 1000 }) });
    const g = await svc.getSession({ appName, userId: 'u', sessionId: s.id, config: { afterTimestamp: 2500 } });
    assert.deepEqual(g.events.map((e) => e.timestamp), [3000, 4000]);
  });

  test('divergence: afterTimestamp is inclusive (an event at the bound is returned)', async () => {
    // ADK's DatabaseSessionService: timestamp > bound; its InMemorySessionService
    // and ADK-Python: timestamp >= bound, as here.
    const now = Date.now();
    const run = async (service) => {
      const appName = newApp();
      const s = await service.createSession({ appName, userId: 'u', sessionId: 's1' });
      const events = [createEvent({ timestamp: now - 1000 }), createEvent({ timestamp: now }),
                      createEvent({ timestamp: now + 1000 })];
      for (const event of events) await service.appendEvent({ session: s, event });
      const key = { appName, userId: 'u', sessionId: 's1' };
      const recent = await service.getSession({ ...key, config: { numRecentEvents: 2 } });
      assert.deepEqual(recent.events.map((e) => e.id), [events[1].id, events[2].id]);
      const before = await service.getSession({ ...key, config: { afterTimestamp: now - 100 } });
      assert.deepEqual(before.events.map((e) => e.id), [events[1].id, events[2].id]);
      const at = await service.getSession({ ...key, config: { afterTimestamp: now } });
      return at.events.map((e) => e.timestamp);
    };
    assert.deepEqual(await run(svc), [now, now + 1000]);
    assert.deepEqual(await run(new InMemorySessionService()), [now, now + 1000]);
    assert.deepEqual(await run(adkDb), [now + 1000], 'ADK\'s database service: exclusive');
  });

  test('sub-second event timestamps are kept, in order, and afterTimestamp between them', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u', sessionId: 'precision' });
    const second = Math.floor(Date.now() / 1000) * 1000;
    const timestamps = [second + 200, second + 400, second + 600];
    for (const [i, timestamp] of timestamps.entries()) {
      await svc.appendEvent({ session: s, event: createEvent({ invocationId: `inv-${i}`, timestamp }) });
    }
    const key = { appName, userId: 'u', sessionId: 'precision' };
    assert.deepEqual((await svc.getSession(key)).events.map((e) => e.timestamp), timestamps);
    const after = await svc.getSession({ ...key, config: { afterTimestamp: second + 300 } });
    assert.deepEqual(after.events.map((e) => e.timestamp), timestamps.slice(1));
  });

  test('state merges the app: state written since the session was made', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u' });
    await svc.appendEvent({ session: s, event: delta({ 'app:key': 'newValue' }) });
    const g = await svc.getSession({ appName, userId: 'u', sessionId: s.id });
    assert.deepEqual(g.state, { 'app:key': 'newValue' });
  });

  test('lastUpdateTime is the last appended event\'s timestamp, whatever the window', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u', sessionId: 's' });
    const t = Date.now() + 60_000;        // not the server's clock
    await svc.appendEvent({ session: s, event: createEvent({ timestamp: t - 5000 }) });
    await svc.appendEvent({ session: s, event: createEvent({ timestamp: t }) });
    const key = { appName, userId: 'u', sessionId: 's' };
    for (const config of [undefined, { numRecentEvents: 1 }, { afterTimestamp: t + 1 }, { afterTimestamp: t - 5000 }]) {
      const g = await svc.getSession({ ...key, config });
      assert.equal(g.lastUpdateTime, t, JSON.stringify(config));
    }
  });

  test('lastUpdateTime of a session without events is its create time', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u', sessionId: 's' });
    const g = await svc.getSession({ appName, userId: 'u', sessionId: 's' });
    assert.equal(g.lastUpdateTime, s.lastUpdateTime);
  });
});

describe('listSessions', () => {
  test('no sessions: an empty list, page 1, limit 0, totals 0', async () => {
    const res = await svc.listSessions({ appName: newApp(), userId: 'u' });
    assert.deepEqual(res, { sessions: [], page: 1, limit: 0, totalItems: 0, totalPages: 0 });
  });

  test('lists the user\'s sessions, without events', async () => {
    const appName = newApp();
    await svc.createSession({ appName, userId: 'u', sessionId: 's1' });
    await svc.createSession({ appName, userId: 'u', sessionId: 's2' });
    const res = await svc.listSessions({ appName, userId: 'u' });
    assert.deepEqual(ids(res).sort(), ['s1', 's2']);
    for (const s of res.sessions) assert.deepEqual(s.events, []);
  });

  test('userId filters the sessions listed, and sessions of other apps are not listed', async () => {
    const [app1, app2] = [newApp(), newApp()];
    await svc.createSession({ appName: app1, userId: 'u1', sessionId: 's1' });
    await svc.createSession({ appName: app1, userId: 'u2', sessionId: 's2' });
    await svc.createSession({ appName: app2, userId: 'u1', sessionId: 's3' });
    assert.deepEqual(ids(await svc.listSessions({ appName: app1, userId: 'u1' })), ['s1']);
    assert.deepEqual(ids(await svc.listSessions({ appName: app1 })).sort(), ['s1', 's2']);
  });

  test('each listed session\'s state is filled, merged as getSession merges it', async () => {
    const appName = newApp();
    const a = await svc.createSession({ appName, userId: 'u1', sessionId: 's1', state: { k: 1, 'user:lang': 'fr' } });
    await svc.appendEvent({ session: a, event: delta({ 'app:theme': 'dark', k: 2 }) });
    await svc.createSession({ appName, userId: 'u2', sessionId: 's2', state: { other: true } });
    for (const req of [{ appName }, { appName, userId: 'u1' }, { appName, limit: 1 }, { appName, limit: 1, page: 2 }]) {
      const res = await svc.listSessions(req);
      assert.ok(res.sessions.length > 0);
      for (const s of res.sessions) {
        const g = await svc.getSession({ appName, userId: s.userId, sessionId: s.id });
        assert.deepEqual(s.state, g.state, `${JSON.stringify(req)}: ${s.id}`);
      }
    }
    const all = await svc.listSessions({ appName });
    const byId = Object.fromEntries(all.sessions.map((s) => [s.id, s.state]));
    assert.deepEqual(byId, {
      s1: { k: 2, 'user:lang': 'fr', 'app:theme': 'dark' },
      s2: { other: true, 'app:theme': 'dark' },
    });
  });

  test('a listed session\'s lastUpdateTime is getSession\'s', async () => {
    const appName = newApp();
    const t = Date.now() + 60_000;
    await sessionsWithEvents(svc, appName, 'u', [t, t - 1000]);
    await svc.createSession({ appName, userId: 'u', sessionId: 'empty' });
    for (const req of [{ appName }, { appName, limit: 2 }, { appName, limit: 2, page: 2 }]) {
      for (const s of (await svc.listSessions(req)).sessions) {
        const g = await svc.getSession({ appName, userId: 'u', sessionId: s.id });
        assert.equal(s.lastUpdateTime, g.lastUpdateTime, `${JSON.stringify(req)}: ${s.id}`);
      }
    }
  });

  test('a limit on an empty result: page 1, that limit, totals 0', async () => {
    const res = await svc.listSessions({ appName: newApp(), userId: 'u', limit: 10 });
    assert.deepEqual(res, { sessions: [], page: 1, limit: 10, totalItems: 0, totalPages: 0 });
  });

  test('no pagination parameters: every session, page 1, limit and totalItems the count, totalPages 1', async () => {
    const appName = newApp();
    await svc.createSession({ appName, userId: 'u' });
    await svc.createSession({ appName, userId: 'u' });
    const res = await svc.listSessions({ appName, userId: 'u' });
    assert.equal(res.sessions.length, 2);
    assert.deepEqual([res.page, res.limit, res.totalItems, res.totalPages], [1, 2, 2, 1]);
  });

  test('limit: N sessions, totalItems and totalPages of all', async () => {
    const appName = newApp();
    for (let i = 1; i <= 5; i++) await svc.createSession({ appName, userId: 'u', sessionId: `s${i}` });
    const res = await svc.listSessions({ appName, userId: 'u', limit: 3, order: 'asc' });
    assert.equal(res.sessions.length, 3);
    assert.deepEqual([res.limit, res.totalItems, res.totalPages], [3, 5, 2]);
  });

  test('offset skips N sessions', async () => {
    const appName = newApp();
    await sessionsWithEvents(svc, appName, 'u', [1000, 2000, 3000, 4000]);
    assert.deepEqual(ids(await svc.listSessions({ appName, userId: 'u', limit: 2, offset: 1, order: 'asc' })), ['s2', 's3']);
    assert.deepEqual(ids(await svc.listSessions({ appName, userId: 'u', limit: 2, offset: 2, order: 'asc' })), ['s3', 's4']);
  });

  test('page and limit: that page\'s slice, with page, limit and totals', async () => {
    const appName = newApp();
    await sessionsWithEvents(svc, appName, 'u', [1000, 2000, 3000, 4000, 5000]);
    const res = await svc.listSessions({ appName, userId: 'u', page: 2, limit: 2, order: 'asc' });
    assert.deepEqual(ids(res), ['s3', 's4']);
    assert.deepEqual([res.page, res.limit, res.totalItems, res.totalPages], [2, 2, 5, 3]);
  });

  test('page takes precedence over offset', async () => {
    const appName = newApp();
    await sessionsWithEvents(svc, appName, 'u', [1000, 2000, 3000, 4000, 5000]);
    const res = await svc.listSessions({ appName, userId: 'u', page: 2, limit: 2, offset: 0, order: 'asc' });
    assert.deepEqual(ids(res), ['s3', 's4']);
    assert.equal(res.page, 2);
  });

  test('an offset beyond the total: no sessions, the totals of all', async () => {
    const appName = newApp();
    await svc.createSession({ appName, userId: 'u', sessionId: 's1' });
    const res = await svc.listSessions({ appName, userId: 'u', limit: 2, offset: 10 });
    assert.deepEqual(res.sessions, []);
    assert.deepEqual([res.totalItems, res.totalPages], [1, 1]);
  });

  test('limit 0: no sessions, totalPages 0', async () => {
    const appName = newApp();
    await svc.createSession({ appName, userId: 'u', sessionId: 's1' });
    const res = await svc.listSessions({ appName, userId: 'u', limit: 0 });
    assert.deepEqual(res.sessions, []);
    assert.deepEqual([res.totalItems, res.totalPages], [1, 0]);
  });

  // Listing order.  ADK orders by lastUpdateTime, the last event's timestamp,
  // a client's clock; the adapter lists in the server's order (the time each
  // session was last written, by the server's clock), which is the order of
  // the writes whatever clocks the writers have.  Each test appends events
  // whose timestamps disagree with the order they were appended in.

  test('divergence: order asc lists the least recently written first, not the oldest last event', async () => {
    const timestamps = [3000, 1000, 2000];
    assert.deepEqual(ids(await listAfter(svc, timestamps, { order: 'asc' })), ['s1', 's2', 's3']);
    assert.deepEqual(ids(await listAfter(new InMemorySessionService(), timestamps, { order: 'asc' })), ['s2', 's3', 's1']);
  });

  test('divergence: order desc lists the most recently written first, not the newest last event', async () => {
    const timestamps = [1000, 3000, 2000];
    assert.deepEqual(ids(await listAfter(svc, timestamps, { order: 'desc' })), ['s3', 's2', 's1']);
    assert.deepEqual(ids(await listAfter(new InMemorySessionService(), timestamps, { order: 'desc' })), ['s2', 's3', 's1']);
  });

  test('divergence: sessions whose last events have one timestamp are listed in the order written, not by id', async () => {
    const timestamps = [1000, 1000];
    assert.deepEqual(ids(await listAfter(svc, timestamps, { order: 'asc' })), ['s1', 's2']);
    assert.deepEqual(ids(await listAfter(svc, timestamps, { order: 'desc' })), ['s2', 's1']);
    const mem = new InMemorySessionService();
    assert.deepEqual(ids(await listAfter(mem, timestamps, { order: 'desc' })), ['s1', 's2']);
  });

  test('divergence: order without limit: every session in the server\'s order, page 1', async () => {
    const timestamps = [2000, 1000];
    const res = await listAfter(svc, timestamps, { order: 'desc' });
    assert.deepEqual(ids(res), ['s2', 's1']);
    assert.deepEqual([res.page, res.limit, res.totalItems, res.totalPages], [1, 2, 2, 1]);
    assert.deepEqual(ids(await listAfter(new InMemorySessionService(), timestamps, { order: 'desc' })), ['s1', 's2']);
  });
});

/** listSessions of a new app whose sessions s1..sN got one event each, at these timestamps, in that order. */
async function listAfter(service, timestamps, req) {
  const appName = newApp();
  await sessionsWithEvents(service, appName, 'u', timestamps);
  return service.listSessions({ appName, userId: 'u', ...req });
}

describe('deleteSession', () => {
  test('a deleted session is gone', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u' });
    await svc.deleteSession({ appName, userId: 'u', sessionId: s.id });
    assert.equal(await svc.getSession({ appName, userId: 'u', sessionId: s.id }), undefined);
    assert.deepEqual(ids(await svc.listSessions({ appName, userId: 'u' })), []);
  });

  test('deleting a session that does not exist does not throw', async () => {
    await svc.deleteSession({ appName: newApp(), userId: 'u', sessionId: 'non-existent' });
  });
});

describe('appendEvent', () => {
  test('the event is stored as given and lastUpdateTime becomes its timestamp', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u' });
    const timestamp = Date.now() + 1000;
    const event = createEvent({ timestamp, author: 'user', content: { role: 'user', parts: [{ text: 'hi' }] } });
    assert.equal(await svc.appendEvent({ session: s, event }), event);
    assert.equal(s.lastUpdateTime, timestamp);
    const g = await svc.getSession({ appName, userId: 'u', sessionId: s.id });
    assert.equal(g.events.length, 1);
    assert.deepEqual(json(g.events[0]), json(event));
    assert.equal(g.lastUpdateTime, timestamp);
  });

  test('a state delta updates the session copy and the stored session', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u', sessionId: 's1', state: { count: 0 } });
    await svc.appendEvent({ session: s, event: delta({ count: 1, 'app:global': 'value' }) });
    assert.equal(s.state.count, 1);
    assert.equal(s.state['app:global'], 'value');
    const g = await svc.getSession({ appName, userId: 'u', sessionId: 's1' });
    assert.equal(g.state.count, 1);
    assert.equal(g.state['app:global'], 'value');
    assert.equal(g.events.length, 1);
  });

  test('app: state reaches a new session of the app', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u' });
    await svc.appendEvent({ session: s, event: delta({ 'app:key': 'value' }) });
    assert.equal((await svc.createSession({ appName, userId: 'other' })).state['app:key'], 'value');
  });

  test('user: state reaches a new session of the user', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u' });
    await svc.appendEvent({ session: s, event: delta({ 'user:key': 'value' }) });
    assert.equal((await svc.createSession({ appName, userId: 'u' })).state['user:key'], 'value');
  });

  test('temp: keys are trimmed from the stored event', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u', sessionId: 's-temp' });
    await svc.appendEvent({ session: s, event: delta({ keep: 'me', [`${State.TEMP_PREFIX}hide`]: 'me' }) });
    const g = await svc.getSession({ appName, userId: 'u', sessionId: 's-temp' });
    assert.deepEqual(json(g.events[0].actions.stateDelta), { keep: 'me' });
    assert.equal(g.state[`${State.TEMP_PREFIX}hide`], undefined);
  });

  test('divergence: a session that does not exist fails as in ADK\'s database service, not with a logged warning', async () => {
    // ADK's InMemorySessionService logs a warning and returns the event.
    const appName = newApp();
    const ghost = await svc.createSession({ appName, userId: 'u1', sessionId: 'temp' });
    ghost.id = 'missing';
    const err = await svc.appendEvent({ session: ghost, event: createEvent() }).catch((e) => e);
    assert.ok(err instanceof SessionNotFound, String(err));
    const adkGhost = await adkDb.createSession({ appName, userId: 'u1', sessionId: 'temp' });
    adkGhost.id = 'missing';
    const adkErr = await adkDb.appendEvent({ session: adkGhost, event: createEvent() }).catch((e) => e);
    assert.equal(err.message, adkErr.message);
    assert.equal(err.message, 'Session missing not found for appendEvent');
    const mem = new InMemorySessionService();
    const event = createEvent({ timestamp: Date.now() });
    const fake = { id: 'fake-session', appName: 'fake-app', userId: 'fake-user', state: {}, events: [], lastUpdateTime: 0 };
    assert.equal(await mem.appendEvent({ session: fake, event }), event);
  });

  test('divergence: the stored session\'s update time is the server\'s clock; lastUpdateTime is the event\'s timestamp', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u', sessionId: 's-time' });
    const timestamp = 1234567890000;
    await svc.appendEvent({ session: s, event: createEvent({ timestamp }) });
    assert.equal(s.lastUpdateTime, timestamp);
    assert.equal((await svc.getSession({ appName, userId: 'u', sessionId: 's-time' })).lastUpdateTime, timestamp);
    const row = await svc.store.getSession(appName, 'u', 's-time');
    assert.ok(row.updateTime.getTime() > timestamp, 'the server\'s update time, not the event\'s');
  });

  test('a stale sibling delta does not roll the session copy back', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u' });
    const earlyDelta = {};
    new State(s.state, earlyDelta).set('key', 'early');
    const lateDelta = {};
    new State(s.state, lateDelta).set('key', 'late');
    await svc.appendEvent({ session: s, event: createEvent({ actions: createEventActions({ stateDelta: earlyDelta }) }) });
    assert.equal(s.state.key, 'late');
    await svc.appendEvent({ session: s, event: createEvent({ actions: createEventActions({ stateDelta: lateDelta }) }) });
    assert.equal(s.state.key, 'late');
    assert.equal((await svc.getSession({ appName, userId: 'u', sessionId: s.id })).state.key, 'late');
  });
});

describe('names and keys that are Object.prototype\'s', () => {
  const parseBody = (text) => JSON.parse(text);
  const planted = ['polluted', 'httpOptions', 'pwned', 'baseUrl', 'poc_sid', 'isAdmin', 'u1', 's1'];
  const clean = () => { for (const k of planted) delete Object.prototype[k]; };
  const assertClean = () => { for (const k of planted) assert.equal({}[k], undefined, k); };
  let n = 0;
  const uniq = (s) => `${s}-${++n}`;

  test('an appName __proto__ pollutes nothing', async () => {
    clean();
    await svc.createSession({ appName: '__proto__', userId: 'polluted', sessionId: uniq('poc_sid'), state: {} });
    assertClean();
  });

  test('a userId __proto__ with user: state pollutes nothing', async () => {
    clean();
    const s = await svc.createSession({ appName: newApp(), userId: '__proto__', sessionId: 's1', state: {} });
    await svc.appendEvent({ session: s, event: delta({ 'user:httpOptions': { baseUrl: 'https://evil.test' } }) });
    assertClean();
  });

  test('an appName __proto__ with app: state pollutes nothing', async () => {
    clean();
    const s = await svc.createSession({ appName: '__proto__', userId: 'u1', sessionId: uniq('s1'), state: {} });
    await svc.appendEvent({ session: s, event: delta({ 'app:pwned': 'attacker-value' }) });
    assertClean();
  });

  test('a user:__proto__ key is an own property of the user\'s other sessions', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u1', sessionId: 's1', state: {} });
    await svc.appendEvent({ session: s, event: delta({ 'user:__proto__': { baseUrl: 'https://evil.test' } }) });
    const sibling = await svc.createSession({ appName, userId: 'u1', sessionId: 's2' });
    assert.ok(Object.hasOwn(sibling.state, 'user:__proto__'));
    assert.deepEqual(sibling.state['user:__proto__'], { baseUrl: 'https://evil.test' });
  });

  test('a __proto__ key of the initial state is an own key, not the state\'s prototype', async () => {
    const s = await svc.createSession({
      appName: newApp(), userId: 'u1', sessionId: 's1', state: parseBody('{"__proto__": {"isAdmin": true}}'),
    });
    assert.equal(new State(s.state).get('isAdmin'), undefined);
    assert.ok(Object.hasOwn(s.state, '__proto__'));
    assert.deepEqual(s.state['__proto__'], { isAdmin: true });
  });

  test('a __proto__ key of a state delta is stored as an own key, not the state\'s prototype', async () => {
    const appName = newApp();
    const s = await svc.createSession({ appName, userId: 'u1', sessionId: 's1' });
    await svc.appendEvent({ session: s, event: delta(parseBody('{"__proto__": {"isAdmin": true}}')) });
    const g = await svc.getSession({ appName, userId: 'u1', sessionId: 's1' });
    assert.equal(new State(g.state).get('isAdmin'), undefined);
    assert.ok(Object.hasOwn(g.state, '__proto__'));
    assert.deepEqual(g.state['__proto__'], { isAdmin: true });
  });

  test('no phantom sessions from an app named __proto__', async () => {
    await svc.createSession({ appName: '__proto__', userId: 'polluted', sessionId: uniq('poc_sid'), state: {} });
    assert.equal((await svc.listSessions({ appName: 'polluted', userId: 'polluted' })).sessions.length, 0);
    const appName = newApp();
    await svc.createSession({ appName, userId: 'alice', sessionId: 's1' });
    assert.equal((await svc.listSessions({ appName, userId: 'polluted' })).sessions.length, 0);
  });

  test('an app named __proto__ is stored and read back', async () => {
    const sessionId = uniq('poc_sid');
    await svc.createSession({ appName: '__proto__', userId: 'polluted', sessionId, state: {} });
    const s = await svc.getSession({ appName: '__proto__', userId: 'polluted', sessionId });
    assert.equal(s.id, sessionId);
  });
});

describe('ADK\'s own class', () => {
  test('divergence: no ADK schema-version table (read through service.orm); the schema is the extension, edition() names its version', async () => {
    assert.equal(svc.orm, undefined);
    const rows = await svc.store.query('SELECT version FROM session_store.edition()');
    assert.match(rows[0].version, /^\d+\.\d+$/);
  });
});
