// One process of the ADK end-to-end test (adk_run.mjs) on the server the
// PG* environment names.
//   node adk_process.mjs DATABASE WORKER SESSIONS TURNS
// Prints {"sessions": {id: [event ids the runner yielded, in order]}}.
import pg from 'pg';

import { SessionStoreService } from '../../dist/index.js';
import { runAdk } from './adk_run.mjs';

const [database, worker, nSessions, nTurns] = process.argv.slice(2);
const pool = new pg.Pool({ database, max: 4 });
const out = await runAdk(new SessionStoreService(pool), worker, nSessions, nTurns);
await pool.end();
process.stdout.write(JSON.stringify(out));
