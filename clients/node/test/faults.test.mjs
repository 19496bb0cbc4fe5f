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
import { exec, execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';

import { connectionString, dropDatabases, freshDatabase } from './databases.mjs';
import { verify, workload } from './e2e/fault_workload.mjs';

const here = new URL('.', import.meta.url).pathname;
const runFile = promisify(execFile);
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

/** Terminates one backend whose application_name starts with `prefix` every 5-80 ms. */
function startKiller(prefix) {
  const c = new pg.Client({ ...db, application_name: 'faults-killer' });
  let stop = false;
  let kills = 0;
  let ticks = 0;
  const done = (async () => {
    await c.connect();
    while (!stop) {
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 75));
      const r = await c.query(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n
           FROM (SELECT pid FROM pg_stat_activity
                  WHERE application_name LIKE $1 AND pid <> pg_backend_pid()
                  ORDER BY random() LIMIT 1) s`, [`${prefix}%`]);
      kills += Number(r.rows[0].n);
      ticks++;
    }
    await c.end();
  })();
  return { stop: async () => { stop = true; await done; return { kills, ticks }; } };
}

/** The workload in a child process; resolves to its output, rejects if it raised or crashed. */
async function child(cs, applicationName, tag, calls, minMs) {
  const { stdout } = await runFile(process.execPath,
    [`${here}e2e/fault_process.mjs`, cs, applicationName, tag, String(calls), String(minMs), JSON.stringify(RETRY)],
    { env: process.env, maxBuffer: 1 << 26 });
  return JSON.parse(stdout);
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

test('backend killer: in this process and three children, no call raises, every write stored once', async (t) => {
  const prefix = `faults-kill-${process.pid}`;
  const cs = connectionString(db);
  const killer = startKiller(prefix);
  const t0 = Date.now();
  let results;
  let killed;
  try {
    results = await Promise.all([
      // each for at least 3 s of kills, however fast the machine
      workload({ cfg: { connectionString: cs, application_name: `${prefix}-main`, max: 3 },
                 retry: RETRY, tag: 'kill-main', calls: 40, minMs: 3000 }),
      ...[0, 1, 2].map((w) => child(cs, `${prefix}-w${w}`, `kill-w${w}`, 40, 3000)),
    ]);
  } finally {
    killed = await killer.stop();
  }
  const { kills, ticks } = killed;
  const total = await verifyAll(t, results);
  t.diagnostic(`killer: ${kills} backends terminated in ${ticks} ticks over ${Date.now() - t0} ms; ` +
               `${total.calls} calls in 4 processes, 0 raised; ${total.sessions} sessions, ` +
               `${total.stored} messages stored, ${total.duplicates} duplicates, ${total.losses} losses`);
  assert.ok(kills >= 20, `only ${kills} backends terminated`);
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
  }
  assert.notEqual(await startTime(), started, 'the server was restarted');
  assert.ok(doneAt.restart >= 0 && doneAt.rounds > doneAt.restart, 'the run went on after the restart ended');
  const total = await verifyAll(t, results);
  t.diagnostic(`restart (${cmd}): ${restartMs} ms, ended at round ${doneAt.restart} of ${CALLS}; ` +
               `longest round ${slowest} ms; ` +
               `${total.calls} calls, 0 raised; ${total.stored} messages stored, ` +
               `${total.duplicates} duplicates, ${total.losses} losses`);
});
