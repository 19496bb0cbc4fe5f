// A process whose SessionStore, SessionStoreService and SessionStoreSession
// each make their pool from a connection string; their idle pooled
// connections are terminated by the server, and the process must carry on.
//   node idle_kill_process.mjs CONNECTION_STRING APPLICATION_NAME
// Prints {"ok": true, "terminated": N} and exits 0; without an 'error'
// listener on those pools it dies with "Unhandled 'error' event".
import pg from 'pg';

import { SessionStore, SessionStoreService, SessionStoreSession } from '../../dist/index.js';

const [connectionString, appName] = process.argv.slice(2);
const cfg = { connectionString, application_name: appName, max: 2 };
const store = new SessionStore(cfg);
const service = new SessionStoreService(cfg);
const session = new SessionStoreSession('idle-kill', { ...cfg, appName: 'idle-kill', userId: 'u' });

async function useAll() {
  const s = await store.createSession('idle-kill', 'u');
  await store.appendMessages('idle-kill', 'u', s.sessionId, [{ n: 1 }]);
  const a = await service.createSession({ appName: 'idle-kill', userId: 'u' });
  await service.getSession({ appName: 'idle-kill', userId: 'u', sessionId: a.id });
  await session.addItems([{ role: 'user', content: 'hi' }]);
}

await useAll();
const admin = new pg.Client({ connectionString, application_name: `${appName}-admin` });
await admin.connect();
// every pooled connection is idle now
const killed = await admin.query(
  'SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = $1',
  [appName]);
// wait until the server has closed them and the clients have heard of it
for (let i = 0; i < 100; i++) {
  const r = await admin.query('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [appName]);
  if (Number(r.rows[0].n) === 0) break;
  await new Promise((res) => setTimeout(res, 20));
}
await new Promise((res) => setTimeout(res, 200));
await admin.end();
await useAll();   // fresh connections
await Promise.all([store.close(), service.close(), session.close()]);
process.stdout.write(JSON.stringify({ ok: true, terminated: Number(killed.rows[0].n) }));
