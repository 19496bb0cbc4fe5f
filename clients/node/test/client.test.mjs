// SessionStore: every method against the real extension, errors by SQLSTATE.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';

import {
  IdempotencyConflict, InvalidArgument, SerializationFailure, SessionExists, SessionNotFound,
  SessionStore, SessionStoreError, SuffixMismatch, VersionConflict, translateError,
} from '../dist/index.js';
import { dropDatabases, freshDatabase } from './databases.mjs';

let pool;
let store;
const APP = 'client-app';

before(async () => {
  pool = new pg.Pool({ ...(await freshDatabase('client')), max: 4 });
  store = new SessionStore(pool);
});
after(async () => {
  await pool.end();
  await dropDatabases();
});

describe('sessions', () => {
  test('create, get, delete', async () => {
    const s = await store.createSession(APP, 'u1', { state: { a: 1, 'app:x': 'X', 'user:y': 'Y', 'temp:t': 1 } });
    assert.match(s.sessionId, /^[0-9a-f-]{36}$/);
    assert.equal(s.version, 0);
    assert.equal(s.lastSeq, 0);
    assert.ok(s.createTime instanceof Date);
    assert.deepEqual(s.state, { a: 1, 'app:x': 'X', 'user:y': 'Y' });
    const g = await store.getSession(APP, 'u1', s.sessionId);
    assert.deepEqual(g, s);
    assert.equal(await store.getSession(APP, 'u1', 'nope'), undefined);
    assert.deepEqual(await store.getAppState(APP), { x: 'X' });
    assert.deepEqual(await store.getUserState(APP, 'u1'), { y: 'Y' });
    assert.equal(await store.deleteSession(APP, 'u1', s.sessionId), true);
    assert.equal(await store.deleteSession(APP, 'u1', s.sessionId), false);
  });

  test('explicit id twice: SessionExists with the server diagnostics', async () => {
    await store.createSession(APP, 'u1', { sessionId: 'dup' });
    const err = await store.createSession(APP, 'u1', { sessionId: 'dup' }).catch((e) => e);
    assert.ok(err instanceof SessionExists);
    assert.ok(err instanceof SessionStoreError);
    assert.equal(err.sqlstate, '23505');
    assert.equal(err.name, 'SessionExists');
    assert.match(err.message, /dup/);
  });

  test('a missing session: SessionNotFound (42704)', async () => {
    const err = await store.appendMessages(APP, 'u1', 'missing', [{ a: 1 }]).catch((e) => e);
    assert.ok(err instanceof SessionNotFound);
    assert.equal(err.sqlstate, '42704');
    assert.ok(err.detail, 'the server sends a detail');
  });

  test('bad arguments: InvalidArgument (22xxx)', async () => {
    const err = await store.appendMessages(APP, 'u1', 'x', [1, 2]).catch((e) => e);
    assert.ok(err instanceof InvalidArgument, String(err));
    assert.match(err.sqlstate, /^22/);
    const e2 = await store.createSession(APP, '').catch((e) => e);
    assert.ok(e2 instanceof InvalidArgument);
  });

  test('list pages: keyset, newest first, async iterator covers every session once', async () => {
    const user = 'lister';
    const ids = [];
    for (let i = 0; i < 23; i++) {
      const s = await store.createSession(APP, user, { sessionId: `s${String(i).padStart(2, '0')}` });
      ids.push(s.sessionId);
    }
    const first = await store.listSessions(APP, { userId: user, pageSize: 5 });
    assert.equal(first.length, 5);
    assert.equal(first[0].sessionId, 's22');
    const second = await store.listSessions(APP, { userId: user, pageSize: 5, pageToken: first[4].nextPageToken });
    assert.equal(second[0].sessionId, 's17');
    const pages = [];
    for await (const p of store.listSessionPages(APP, { userId: user, pageSize: 5 })) pages.push(p);
    assert.deepEqual(pages.map((p) => p.length), [5, 5, 5, 5, 3]);
    assert.deepEqual(pages.flat().map((s) => s.sessionId), [...ids].reverse());
    // exactly a multiple of the page size: no empty page is yielded
    const seen = [];
    for await (const p of store.listSessionPages(APP, { userId: user, pageSize: 23 })) seen.push(p.length);
    assert.deepEqual(seen, [23]);
    // ascending: oldest first, its tokens continue its own order only
    const up = await store.listSessions(APP, { userId: user, pageSize: 5, ascending: true });
    assert.deepEqual(up.map((s) => s.sessionId), ids.slice(0, 5));
    const up2 = await store.listSessions(APP, { userId: user, pageSize: 5, pageToken: up[4].nextPageToken,
                                                ascending: true });
    assert.deepEqual(up2.map((s) => s.sessionId), ids.slice(5, 10));
    const wrong = await store.listSessions(APP, { userId: user, pageToken: up[4].nextPageToken }).catch((e) => e);
    assert.ok(wrong instanceof InvalidArgument, String(wrong));
    assert.equal(wrong.sqlstate, '22023');
    const upPages = [];
    for await (const p of store.listSessionPages(APP, { userId: user, pageSize: 5, ascending: true })) upPages.push(p);
    assert.deepEqual(upPages.flat().map((s) => s.sessionId), ids);
  });

  test('listSessionsWithState fills each listed state as getSession merges it', async () => {
    const app = 'client-with-state';
    await store.createSession(app, 'u1', { sessionId: 'a',
      state: { k: 1, 'user:lang': 'fr', 'app:motd': 'hi', 'temp:t': 1 } });
    await store.createSession(app, 'u2', { sessionId: 'b', state: { n: null }, keepNulls: true });
    await store.createSession(app, 'u1', { sessionId: 'c' });
    const page = await store.listSessionsWithState(app);
    assert.deepEqual(page.map((s) => [s.userId, s.sessionId]), [['u1', 'c'], ['u2', 'b'], ['u1', 'a']]);
    assert.deepEqual(Object.fromEntries(page.map((s) => [s.sessionId, s.state])), {
      a: { k: 1, 'user:lang': 'fr', 'app:motd': 'hi' },
      b: { n: null, 'app:motd': 'hi' },
      c: { 'user:lang': 'fr', 'app:motd': 'hi' },
    });
    for (const s of page) {
      const g = await store.getSession(app, s.userId, s.sessionId);
      assert.deepEqual(s.state, g.state);
      assert.equal(s.version, g.version);
      assert.ok(s.createTime instanceof Date && s.updateTime instanceof Date);
    }
    // the same rows, order and tokens as listSessions; tokens interchangeable
    const plain = await store.listSessions(app, { pageSize: 2 });
    const withState = await store.listSessionsWithState(app, { pageSize: 2 });
    assert.deepEqual(withState.map(({ state, ...rest }) => rest), plain);
    const rest = await store.listSessionsWithState(app, { pageSize: 2, pageToken: plain[1].nextPageToken });
    assert.deepEqual(rest.map((s) => s.sessionId), ['a']);
    // one user, ascending
    const mine = await store.listSessionsWithState(app, { userId: 'u1', ascending: true });
    assert.deepEqual(mine.map((s) => [s.sessionId, s.state]),
      [['a', { k: 1, 'user:lang': 'fr', 'app:motd': 'hi' }], ['c', { 'user:lang': 'fr', 'app:motd': 'hi' }]]);
    assert.deepEqual(await store.listSessionsWithState(`${app}-none`), []);
    // list_sessions' checks and errors
    const bad = await store.listSessionsWithState(app, { pageSize: 0 }).catch((e) => e);
    assert.ok(bad instanceof InvalidArgument, String(bad));
    assert.equal(bad.sqlstate, '22023');
    const wrong = await store.listSessionsWithState(app, { pageToken: mine[0].nextPageToken }).catch((e) => e);
    assert.ok(wrong instanceof InvalidArgument, String(wrong));
  });
});

describe('messages', () => {
  test('append, get windows, version, idempotent replay', async () => {
    const s = await store.createSession(APP, 'm');
    const r1 = await store.appendMessages(APP, 'm', s.sessionId, [{ n: 1 }, { n: 2 }], { stateDelta: { k: 'v' } });
    assert.deepEqual([r1.firstSeq, r1.lastSeq, r1.version, r1.replayed], [1, 2, 1, false]);
    assert.ok(r1.updateTime instanceof Date);
    const r2 = await store.appendMessages(APP, 'm', s.sessionId, [{ n: 3 }], { idempotencyKey: 'k1', expectedVersion: 1 });
    assert.deepEqual([r2.firstSeq, r2.lastSeq, r2.version], [3, 3, 2]);
    const again = await store.appendMessages(APP, 'm', s.sessionId, [{ n: 3 }], { idempotencyKey: 'k1', expectedVersion: 1 });
    assert.deepEqual(again, { ...r2, replayed: true });
    const empty = await store.appendMessages(APP, 'm', s.sessionId, []);
    assert.deepEqual([empty.firstSeq, empty.lastSeq, empty.version], [null, null, 3]);
    const all = await store.getMessages(APP, 'm', s.sessionId);
    assert.deepEqual(all.map((m) => [m.seq, m.message.n]), [[1, 1], [2, 2], [3, 3]]);
    assert.ok(all[0].createTime instanceof Date);
    assert.deepEqual((await store.getMessages(APP, 'm', s.sessionId, { maxCount: 2 })).map((m) => m.seq), [2, 3]);
    assert.deepEqual((await store.getMessages(APP, 'm', s.sessionId, { afterSeq: 1, beforeSeq: 3 })).map((m) => m.seq), [2]);
    const row = await store.getSession(APP, 'm', s.sessionId);
    assert.deepEqual([row.version, row.lastSeq, row.state.k], [3, 3, 'v']);
  });

  test('expected_version mismatch: VersionConflict (40001), nothing written', async () => {
    const s = await store.createSession(APP, 'm');
    await store.appendMessages(APP, 'm', s.sessionId, [{ a: 1 }]);
    const err = await store.appendMessages(APP, 'm', s.sessionId, [{ a: 2 }], { expectedVersion: 0 }).catch((e) => e);
    assert.ok(err instanceof VersionConflict, String(err));
    assert.ok(!(err instanceof SuffixMismatch));
    assert.equal(err.sqlstate, '40001');
    assert.equal((await store.getMessages(APP, 'm', s.sessionId)).length, 1);
  });

  test('pop, rewind, clear, fork keep numbers unique', async () => {
    const s = await store.createSession(APP, 'p');
    await store.appendMessages(APP, 'p', s.sessionId, [{ i: 1 }, { i: 2 }, { i: 3 }, { i: 4 }]);
    const popped = await store.popMessage(APP, 'p', s.sessionId);
    assert.deepEqual([popped.seq, popped.message], [4, { i: 4 }]);
    assert.equal(await store.rewindSession(APP, 'p', s.sessionId, 2), 1);
    const f = await store.forkSession(APP, 'p', s.sessionId, { newSessionId: 'fork', upToSeq: 1 });
    assert.equal(f.sessionId, 'fork');
    assert.deepEqual((await store.getMessages(APP, 'p', 'fork')).map((m) => m.seq), [1]);
    assert.equal(await store.clearSession(APP, 'p', s.sessionId), 2);
    assert.equal(await store.popMessage(APP, 'p', s.sessionId), undefined);
    const r = await store.appendMessages(APP, 'p', s.sessionId, [{ i: 5 }]);
    assert.equal(r.firstSeq, 5);
  });

  test('expire_sessions', async () => {
    const s = await store.createSession('expire-app', 'e');
    assert.equal(await store.expireSessions('1 hour', { appName: 'expire-app' }), 0);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await store.expireSessions(0.01, { appName: 'expire-app' }), 1);
    assert.equal(await store.getSession('expire-app', 'e', s.sessionId), undefined);
  });

  test('a pg.Client and a pooled client work as well as a pool', async () => {
    const c = new pg.Client(pool.options);
    await c.connect();
    try {
      const st = new SessionStore(c);
      const s = await st.createSession(APP, 'c');
      assert.equal((await st.appendMessages(APP, 'c', s.sessionId, [{}])).lastSeq, 1);
    } finally {
      await c.end();
    }
    const pc = await pool.connect();
    try {
      // inside a transaction of the caller's: one call is one statement in it
      await pc.query('BEGIN');
      const st = new SessionStore(pc);
      const s = await st.createSession(APP, 'c', { sessionId: 'in-tx' });
      await pc.query('ROLLBACK');
      assert.equal(await store.getSession(APP, 'c', s.sessionId), undefined);
    } finally {
      pc.release();
    }
  });

  test('one round trip per call', async () => {
    const s = await store.createSession(APP, 'rt');
    let n = 0;
    const counting = { query: (cfg) => { n++; return pool.query(cfg); } };
    const st = new SessionStore(counting);
    await st.appendMessages(APP, 'rt', s.sessionId, [{ a: 1 }]);
    await st.getMessages(APP, 'rt', s.sessionId, { maxCount: 1 });
    await st.loadSession(APP, 'rt', s.sessionId, { maxCount: 5 });
    await st.getSession(APP, 'rt', s.sessionId);
    assert.equal(n, 4);
  });

  test('loadSession: the messages of the version read', async () => {
    const s = await store.createSession(APP, 'ld', { state: { z: null } });
    await store.appendMessages(APP, 'ld', s.sessionId, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    const l = await store.loadSession(APP, 'ld', s.sessionId, { maxCount: 2 });
    assert.equal(l.session.version, 1);
    assert.deepEqual(l.messages.map((m) => [m.seq, m.message.n]), [[2, 2], [3, 3]]);
    assert.ok(l.messages[0].createTime instanceof Date && !isNaN(l.messages[0].createTime));
    assert.equal(await store.loadSession(APP, 'ld', 'nope'), undefined);
  });
});

describe('error translation', () => {
  test('SQLSTATE families', () => {
    const t = (code, message = 'm') => translateError(Object.assign(new Error(message), { code, detail: 'D.', hint: 'H.' }));
    assert.ok(t('40001', 'session "s" is at version 3, not 2') instanceof VersionConflict);
    assert.ok(t('40001', 'session "s" no longer ends with the expected messages') instanceof SuffixMismatch);
    assert.ok(t('40001', 'could not serialize access') instanceof SerializationFailure);
    assert.ok(t('40P01') instanceof SerializationFailure);
    assert.ok(t('42710') instanceof IdempotencyConflict);
    assert.equal(t('54000').name, 'LimitExceeded');
    assert.equal(t('XX000').constructor, SessionStoreError);
    const e = t('22023');
    assert.deepEqual([e.name, e.sqlstate, e.detail, e.hint], ['InvalidArgument', '22023', 'D.', 'H.']);
    const plain = new Error('socket hang up');
    assert.equal(translateError(plain), plain);
  });
});
