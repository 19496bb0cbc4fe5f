// Pools for the retry tests: errors as node-postgres makes them, a pool
// whose attempts fail as a script says, and a pool in front of a real one
// that loses replies.
import pg from 'pg';

/** An error the server sent, as node-postgres builds it. */
export function dbError(code, message = `server error ${code}`) {
  const e = new pg.DatabaseError(message, 0, 'error');
  e.code = code;
  e.severity = code.startsWith('57P') ? 'FATAL' : 'ERROR';
  return e;
}

/** One of Node's own socket errors. */
export function sysError(code, syscall = 'read') {
  return Object.assign(new Error(`${syscall} ${code}`), { code, errno: -1, syscall });
}

/**
 * A pool (shaped as pg.Pool is) whose n-th query fails with script[n]
 * (an Error) or answers with it (an array of rows); past the end of the
 * script it answers `[{ ok: true }]`; its n-th check-out fails with
 * failConnect[n] when that is set.  It records every attempt's values, when
 * each try (check-out) started, and how each client was released.
 */
export class ScriptedPool {
  constructor(script = [], { failConnect = [] } = {}) {
    this.script = script;
    this.failConnect = failConnect;
    this.connects = 0;
    this.starts = [];          // performance.now() of each check-out, failed ones too
    this.attempts = [];        // values of each query sent
    this.released = [];        // the error each client was released with (undefined: kept)
  }

  get totalCount() { return 0; }
  get idleCount() { return 0; }

  async query() {
    throw new Error('the retry layer queries through connect()');
  }

  connect(cb) {
    const p = this.checkOut();
    if (!cb) return p;
    p.then((c) => cb(undefined, c, c.release), (err) => cb(err));
  }

  async checkOut() {
    const n = this.connects++;
    this.starts.push(performance.now());
    if (this.failConnect[n]) throw this.failConnect[n];
    const pool = this;
    let released = false;
    return {
      on() {}, removeListener() {},
      async query(cfg) {
        const i = pool.attempts.length;
        pool.attempts.push(cfg.values);
        const step = pool.script[i];
        if (step instanceof Error) throw step;
        return { rows: step ?? [{ ok: true }] };
      },
      release(err) {
        if (released) throw new Error('released twice');
        released = true;
        pool.released.push(err);
      },
    };
  }
}

/**
 * In front of a real pg.Pool: each attempt asks `plan(i, text, values)` (i counts
 * attempts from 0) what to do: 'ok' (run it), 'before' (fail with
 * "Connection terminated unexpectedly" before sending it) or 'lose' (run it
 * to its end, committed, then fail the same way: the reply was lost).  The
 * plan may answer with a promise of that (another writer's call, awaited
 * before the attempt is sent).  The client is released with the error, so
 * the real pool drops it.
 */
/** A plan for LossyPool: the first attempt of each distinct statement matching `re` loses its reply. */
export function loseFirstOf(re) {
  const seen = new Set();
  return (_i, text, values) => {
    if (!re.test(text)) return 'ok';
    const k = JSON.stringify([text, values]);
    if (seen.has(k)) return 'ok';
    seen.add(k);
    return 'lose';
  };
}

export class LossyPool {
  constructor(pool, plan) {
    this.pool = pool;
    this.plan = plan;
    this.attempts = [];
  }

  get totalCount() { return this.pool.totalCount; }
  get idleCount() { return this.pool.idleCount; }

  query(...a) { return this.pool.query(...a); }

  connect(cb) {
    const p = this.checkOut();
    if (!cb) return p;
    p.then((c) => cb(undefined, c, c.release), (err) => cb(err));
  }

  async checkOut() {
    const client = await this.pool.connect();
    const lossy = this;
    return {
      on: (...a) => client.on(...a),
      removeListener: (...a) => client.removeListener(...a),
      release: (err) => client.release(err),
      async query(cfg) {
        const what = await lossy.plan(lossy.attempts.length, cfg.text, cfg.values);
        lossy.attempts.push({ what, values: cfg.values, text: cfg.text });
        if (what === 'before') throw new Error('Connection terminated unexpectedly');
        const res = await client.query(cfg);
        if (what === 'lose') throw new Error('Connection terminated unexpectedly');
        return res;
      },
    };
  }
}

/**
 * A server that speaks just enough of the protocol to complete a startup
 * and, in the same write as the ReadyForQuery, sends the FATAL 57P01 a
 * backend terminated at that moment sends; then it closes.  Resolves to
 * { port, connections(), close() }.
 */
export async function startTerminatingServer() {
  const net = await import('node:net');
  const msg = (type, body) => {
    const head = Buffer.alloc(5);
    head.write(type, 0, 'latin1');
    head.writeInt32BE(body.length + 4, 1);
    return Buffer.concat([head, body]);
  };
  const int32 = (n) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
  const fields = (f) => Buffer.concat([...Object.entries(f).map(([k, v]) => Buffer.from(`${k}${v}\0`)), Buffer.from([0])]);
  const reply = Buffer.concat([
    msg('R', int32(0)),
    msg('Z', Buffer.from('I')),
    msg('E', fields({ S: 'FATAL', V: 'FATAL', C: '57P01', M: 'terminating connection due to administrator command' })),
  ]);
  let n = 0;
  const sockets = new Set();
  const server = net.createServer((sock) => {
    n++;
    sockets.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
    sock.once('data', () => { sock.write(reply); sock.end(); });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    connections: () => n,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(r); }),
  };
}
