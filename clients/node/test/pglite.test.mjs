// PGlite in this process, the portable edition installed by the store
// (install: true): the adapters' end-to-end runs (real ADK Runner and
// OpenAI Agents run(), scripted models), two workers at once on one
// instance, checked through SQL as on a server; then the fault tests'
// workload (plain store, ADK service, OpenAI sessions) on the same
// instance: in process there is no connection to kill or cut, so what
// applies is its check that nothing is lost or doubled.
import { test } from 'node:test';

import { PGlite } from '@electric-sql/pglite';

import { PGliteQueryable, SessionStore, SessionStoreService } from '../dist/index.js';
import { runAdk } from './e2e/adk_run.mjs';
import { checkAdk, checkOpenAI } from './e2e/checks.mjs';
import { verify, workload } from './e2e/fault_workload.mjs';
import { runOpenAI } from './e2e/openai_run.mjs';
import assert from 'node:assert/strict';

test('PGlite: ADK Runner and OpenAI Agents run(), two workers each, then the fault workload', async (t) => {
  const db = await PGlite.create();
  try {
    const q = new PGliteQueryable(db);   // the checks' SQL, as the store runs it
    const adk = await Promise.all([0, 1].map((w) =>
      runAdk(new SessionStoreService(db, { install: true }), String(w), 3, 4)));
    await checkAdk(q, adk, 3, 4);
    const oai = await Promise.all([0, 1].map((w) =>
      runOpenAI(new SessionStore(db, { install: true }), String(w), 2, 4)));
    await checkOpenAI(q, oai, 2, 4);
    const results = await Promise.all([0, 1].map((w) => workload({ cfg: db, tag: `pgl-${w}`, calls: 20 })));
    for (const r of results) {
      const v = await verify(q, r.expected);
      assert.deepEqual(v.problems, []);
      assert.equal(v.duplicates, 0);
      assert.equal(v.losses, 0);
    }
    const { rows } = await q.query('SELECT * FROM session_store.edition()');
    t.diagnostic(`PGlite ${(await q.query('SHOW server_version')).rows[0].server_version}, ` +
                 `${rows[0].edition} ${rows[0].version}`);
  } finally {
    await db.close();
  }
});
