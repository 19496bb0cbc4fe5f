// One worker of the OpenAI Agents end-to-end test: run() with a scripted
// Model (no network), persisting through SessionStoreSession on the store
// given.  Each worker runs TURNS turns on SESSIONS sessions of its own and
// on the session "shared", which both workers use at once.  Used by
// openai_process.mjs and by the PGlite test.
import { Agent, Usage, run, setTracingDisabled, tool } from '@openai/agents';
import { SessionStoreSession } from '../../dist/index.js';

const APP = 'oai-e2e';
setTracingDisabled(true);   // no exporter, no network
const USER = 'e2e-user';

const lastUserText = (input) => {
  const items = typeof input === 'string' ? [{ role: 'user', content: input }] : input;
  const u = items.filter((i) => i.role === 'user').at(-1);
  return typeof u.content === 'string' ? u.content : u.content.map((c) => c.text).join('');
};

/** Calls the tool once per turn, then answers. */
class ScriptedModel {
  async getResponse(request) {
    const items = typeof request.input === 'string' ? [] : request.input;
    const last = items.at(-1);
    const tag = lastUserText(request.input);
    const output = last?.type === 'function_call_result'
      ? [{ type: 'message', role: 'assistant', status: 'completed', id: `msg-${tag}`,
           content: [{ type: 'output_text', text: `answer to ${tag}` }] }]
      : [{ type: 'function_call', callId: `call-${tag}`, name: 'tally', id: `fc-${tag}`,
           arguments: JSON.stringify({ q: tag }), status: 'completed' }];
    return { usage: new Usage(), output, responseId: `resp-${tag}-${output[0].type}` };
  }

  async *getStreamedResponse() {
    throw new Error('the scripted model does not stream');
  }
}

const tally = tool({
  name: 'tally',
  description: 'Counts a question.',
  parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'], additionalProperties: false },
  strict: true,
  execute: async ({ q }) => `counted ${q}`,
});

export async function runOpenAI(store, worker, nSessions, nTurns) {
const agent = new Agent({ name: 'counter', instructions: 'Count.', model: new ScriptedModel(), tools: [tally] });

const calls = {};
const sessionIds = [...Array.from({ length: Number(nSessions) }, (_, i) => `w${worker}-s${i}`), 'shared'];
await Promise.all(sessionIds.map(async (sid) => {
  const session = new SessionStoreSession(sid, { store, appName: APP, userId: USER });
  for (const m of ['addItems', 'applyHistoryTransaction', 'popItem', 'clearSession']) {
    const orig = session[m].bind(session);
    session[m] = (...a) => { calls[m] = (calls[m] ?? 0) + 1; return orig(...a); };
  }
  for (let t = 0; t < Number(nTurns); t++) {
    const result = await run(agent, `w${worker} ${sid} turn ${t}`, { session });
    if (result.finalOutput !== `answer to w${worker} ${sid} turn ${t}`) {
      throw new Error(`unexpected output ${result.finalOutput}`);
    }
  }
}));
return { calls };
}
