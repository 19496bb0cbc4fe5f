// Fault injection: the plain store and both adapters writing while
//   (a) their backends are terminated every 5-80 ms (idle ones too), in this
//       process and in child processes;
//   (b) a TCP proxy (test/lib/cutproxy.py) cuts their connections at random
//       points, including after a request was sent and before its reply
//       was read (the statement committed, the client never told);
//   (c) the server restarts in the middle of a run (SS_RESTART_CMD).
// Each time: no call raises, no process crashes, and what is stored is
// exactly what was written (nothing lost, nothing doubled, seq gap-free).
import assert from 'node:assert/strict';
import { exec, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';

import { connectionString, dropDatabases, freshDatabase } from './databases.mjs';
import { verify, workload } from './e2e/fault_workload.mjs';

const here = new URL('.', import.meta.url).pathname;
const runShell = promisify(exec);
// short sleeps, enough attempts: a call meets several faults in a row now and then
const RETRY = { maxAttempts: 12, baseDelayMs: 2, maxDelayMs: 50, maxElapsedMs: 15000 };
const CUTS_WANTED = 1000;

let db;
let admin;

before(async () => {
  db = await freshDatabase('faults');
  admin = new pg.Pool({ ...db, max: 2, application_name: 'faults-admin' });
  admin.on('error', () => {});
});
after(async () => {
  await admin.end();
  await dropDatabases();
});

/**
 * Terminates one backend whose application_name starts with `prefix` every
 * 5-80 ms.  `kills` and `killsOf(applicationName)` count so far; a failed
 * query of the killer's ends its loop and is thrown by `stop()` (and makes
 * `failed` true at once).
 */
function startKiller(prefix) {
  const c = new pg.Client({ ...db, application_name: 'faults-killer' });
  let stop = false;
  let failed = false;
  let kills = 0;
  let ticks = 0;
  const byName = new Map();
  const done = (async () => {
    await c.connect();
    while (!stop) {
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 75));
      const r = await c.query(
        `SELECT application_name AS name FROM (
           SELECT pid, application_name FROM pg_stat_activity
            WHERE application_name LIKE $1 AND pid <> pg_backend_pid()
            ORDER BY random() LIMIT 1) s
          WHERE pg_terminate_backend(pid)`, [`${prefix}%`]);
      for (const { name } of r.rows) {
        kills++;
        byName.set(name, (byName.get(name) ?? 0) + 1);
      }
      ticks++;
    }
  })().catch((err) => { failed = true; throw err; }).finally(() => c.end().catch(() => {}));
  done.catch(() => {});   // reported by stop()
  return {
    get kills() { return kills; },
    get failed() { return failed; },
    killsOf: (name) => byName.get(name) ?? 0,
    stop: async () => { stop = true; await done; return { kills, ticks }; },
  };
}

/**
 * The workload in a child process: { done, stop() }.  `done` resolves to its
 * output and rejects if it raised or crashed; it runs at least `calls`
 * rounds, and goes on until `stop()` (a line on its stdin).
 */
function child(cs, applicationName, tag, calls) {
  const p = spawn(process.execPath,
                  [`${here}e2e/fault_process.mjs`, cs, applicationName, tag, String(calls), JSON.stringify(RETRY)],
                  { env: process.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
  p.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
  p.stdin.on('error', () => {});   // it may have ended already
  const done = new Promise((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code, signal) => {
      if (code === 0) resolve(JSON.parse(out));
      else reject(new Error(`${applicationName} ended with ${signal ?? `status ${code}`}: ${err}`));
    });
  });
  return { done, stop: () => { if (p.stdin.writable) p.stdin.end('stop\n'); } };
}

async function verifyAll(t, results) {
  const total = { calls: 0, sessions: 0, stored: 0, duplicates: 0, losses: 0 };
  for (const r of results) {
    const v = await verify(admin, r.expected);
    assert.deepEqual(v.problems, [], `${r.expected.user}: ${v.problems.join('; ')}`);
    total.calls += r.calls;
    for (const k of ['sessions', 'stored', 'duplicates', 'losses']) total[k] += v[k];
  }
  assert.equal(total.duplicates, 0);
  assert.equal(total.losses, 0);
  return total;
}

const KILLS_WANTED = 20;        // in all
const KILLS_EACH = 3;           // of each process's backends
const KILL_DEADLINE_MS = 60000; // reaching it fails the test

test(`backend killer: in this process and three children, ${KILLS_WANTED} kills, no call raises, every write stored once`, async (t) => {
  const prefix = `faults-kill-${process.pid}`;
  const cs = connectionString(db);
  const names = [`${prefix}-main`, ...[0, 1, 2].map((w) => `${prefix}-w${w}`)];
  const killer = startKiller(prefix);
  const t0 = Date.now();
  // every workload goes on (after its 40 rounds) until the killer has its quota
  let enough = false;
  const quota = () => killer.kills >= KILLS_WANTED && names.every((n) => killer.killsOf(n) >= KILLS_EACH);
  const children = [0, 1, 2].map((w) => child(cs, names[w + 1], `kill-w${w}`, 40));
  const stopAll = () => { enough = true; for (const c of children) c.stop(); };
  const waited = (async () => {
    while (!quota() && !enough && !killer.failed && Date.now() - t0 < KILL_DEADLINE_MS) {
      await new Promise((r) => setTimeout(r, 20));
    }
    stopAll();
  })();
  const all = [
    workload({ cfg: { connectionString: cs, application_name: names[0], max: 3 },
               retry: RETRY, tag: 'kill-main', calls: 40, more: () => !enough }),
    ...children.map((c) => c.done),
  ];
  let results;
  let killed;
  try {
    results = await Promise.all(all);
  } finally {
    stopAll();
    await waited;
    await Promise.allSettled(all);
    killed = await killer.stop();
  }
  const { kills, ticks } = killed;
  const each = names.map((n) => `${n.slice(prefix.length + 1)} ${killer.killsOf(n)}`).join(', ');
  t.diagnostic(`killer: ${kills} backends terminated (${each}) in ${ticks} ticks over ${Date.now() - t0} ms`);
  assert.ok(quota(), `after ${KILL_DEADLINE_MS} ms only ${kills} backends terminated (${each}); ` +
                     `wanted ${KILLS_WANTED}, ${KILLS_EACH} of each process`);
  const total = await verifyAll(t, results);
  t.diagnostic(`${total.calls} calls in 4 processes, 0 raised; ${total.sessions} sessions, ` +
               `${total.stored} messages stored, ${total.duplicates} duplicates, ${total.losses} losses`);
});

/** test/lib/cutproxy.py in front of the server: { port, stats(), quit() }. */
async function startProxy(probability, seed) {
  const host = process.env.PGHOST ?? 'localhost';
  const port = process.env.PGPORT ?? '5432';
  const target = host.startsWith('/') ? `${host}/.s.PGSQL.${port}` : `${host === 'localhost' ? '127.0.0.1' : host}:${port}`;
  const p = spawn('/usr/bin/python3', [`${here}../../../test/lib/cutproxy.py`, '--target', target,
                                       '--probability', String(probability), '--seed', String(seed)],
                  { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: p.stdout })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await lines.next()).value);
  const first = await next();
  return {
    port: first.port,
    stats: async () => { p.stdin.write('stats\n'); return next(); },
    quit: async () => {
      p.stdin.write('quit\n');
      const last = await next();
      await new Promise((r) => (p.exitCode !== null ? r() : p.once('exit', r)));
      return last;
    },
  };
}

test(`cut proxy: at least ${CUTS_WANTED} cuts, 0 duplicates, 0 losses`, async (t) => {
  const proxy = await startProxy(0.25, 14);
  const cfg = { host: '127.0.0.1', port: proxy.port, database: db.database, max: 3 };
  const results = [];
  let stats;
  const t0 = Date.now();
  try {
    for (let r = 0; ; r++) {
      // three workloads at once, each with its own pools
      results.push(...await Promise.all([0, 1, 2].map((w) =>
        workload({ cfg, retry: RETRY, tag: `cut-${r}-${w}`, calls: 20 }))));
      stats = await proxy.stats();
      if (stats.cuts >= CUTS_WANTED) break;
      assert.ok(r < 50, `only ${stats.cuts} cuts after ${r + 1} rounds`);
    }
  } finally {
    stats = await proxy.quit();
  }
  const total = await verifyAll(t, results);
  t.diagnostic(`cut proxy: ${stats.cuts} cuts (before ${stats.before}, after_send ${stats.after_send}, ` +
               `mid_exec ${stats.mid_exec}, mid_reply ${stats.mid_reply}) on ${stats.connections} connections ` +
               `in ${Date.now() - t0} ms; ${total.calls} calls, 0 raised; ${total.sessions} sessions, ` +
               `${total.stored} messages stored, ${total.duplicates} duplicates, ${total.losses} losses`);
  assert.ok(stats.cuts >= CUTS_WANTED);
  assert.ok(stats.after_send >= CUTS_WANTED / 8, 'replies lost after the statement ran');
});

test('server restart in the middle of a run: both adapters recover, nothing lost or doubled', async (t) => {
  const cmd = process.env.SS_RESTART_CMD;
  assert.ok(cmd, 'SS_RESTART_CMD must name a command that restarts the server (test/run-in-cluster.sh sets it)');
  // the default policy: what an application gets
  const retry = undefined;
  const startTime = async () => (await admin.query('SELECT pg_postmaster_start_time() AS t')).rows[0].t.getTime();
  const started = await startTime();
  const cs = connectionString(db);
  let restart;
  let restartMs;
  const doneAt = { restart: -1, rounds: 0 };
  const last = [0, 0];
  let slowest = 0;   // the longest round: how long the calls waiting out the restart took
  const CALLS = 60;
  const run = (w) => workload({
    cfg: { connectionString: cs, application_name: `faults-restart-${w}`, max: 3 }, retry,
    tag: `restart-${w}`, calls: CALLS,
    // however long the restart takes, rounds go on until 5 after it ended
    more: (i) => doneAt.restart < 0 || i <= doneAt.restart + 5,
    onRound: (i) => {
      const now = Date.now();
      if (i > 0) slowest = Math.max(slowest, now - last[w]);
      last[w] = now;
      doneAt.rounds = Math.max(doneAt.rounds, i);
      if (w === 0 && i === CALLS / 3) {
        const t0 = Date.now();
        restart = runShell(cmd).finally(() => { restartMs = Date.now() - t0; doneAt.restart = doneAt.rounds; });
      }
    },
  });
  let results;
  try {
    results = await Promise.all([0, 1].map(run));
  } finally {
    await restart;
    // printed whatever happened: a call that raised is read against how long the server was away
    t.diagnostic(`restart (${cmd}): ${restartMs} ms, ended at round ${doneAt.restart} of ${CALLS}; ` +
                 `longest round ${slowest} ms`);
  }
  assert.notEqual(await startTime(), started, 'the server was restarted');
  assert.ok(doneAt.restart >= 0 && doneAt.rounds > doneAt.restart, 'the run went on after the restart ended');
  const total = await verifyAll(t, results);
  t.diagnostic(`restart: ${total.calls} calls, 0 raised; ${total.stored} messages stored, ` +
               `${total.duplicates} duplicates, ${total.losses} losses`);
});
