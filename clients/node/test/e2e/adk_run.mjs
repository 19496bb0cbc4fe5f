// One worker of the ADK end-to-end test: an ADK Runner whose agent's model
// is scripted (no network), persisting through the SessionStoreService
// given.  Used by adk_process.mjs (a process on a server) and by the PGlite
// test (workers in one process on one PGlite).
import { BaseLlm, FunctionTool, LlmAgent, Runner } from '@google/adk';

const APP = 'adk-e2e';
const USER = 'e2e-user';

/** A model that calls the tool once per turn, then answers with text. */
class ScriptedLlm extends BaseLlm {
  constructor() {
    super({ model: 'scripted' });
  }

  async *generateContentAsync(req) {
    const last = req.contents[req.contents.length - 1];
    const answered = last?.parts?.some((p) => p.functionResponse);
    const asked = req.contents.filter((c) => c.role === 'user' && c.parts?.some((p) => p.text)).at(-1);
    const question = asked?.parts.find((p) => p.text).text;
    if (!answered) {
      yield { content: { role: 'model', parts: [{ functionCall: { name: 'tally', args: { q: question } } }] } };
    } else {
      yield { content: { role: 'model', parts: [{ text: `answer to ${question}` }] }, turnComplete: true };
    }
  }

  async connect() {
    throw new Error('the scripted model has no live mode');
  }
}

export async function runAdk(service, worker, nSessions, nTurns) {
let tallies = 0;
const tally = new FunctionTool({
  name: 'tally',
  description: 'Counts the questions of this process.',
  execute: (_args, ctx) => {
    tallies++;
    ctx.state.set(`app:tally_${worker}`, tallies);
    ctx.state.set(`user:last_${worker}`, tallies);
    ctx.state.set('turns', (ctx.state.get('turns') ?? 0) + 1);
    return { tallies };
  },
});

const agent = new LlmAgent({ name: 'counter', model: new ScriptedLlm(), instruction: 'Count.', tools: [tally] });
const runner = new Runner({ appName: APP, agent, sessionService: service });

const out = {};
// The sessions of one worker run one after the other: its tally is a
// process-local counter, so with its sessions interleaved the append that
// commits last need not carry the highest count.  The two workers (two
// processes) still write the shared app and user rows at the same time.
for (let i = 0; i < Number(nSessions); i++) {
  const sessionId = `w${worker}-s${i}`;
  await service.createSession({ appName: APP, userId: USER, sessionId });
  const ids = (out[sessionId] = []);
  for (let t = 0; t < Number(nTurns); t++) {
    const newMessage = { role: 'user', parts: [{ text: `${sessionId} turn ${t}` }] };
    for await (const ev of runner.runAsync({ userId: USER, sessionId, newMessage })) {
      if (!ev.partial) ids.push(ev.id);
    }
  }
}
return { sessions: out };
}
