// The fault tests' workload, the same in the test process and in its child
// processes: the plain SessionStore, the ADK service and OpenAI sessions,
// each made from a pool config of its own (so with pools the client makes),
// writing while connections are killed or cut.  Every write carries a tag;
// `expected` is what must be stored afterwards, `verify` compares.
import { createEvent } from '@google/adk';

import { SessionStore, SessionStoreService, SessionStoreSession } from '../../dist/index.js';

const item = (tag) => ({ role: 'user', content: tag });
const event = (tag) => createEvent({ invocationId: 'inv', author: 'user',
                                     content: { role: 'user', parts: [{ text: tag }] } });

/** The tag of a stored message of either surface. */
export function tagOf(m) {
  if (typeof m.tag === 'string') return m.tag;
  if (typeof m.content === 'string') return m.content;
  return m.content?.parts?.[0]?.text;
}

function check(ok, what) {
  if (!ok) throw new Error(`workload: ${what}`);
}

/**
 * Runs `calls` rounds (more while `more(i)`), one after the other, the calls of a round at once
 * (nine sessions, one writer each).  Per round: a plain append on each of two sessions
 * and a read; an ADK appendEvent on each of two sessions (created by the
 * service, ids chosen by the client) and now and then a getSession; an
 * OpenAI addItems on each of two sessions (every sixth an append_items
 * history transaction instead) and a getItems; on one session per surface
 * writes that take messages away too (plain: rewind_session, OpenAI:
 * popItem, then clearSession half-way).  At the end a plain fork of a
 * session.  Rounds go on while fewer than `calls` or while `more(i)`.
 * `onRound(i)` is called before round i.  Returns { calls, expected } where expected is
 * { app, user, sessions: { id: { tags, gapFree } } }.
 */
export async function workload({ cfg, retry, tag, calls, more = () => false, app = 'faults', onRound = () => {} }) {
  const user = `u-${tag}`;
  const store = new SessionStore(cfg, { retry });
  const service = new SessionStoreService(cfg, { retry });
  const expected = {};
  let n = 0;
  const counted = async (p) => { const r = await p; n++; return r; };

  // plain: two append-only sessions, one rewound
  const plain = [];
  for (const k of [0, 1, 'r']) {
    const s = await counted(store.createSession(app, user, { sessionId: `${tag}-p${k}` }));
    plain.push(s.sessionId);
    expected[s.sessionId] = { tags: [], gapFree: k !== 'r' };
  }
  // ADK: the service picks no id, the client does
  const adk = [];
  for (let k = 0; k < 2; k++) {
    const s = await counted(service.createSession({ appName: app, userId: user, state: { k } }));
    adk.push(s);
    expected[s.id] = { tags: [], gapFree: true };
  }
  // OpenAI: the first write creates the session
  const oai = [0, 1, 'x'].map((k) => {
    const id = `${tag}-o${k}`;
    expected[id] = { tags: [], gapFree: k !== 'x' };
    // a PGlite instance goes as { pool }: spreading it would lose its methods
    const source = typeof cfg.query === 'function' ? { pool: cfg } : cfg;
    return new SessionStoreSession(id, { ...source, appName: app, userId: user, retry });
  });

  const round = async (i) => {
    const jobs = [];
    for (const sid of plain.slice(0, 2)) {
      jobs.push((async () => {
        const t = `${sid}#${i}`;
        const r = await counted(store.appendMessages(app, user, sid, [{ tag: t }]));
        expected[sid].tags.push(t);
        check(r.lastSeq === expected[sid].tags.length, `${sid}: seq ${r.lastSeq} for append ${expected[sid].tags.length}`);
        if (i % 5 === 4) {
          const last = await counted(store.getMessages(app, user, sid, { maxCount: 1 }));
          check(tagOf(last[0].message) === t, `${sid}: the last message read back`);
        }
      })());
    }
    jobs.push((async () => {
      const sid = plain[2];
      const t = `${sid}#${i}`;
      await counted(store.appendMessages(app, user, sid, [{ tag: t }, { tag: `${t}+` }]));
      expected[sid].tags.push(t, `${t}+`);
      if (i % 3 === 2) {
        const head = await counted(store.getSession(app, user, sid));
        const removed = await counted(store.rewindSession(app, user, sid, head.lastSeq - 1));
        check(removed === 1, `${sid}: rewind removed ${removed}`);
        expected[sid].tags.pop();
      }
    })());
    for (const s of adk) {
      jobs.push((async () => {
        const t = `${s.id}#${i}`;
        await counted(service.appendEvent({ session: s, event: event(t) }));
        expected[s.id].tags.push(t);
        if (i % 10 === 9) {
          const back = await counted(service.getSession({ appName: app, userId: user, sessionId: s.id }));
          check(back.events.length === s.events.length, `${s.id}: ${back.events.length} events, the copy has ${s.events.length}`);
        }
      })());
    }
    for (const [k, session] of oai.entries()) {
      jobs.push((async () => {
        const sid = await session.getSessionId();
        const t = `${sid}#${i}`;
        if (k === 2) {
          await counted(session.addItems([item(t), item(`${t}+`)]));
          expected[sid].tags.push(t, `${t}+`);
          if (i % 4 === 3) {
            const popped = await counted(session.popItem());
            check(popped?.content === `${t}+`, `${sid}: popped ${JSON.stringify(popped)}`);
            expected[sid].tags.pop();
          }
          if (i === Math.floor(calls / 2)) {
            await counted(session.clearSession());
            expected[sid].tags = [];
          }
          return;
        }
        if (i % 6 === 5) {
          await counted(session.applyHistoryTransaction({
            operationId: `op-${t}`, transaction: { type: 'append_items', items: [item(t)] } }));
        } else {
          await counted(session.addItems([item(t)]));
        }
        expected[sid].tags.push(t);
        if (i % 5 === 0) {
          const latest = await counted(session.getItems(1));
          check(latest[0]?.content === t, `${sid}: the latest item read back`);
        }
      })());
    }
    await Promise.all(jobs);
  };

  // rounds one after the other: each session has one writer, so its order is known
  for (let i = 0; i < calls || more(i); i++) {
    onRound(i);
    await round(i);
  }

  // a fork whose id the client picks: the copy of the first plain session
  const f = await counted(store.forkSession(app, user, plain[0]));
  expected[f.sessionId] = { tags: [...expected[plain[0]].tags], gapFree: true };

  await Promise.all([store.close(), service.close(), ...oai.map((s) => s.close())]);
  return { calls: n, expected: { app, user, sessions: expected } };
}

/**
 * What is stored against what was expected: per session the tags in seq
 * order must be exactly the expected ones (nothing lost, nothing doubled),
 * seq 1..n where nothing was taken away, and the user has exactly the
 * expected sessions (no session made twice by a retried create).  Returns
 * the counts; `problems` lists every difference.
 */
export async function verify(pool, { app, user, sessions }) {
  const problems = [];
  let stored = 0;
  let duplicates = 0;
  let losses = 0;
  const listed = await pool.query(
    'SELECT session_id FROM session_store.list_sessions($1, $2, 10000)', [app, user]);
  const ids = listed.rows.map((r) => r.session_id).sort();
  const want = Object.keys(sessions).sort();
  if (JSON.stringify(ids) !== JSON.stringify(want)) {
    problems.push(`sessions of ${user}: ${ids.length} stored, ${want.length} expected`);
  }
  for (const [sid, { tags, gapFree }] of Object.entries(sessions)) {
    const r = await pool.query('SELECT seq, message FROM session_store.get_messages($1, $2, $3)', [app, user, sid]);
    const seqs = r.rows.map((x) => Number(x.seq));
    const got = r.rows.map((x) => tagOf(x.message));
    stored += got.length;
    const counts = new Map();
    for (const t of got) counts.set(t, (counts.get(t) ?? 0) + 1);
    for (const c of counts.values()) if (c > 1) duplicates += c - 1;
    const have = new Set(got);
    for (const t of tags) if (!have.has(t)) losses++;
    if (JSON.stringify(got) !== JSON.stringify(tags)) {
      problems.push(`${sid}: stored ${got.length} [${got.slice(-3)}], expected ${tags.length} [${tags.slice(-3)}]`);
    }
    if (gapFree && seqs.some((s, i) => s !== i + 1)) problems.push(`${sid}: seq not 1..${seqs.length}`);
    if (seqs.some((s, i) => i > 0 && s <= seqs[i - 1])) problems.push(`${sid}: seq not increasing`);
  }
  return { sessions: want.length, stored, duplicates, losses, problems };
}
