// End to end, no network: real ADK Runner and OpenAI Agents run() with
// scripted models, two Node processes at once, each persisting through the
// adapters; then every event and item is checked through SQL.
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';

import { dropDatabases, freshDatabase } from './databases.mjs';
import { checkAdk, checkOpenAI } from './e2e/checks.mjs';

const run = promisify(execFile);
const here = new URL('.', import.meta.url).pathname;
let db;
let pool;

before(async () => {
  db = await freshDatabase('e2e');
  pool = new pg.Pool({ ...db, max: 2 });
});
after(async () => {
  await pool.end();
  await dropDatabases();
});

async function twoProcesses(script, ...args) {
  const outs = await Promise.all([0, 1].map((w) =>
    run(process.execPath, [`${here}e2e/${script}`, db.database, String(w), ...args.map(String)],
        { env: process.env, maxBuffer: 1 << 24 })));
  return outs.map((o) => JSON.parse(o.stdout));
}


test('ADK Runner, two processes: every event stored once, in order', async () => {
  const SESSIONS = 3;
  const TURNS = 4;
  const outs = await twoProcesses('adk_process.mjs', SESSIONS, TURNS);
  await checkAdk(pool, outs, SESSIONS, TURNS);
});

test('OpenAI Agents run(), two processes: every item stored once, in order', async () => {
  const SESSIONS = 2;
  const TURNS = 4;
  const outs = await twoProcesses('openai_process.mjs', SESSIONS, TURNS);
  await checkOpenAI(pool, outs, SESSIONS, TURNS);
});
