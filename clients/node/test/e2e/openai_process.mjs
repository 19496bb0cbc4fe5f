// One process of the OpenAI Agents end-to-end test (openai_run.mjs) on the
// server the PG* environment names.
//   node openai_process.mjs DATABASE WORKER SESSIONS TURNS
import pg from 'pg';

import { SessionStore } from '../../dist/index.js';
import { runOpenAI } from './openai_run.mjs';

const [database, worker, nSessions, nTurns] = process.argv.slice(2);
const pool = new pg.Pool({ database, max: 4 });
const out = await runOpenAI(new SessionStore(pool), worker, nSessions, nTurns);
await pool.end();
process.stdout.write(JSON.stringify(out));
