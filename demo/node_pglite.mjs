// The embedded default from TypeScript: no server at all.  PGlite
// (PostgreSQL in WASM, in this process) with the portable edition, which
// the adapters install on first use (install: true); a real ADK Runner and
// a real OpenAI Agents run(), scripted models (no network), two workers
// each at once on the one instance.  Run by demo/run.sh after the package
// is built; `node demo/node_pglite.mjs DIR` keeps the database in DIR.
import { PGlite } from '../clients/node/node_modules/@electric-sql/pglite/dist/index.js';
import { PGliteQueryable, SessionStore, SessionStoreService } from '../clients/node/dist/index.js';
import { runAdk } from '../clients/node/test/e2e/adk_run.mjs';
import { checkAdk, checkOpenAI } from '../clients/node/test/e2e/checks.mjs';
import { runOpenAI } from '../clients/node/test/e2e/openai_run.mjs';

const t0 = Date.now();
const db = await PGlite.create(process.argv[2]);
const q = new PGliteQueryable(db);
const adk = await Promise.all([0, 1].map((w) =>
  runAdk(new SessionStoreService(db, { install: true }), String(w), 3, 4)));
await checkAdk(q, adk, 3, 4);
const oai = await Promise.all([0, 1].map((w) =>
  runOpenAI(new SessionStore(db, { install: true }), String(w), 2, 4)));
await checkOpenAI(q, oai, 2, 4);
const ed = (await q.query('SELECT * FROM session_store.edition()')).rows[0];
const n = (await q.query('SELECT count(*) AS n FROM session_store.messages')).rows[0].n;
const v = (await q.query('SHOW server_version')).rows[0].server_version;
console.log(`PGlite ${v} in process, session_store ${ed.edition} ${ed.version} installed by the adapters (install: true):`);
console.log(`  ADK Runner (2 workers x 3 sessions x 4 turns) and OpenAI Agents run() (2 workers, 3 sessions each, one shared):`);
console.log(`  ${n} messages stored, each once and in order (checked through SQL), in ${Date.now() - t0} ms`);
await db.close();
