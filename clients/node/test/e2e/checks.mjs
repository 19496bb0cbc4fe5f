// The end-to-end tests' checks, through SQL, the same whether the workers
// were processes on a server or workers in one process on PGlite.
// `pool` is anything with query(text, params) -> { rows }.
import assert from 'node:assert/strict';

async function stored(pool, app, sessionId) {
  const r = await pool.query(
    `SELECT seq, message FROM session_store.get_messages($1, $2, $3)`, [app, ...sessionId]);
  return r.rows.map((x) => ({ seq: Number(x.seq), m: x.message }));
}

/** ADK: every event stored once, in order; app and user state of both workers. */
export async function checkAdk(pool, outs, SESSIONS, TURNS) {
  for (const out of outs) {
    assert.equal(Object.keys(out.sessions).length, SESSIONS);
    for (const [sid, yielded] of Object.entries(out.sessions)) {
      assert.equal(yielded.length, TURNS * 3, `${sid}: call, response, answer per turn`);
      const rows = await stored(pool, 'adk-e2e', ['e2e-user', sid]);
      // seq 1..N without a gap: nothing else was written, nothing lost
      assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => i + 1));
      assert.equal(rows.length, TURNS * 4, `${sid}: the user event and three more per turn`);
      const ids = rows.map((r) => r.m.id);
      assert.equal(new Set(ids).size, ids.length, `${sid}: an event stored twice`);
      assert.deepEqual(rows.filter((r) => r.m.author !== 'user').map((r) => r.m.id), yielded,
                       `${sid}: the runner's events in the order it yielded them`);
      assert.deepEqual(rows.filter((r) => r.m.author === 'user').map((r) => r.m.content.parts[0].text),
                       Array.from({ length: TURNS }, (_, t) => `${sid} turn ${t}`));
      const s = await pool.query('SELECT state, version FROM session_store.get_session($1, $2, $3)',
                                 ['adk-e2e', 'e2e-user', sid]);
      assert.equal(Number(s.rows[0].version), TURNS * 4);
      assert.equal(s.rows[0].state.turns, TURNS);
    }
  }
  // both processes' app- and user-state keys survived each other
  const app = (await pool.query("SELECT session_store.get_app_state('adk-e2e') AS s")).rows[0].s;
  assert.deepEqual(app, { tally_0: SESSIONS * TURNS, tally_1: SESSIONS * TURNS });
  const user = (await pool.query("SELECT session_store.get_user_state('adk-e2e', 'e2e-user') AS s")).rows[0].s;
  assert.deepEqual(user, { last_0: SESSIONS * TURNS, last_1: SESSIONS * TURNS });
}

/** OpenAI Agents: every item stored once, in order, the shared session's too. */
export async function checkOpenAI(pool, outs, SESSIONS, TURNS) {
  const kinds = (m) => m.type === 'function_call' ? 'call'
    : m.type === 'function_call_result' ? 'result' : m.role === 'user' ? 'user' : 'answer';
  const tagOf = (m) => m.role === 'user' ? m.content
    : m.type === 'function_call' ? JSON.parse(m.arguments).q
    : m.type === 'function_call_result' ? m.callId.slice('call-'.length)
    : m.content[0].text.slice('answer to '.length);
  const check = async (sid, workers) => {
    const rows = await stored(pool, 'oai-e2e', ['e2e-user', sid]);
    assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => i + 1), `${sid}: a gap`);
    assert.equal(rows.length, TURNS * 4 * workers.length, `${sid}: user, call, result, answer per turn`);
    const byTag = new Map();
    for (const r of rows) {
      const tag = tagOf(r.m);
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(kinds(r.m));
    }
    for (const w of workers) {
      const tags = [...byTag.keys()].filter((t) => t.startsWith(`w${w} `));
      assert.deepEqual(tags, Array.from({ length: TURNS }, (_, t) => `w${w} ${sid} turn ${t}`),
                       `${sid}: the turns of process ${w}, once each, in order`);
      for (const t of tags) assert.deepEqual(byTag.get(t), ['user', 'call', 'result', 'answer'], t);
    }
  };
  for (const w of [0, 1]) {
    for (let i = 0; i < SESSIONS; i++) await check(`w${w}-s${i}`, [w]);
  }
  await check('shared', [0, 1]);
  const writes = outs.map((o) => (o.calls.addItems ?? 0) + (o.calls.applyHistoryTransaction ?? 0));
  assert.ok(writes.every((n) => n > 0), JSON.stringify(outs));
}
