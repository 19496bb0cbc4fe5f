// Side by side on one server: ADK-JS's own DatabaseSessionService (MikroORM,
// PostgreSQL driver) against SessionStoreService, on the cases where an
// ORM-side session layer goes wrong under concurrency.  Used by the demo
// (demo/node_compare.mjs prints it) and by test/compare.test.mjs (which
// asserts the session_store side and only reports ADK's).
import { createEvent, createEventActions } from '@google/adk';
import { DatabaseSessionService } from '@google/adk/sessions/database';
import pg from 'pg';

import { SessionStoreService, StaleSessionError } from '../dist/index.js';
import { connectionString, freshDatabase } from './databases.mjs';

/** The server's words of an error (MikroORM puts the statement before them). */
const quiet = (err) => {
  const m = String(err?.message ?? err).split('\n')[0];
  const i = m.lastIndexOf(' - ');
  return (i >= 0 ? m.slice(i + 3) : m).slice(0, 120);
};

function tally(results) {
  const errors = {};
  for (const r of results) {
    if (r.status === 'rejected') {
      const m = quiet(r.reason).replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<id>');
      errors[m] = (errors[m] ?? 0) + 1;
    }
  }
  return { ok: results.filter((r) => r.status === 'fulfilled').length, failed: results.length - results.filter((r) => r.status === 'fulfilled').length, errors };
}

/** A service of each kind on a database of its own. */
async function services(label, { adkInstances = 1, oursInstances = 1 } = {}) {
  const adkDb = await freshDatabase(`${label}_adk`);
  const ourDb = await freshDatabase(`${label}_ss`);
  const adk = [];
  for (let i = 0; i < adkInstances; i++) {
    const s = new DatabaseSessionService(connectionString(adkDb));
    await s.init();                      // one at a time: schema creation races itself
    adk.push(s);
  }
  const pools = [];
  const ours = [];
  for (let i = 0; i < oursInstances; i++) {
    const p = new pg.Pool({ ...ourDb, max: oursInstances > 1 ? 1 : 16 });
    pools.push(p);
    ours.push(new SessionStoreService(p));
  }
  const adkPool = new pg.Pool({ ...adkDb, max: 2 });
  const close = async () => {
    for (const s of adk) await s.orm?.close?.(true).catch(() => {});
    for (const p of pools) await p.end();
    await adkPool.end();
  };
  return { adk, ours, adkPool, ourPool: pools[0], close };
}

/** 64 parallel createSession calls for an app and user never seen before. */
export async function freshApp(n = 64) {
  const s = await services('fresh');
  try {
    const req = (i) => ({ appName: 'fresh-app', userId: 'alice', state: { [`app:k${i}`]: i } });
    const adk = tally(await Promise.allSettled(Array.from({ length: n }, (_, i) => s.adk[0].createSession(req(i)))));
    const ours = tally(await Promise.allSettled(Array.from({ length: n }, (_, i) => s.ours[0].createSession(req(i)))));
    return { n, adk, ours };
  } finally {
    await s.close();
  }
}

/** The app and user rows exist; 64 parallel createSession calls each set one app: and one user: key. */
export async function preSeeded(n = 64) {
  const s = await services('seeded');
  try {
    for (const svc of [s.adk[0], s.ours[0]]) await svc.createSession({ appName: 'seeded-app', userId: 'alice' });
    const req = (i) => ({ appName: 'seeded-app', userId: 'alice', state: { [`app:k${i}`]: i, [`user:k${i}`]: i } });
    const out = { n };
    for (const [side, svc] of [['adk', s.adk[0]], ['ours', s.ours[0]]]) {
      const t = tally(await Promise.allSettled(Array.from({ length: n }, (_, i) => svc.createSession(req(i)))));
      const probe = await svc.createSession({ appName: 'seeded-app', userId: 'alice' });
      const keys = Object.keys(probe.state);
      out[side] = { ...t, appKeys: keys.filter((k) => k.startsWith('app:')).length,
                    userKeys: keys.filter((k) => k.startsWith('user:')).length };
    }
    return out;
  } finally {
    await s.close();
  }
}

/** Stored order against commit order (needs track_commit_timestamp). */
async function commitOrder(pool, sql, params) {
  const on = (await pool.query("SELECT current_setting('track_commit_timestamp') AS v")).rows[0].v === 'on';
  if (!on) return undefined;
  return (await pool.query(sql, params)).rows.map((r) => r.id);
}

/**
 * `instances` service instances (each with its own connection pool, as
 * separate processes would have) append `perInstance` events each to one
 * session, each working on its own copy as a runner does.  A session_store
 * copy that another instance moved past fails with StaleSessionError; the
 * instance then reads the session again and retries that event.
 */
export async function oneSession(instances = 16, perInstance = 20) {
  const s = await services('one', { adkInstances: instances, oursInstances: instances });
  try {
    const out = { instances, appends: instances * perInstance };
    for (const side of ['adk', 'ours']) {
      const svcs = s[side];
      const key = { appName: 'one-app', userId: 'alice', sessionId: 'hot' };
      await svcs[0].createSession(key);
      const copies = await Promise.all(svcs.map((svc) => svc.getSession(key)));
      let failed = 0;
      let staleDetected = 0;
      const errors = {};
      await Promise.all(svcs.map(async (svc, i) => {
        for (let k = 0; k < perInstance; k++) {
          const event = createEvent({ invocationId: `inv-${i}`, author: 'user',
                                      content: { role: 'user', parts: [{ text: `i${i} e${k}` }] },
                                      actions: createEventActions({ stateDelta: { [`last_${i}`]: k } }) });
          for (;;) {
            try {
              await svc.appendEvent({ session: copies[i], event });
              break;
            } catch (err) {
              if (err instanceof StaleSessionError) {
                staleDetected++;
                copies[i] = await svc.getSession(key);
                continue;
              }
              failed++;
              errors[quiet(err)] = (errors[quiet(err)] ?? 0) + 1;
              break;
            }
          }
        }
      }));
      const stored = (await svcs[0].getSession(key)).events.map((e) => e.id);
      const pool = side === 'adk' ? s.adkPool : s.ourPool;
      const commits = side === 'adk'
        ? await commitOrder(pool, `SELECT id FROM events WHERE app_name = $1 AND user_id = $2 AND session_id = $3
                                    ORDER BY pg_xact_commit_timestamp(xmin), timestamp`, ['one-app', 'alice', 'hot'])
        : await commitOrder(pool, `SELECT m.message->>'id' AS id FROM session_store.messages m
                                     JOIN session_store.sessions s USING (sid)
                                    WHERE s.app_name = $1 AND s.user_id = $2 AND s.session_id = $3
                                    ORDER BY pg_xact_commit_timestamp(m.xmin), m.seq`, ['one-app', 'alice', 'hot']);
      const timestamps = side === 'adk'
        ? (await pool.query('SELECT timestamp AS t FROM events WHERE session_id = $1', ['hot'])).rows.map((r) => +r.t)
        : (await pool.query(`SELECT m.create_time AS t FROM session_store.messages m JOIN session_store.sessions s USING (sid)
                              WHERE s.session_id = $1`, ['hot'])).rows.map((r) => +r.t);
      const perMs = new Map();
      for (const t of timestamps) perMs.set(t, (perMs.get(t) ?? 0) + 1);
      // a copy is stale if its history is not what was stored up to its own last event
      let staleHistories = 0;
      for (const c of copies) {
        const ids = c.events.map((e) => e.id);
        const p = stored.indexOf(ids[ids.length - 1]);
        if (p < 0 || ids.length !== p + 1 || ids.some((id, j) => stored[j] !== id)) staleHistories++;
      }
      out[side] = {
        stored: stored.length,
        distinct: new Set(stored).size,
        failed,
        errors,
        staleDetected,
        staleHistories,
        outOfCommitOrder: commits ? stored.filter((id, j) => commits[j] !== id).length : undefined,
        sharedMillisecond: [...perMs.values()].filter((c) => c > 1).reduce((a, b) => a + b, 0),
      };
    }
    return out;
  } finally {
    await s.close();
  }
}

/** Every case, as printable lines. */
export function report({ fresh, seeded, one }) {
  const e = (x) => Object.entries(x.errors).map(([m, c]) => `${c}x ${m}`).join('; ') || '-';
  const lines = [];
  lines.push(`${fresh.n} parallel createSession, fresh app and user`);
  lines.push(`  ADK DatabaseSessionService  ok ${fresh.adk.ok}/${fresh.n}   errors: ${e(fresh.adk)}`);
  lines.push(`  SessionStoreService         ok ${fresh.ours.ok}/${fresh.n}   errors: ${e(fresh.ours)}`);
  lines.push(`${seeded.n} parallel createSession, app and user rows exist, one app: and one user: key each`);
  for (const [n, k] of [['ADK DatabaseSessionService', 'adk'], ['SessionStoreService        ', 'ours']]) {
    const r = seeded[k];
    lines.push(`  ${n} ok ${r.ok}/${seeded.n}   app: keys kept ${r.appKeys}/${seeded.n}   user: keys kept ${r.userKeys}/${seeded.n}   errors: ${e(r)}`);
  }
  lines.push(`${one.instances} instances appending ${one.appends / one.instances} events each to one session`);
  for (const [n, k] of [['ADK DatabaseSessionService', 'adk'], ['SessionStoreService        ', 'ours']]) {
    const r = one[k];
    lines.push(`  ${n} stored ${r.stored}/${one.appends} (distinct ${r.distinct})   failed ${r.failed}   ` +
               `stored order != commit order at ${r.outOfCommitOrder ?? 'n/a'} positions   ` +
               `events sharing a millisecond ${r.sharedMillisecond}${k === 'adk' ? ' (its order key)' : ' (ordered by seq)'}   ` +
               `stale copies detected ${r.staleDetected}   stale histories kept without an error ${r.staleHistories}`);
  }
  return lines;
}
