// Side by side from TypeScript, on the demo's server: ADK-JS's own
// DatabaseSessionService (MikroORM, PostgreSQL driver) against
// SessionStoreService, on one fresh database each per case.
// Run by demo/run.sh after `npm ci` in clients/node.
import { dropDatabases } from '../clients/node/test/databases.mjs';
import { freshApp, oneSession, preSeeded, report } from '../clients/node/test/side_by_side.mjs';

const results = {
  fresh: await freshApp(64),
  seeded: await preSeeded(64),
  one: await oneSession(16, 20),
};
const v = (await import('../clients/node/node_modules/@google/adk/package.json', { with: { type: 'json' } })).default.version;
console.log(`@google/adk ${v} DatabaseSessionService against session-store's SessionStoreService (same server):`);
for (const l of report(results)) console.log(`  ${l}`);
console.log('  (commit order from pg_xact_commit_timestamp; a stale history is a copy whose events are not');
console.log('   what was stored up to its own last event; session_store re-reads a copy it was told is stale)');
await dropDatabases();
