// The portable edition's installer: install(), the install option and the
// session-store bin.  A fresh database gets the portable edition; the C
// edition is never touched; installers racing (threads of one process or
// real processes) make one installation and all succeed; PGlite too.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';

import { install, portableScript, SessionStore, SessionStoreService, SessionStoreSession } from '../dist/index.js';
import { connectionString, dropDatabases, emptyDatabase } from './databases.mjs';

const run = promisify(execFile);
const here = new URL('.', import.meta.url).pathname;
const bin = `${here}../dist/cli.js`;

after(dropDatabases);

/** What a database holds in schema session_store: relations, functions, types. */
async function objects(cfg) {
  const c = new pg.Client(cfg);
  await c.connect();
  try {
    const r = await c.query(`SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = n.oid)::int AS rels,
                                    (SELECT count(*) FROM pg_proc WHERE pronamespace = n.oid)::int AS procs,
                                    (SELECT count(*) FROM pg_type WHERE typnamespace = n.oid)::int AS types,
                                    (SELECT extversion FROM pg_extension WHERE extname = 'session_store') AS ext
                               FROM pg_namespace n WHERE nspname = 'session_store'`);
    return r.rows[0] ?? null;
  } finally {
    await c.end();
  }
}

test('the packaged script is the repository\'s portable/session_store.sql', () => {
  const repo = readFileSync(`${here}../../../portable/session_store.sql`, 'utf8');
  assert.equal(readFileSync(`${here}../sql/session_store.sql`, 'utf8'), repo);
  assert.ok(repo.includes(portableScript()));
});

test('fresh database: install() installs the portable edition, a second install changes nothing', async () => {
  const db = await emptyDatabase('inst_fresh');
  const pool = new pg.Pool({ ...db, max: 2 });
  try {
    const store = new SessionStore(pool);
    assert.equal(await store.edition(), null);
    assert.deepEqual(await install(pool), { edition: 'portable', version: '1.2' });
    assert.deepEqual(await store.edition(), { edition: 'portable', version: '1.2' });
    const once = await objects(db);
    assert.equal(once.ext, null, 'no extension');
    assert.deepEqual(await store.install(), { edition: 'portable', version: '1.2' });
    assert.deepEqual(await objects(db), once);
  } finally {
    await pool.end();
  }
});

test('install: true on the store and both adapters: the first call installs, then works', async () => {
  for (const kind of ['store', 'adk', 'openai']) {
    const db = await emptyDatabase(`inst_opt_${kind}`);
    const cfg = { connectionString: connectionString(db), max: 2 };
    if (kind === 'store') {
      const store = new SessionStore(cfg, { install: true });
      const s = await store.createSession('app', 'u');
      assert.equal((await store.appendMessages('app', 'u', s.sessionId, [{ a: 1 }])).lastSeq, 1);
      assert.equal((await store.edition()).edition, 'portable');
      await store.close();
    } else if (kind === 'adk') {
      const service = new SessionStoreService(cfg, { install: true });
      const s = await service.createSession({ appName: 'app', userId: 'u' });
      assert.equal((await service.getSession({ appName: 'app', userId: 'u', sessionId: s.id })).id, s.id);
      await service.close();
    } else {
      const session = new SessionStoreSession('s1', { ...cfg, appName: 'app', userId: 'u', install: true });
      await session.addItems([{ role: 'user', content: 'hi' }]);
      assert.equal((await session.getItems()).length, 1);
      await session.close();
    }
    assert.ok((await objects(db)).procs > 10, `${kind}: installed`);
  }
  // without the option nothing is installed: the call fails as before
  const db = await emptyDatabase('inst_none');
  const store = new SessionStore({ connectionString: connectionString(db), max: 1 });
  await assert.rejects(store.createSession('app', 'u'), (e) => e.sqlstate === '3F000');
  assert.equal(await objects(db), null);
  await store.close();
});

test('C edition present: install() leaves it alone and edition() says c', async (t) => {
  const db = await emptyDatabase('inst_c');
  const c = new pg.Client(db);
  await c.connect();
  try {
    try {
      await c.query('CREATE EXTENSION session_store');
    } catch (err) {
      t.skip(`the C edition is not available on this server (${err.message})`);
      return;
    }
    const before = await objects(db);
    const v = (await c.query('SELECT version FROM session_store.edition()')).rows[0].version;
    assert.deepEqual(await install(c), { edition: 'c', version: v });
    const store = new SessionStore({ connectionString: connectionString(db), max: 1 }, { install: true });
    await store.createSession('app', 'u');
    assert.deepEqual(await store.edition(), { edition: 'c', version: v });
    await store.close();
    assert.deepEqual(await objects(db), before);
    // and the script itself refuses, should it ever be run there
    await c.query('BEGIN');
    await assert.rejects(c.query(portableScript()),
                         (e) => e.code === '42710' && e.message === 'the C edition of session_store is installed in this database');
    await c.query('ROLLBACK');
  } finally {
    await c.end();
  }
});

test('an installer that waited for another one takes its 42710 as success', async () => {
  const db = await emptyDatabase('inst_wait');
  const first = new pg.Client({ ...db, application_name: 'inst-first' });
  const second = new pg.Client({ ...db, application_name: 'inst-second' });
  await first.connect();
  await second.connect();
  try {
    await first.query('BEGIN');
    await first.query(portableScript());          // holds the installer lock, not committed
    const waiting = install(second);               // sees no edition yet, waits for the lock
    for (let i = 0; ; i++) {
      const r = await first.query(`SELECT count(*)::int AS n FROM pg_stat_activity
                                    WHERE application_name = 'inst-second' AND wait_event_type = 'Lock'`);
      if (r.rows[0].n === 1) break;
      assert.ok(i < 500, 'the second installer never waited');
      await new Promise((res) => setTimeout(res, 10));
    }
    await first.query('COMMIT');
    assert.deepEqual(await waiting, { edition: 'portable', version: '1.2' });
  } finally {
    await first.end();
    await second.end();
  }
});

test('six processes run `session-store install URL` at once: one installation, all succeed', async () => {
  const db = await emptyDatabase('inst_race');
  const url = connectionString(db);
  const outs = await Promise.all(Array.from({ length: 6 }, () =>
    run(process.execPath, [bin, 'install', url], { env: process.env })));
  for (const o of outs) assert.deepEqual(JSON.parse(o.stdout), { edition: 'portable', version: '1.2' });
  const ref = await emptyDatabase('inst_ref');
  await run(process.execPath, [bin, 'install', connectionString(ref)], { env: process.env });
  assert.deepEqual(await objects(db), await objects(ref));
  const e = await run(process.execPath, [bin, 'edition', url], { env: process.env });
  assert.deepEqual(JSON.parse(e.stdout), { edition: 'portable', version: '1.2' });
});

test('PGlite: install() and install: true', async () => {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create();
  try {
    const store = new SessionStore(db, { install: true });
    assert.equal(await store.edition(), null);
    const s = await store.createSession('app', 'u', { state: { n: 1 } });
    assert.deepEqual(await store.edition(), { edition: 'portable', version: '1.2' });
    assert.deepEqual(await install(db), { edition: 'portable', version: '1.2' });
    assert.equal(store.retry, undefined, 'no retries: no connection to lose');
    const r = await store.appendMessages('app', 'u', s.sessionId, [{ a: 1 }], { stateDelta: { m: 2 } });
    assert.equal(r.lastSeq, 1);
    assert.deepEqual((await store.getSession('app', 'u', s.sessionId)).state, { n: 1, m: 2 });
  } finally {
    await db.close();
  }
});
