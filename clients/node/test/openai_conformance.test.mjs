// SessionStoreSession against the contract points of the OpenAI Agents SDK's
// own session tests (agents-core memorySession, historyMutations, session
// capability guards), on the real @openai/agents package.  Each test is named
// after the point it checks; where the SDK's MemorySession is cheap to run
// beside ours, the same calls run on both and the results are compared.
// The divergences are tests of the documented behaviour, at the end.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  Agent, MemorySession, OutputGuardrailTripwireTriggered, UserError,
  isSessionHistoryRewriteAwareSession, isSessionHistoryTransactionAwareSession, run,
  setTracingDisabled, tool,
} from '@openai/agents';
import { ScriptedModel, assistantMessage, functionCall } from '@openai/agents-core/testing';
import pg from 'pg';

import { SessionStore, SessionStoreSession, VersionConflict } from '../dist/index.js';
import { dropDatabases, freshDatabase } from './databases.mjs';

setTracingDisabled(true);
let pool;
const APP = 'oai-conformance';
let counter = 0;

before(async () => {
  pool = new pg.Pool({ ...(await freshDatabase('oaiconf')), max: 8 });
});
after(async () => {
  await pool.end();
  await dropDatabases();
});

/** A session on a fresh id; `queries` counts the SQL statements it sends. */
function fresh(label) {
  const id = `${label}-${++counter}`;
  const queries = { n: 0 };
  const store = new SessionStore({ query: (c) => { queries.n++; return pool.query(c); } });
  const session = new SessionStoreSession(id, { store, appName: APP, userId: 'u' });
  return { id, session, queries };
}
/** A session holding `items`, as MemorySession's initialItems. */
async function withItems(label, items) {
  const f = fresh(label);
  await f.session.addItems(items);
  f.queries.n = 0;
  return f;
}

const user = (text) => ({ role: 'user', content: [{ type: 'input_text', text }] });
const fcall = (callId, name, args, id) => ({
  type: 'function_call', ...(id ? { id } : {}), callId, name, status: 'completed', arguments: args,
});
const append = (operationId, items) => ({ operationId, transaction: { type: 'append_items', items } });
/** As JSON keeps it: properties whose value is undefined are absent (a listed divergence). */
const asJson = (v) => JSON.parse(JSON.stringify(v));
const rejection = (p) => p.then(() => assert.fail('expected a rejection'), (e) => e);

describe('Session capabilities', () => {
  test('is a SessionHistoryTransactionAwareSession and a SessionHistoryRewriteAwareSession', () => {
    const { session } = fresh('guards');
    assert.ok(isSessionHistoryTransactionAwareSession(session));
    assert.ok(isSessionHistoryRewriteAwareSession(session));
  });
});

describe('MemorySession contract points', () => {
  test('stores and retrieves items', async () => {
    const initial = [user('hello')];
    const { id, session } = await withItems('store', initial);
    assert.equal(await session.getSessionId(), id);
    assert.deepEqual(await session.getItems(), initial);
    const next = [user('one'), user('two')];
    await session.addItems(next);
    assert.deepEqual(await session.getItems(), [...initial, ...next]);
    assert.deepEqual(await session.getItems(2), next);
    assert.deepEqual(await session.popItem(), next[1]);
    assert.deepEqual(await session.getItems(), [...initial, next[0]]);
    await session.clearSession();
    assert.deepEqual(await session.getItems(), []);
    assert.deepEqual(await session.getItems(3), []);
    assert.equal(await session.popItem(), undefined);
  });

  test('returns clones so external mutations do not persist', async () => {
    const { session } = await withItems('clones', [user('start')]);
    const items = await session.getItems();
    items[0].content = 'mutated';
    assert.deepEqual(await session.getItems(), [user('start')]);
    const next = user('next');
    await session.addItems([next]);
    next.content = 'mutated';
    assert.deepEqual(await session.getItems(), [user('start'), user('next')]);
    const popped = await session.popItem();
    assert.deepEqual(popped, user('next'));
    popped.content = 'mutated';
    assert.deepEqual(await session.getItems(), [user('start')]);
  });

  test('applies history mutations atomically', async () => {
    const initial = [user('start'), fcall('call-1', 'lookup', '{"ok":false}', 'call-old-1'),
                     fcall('call-1', 'lookup', '{"duplicate":true}', 'call-old-2')];
    const replacement = fcall('call-1', 'lookup', '{"ok":true}', 'call-new');
    const args = { mutations: [{ type: 'replace_function_call', callId: 'call-1', replacement }] };
    const { session, queries } = await withItems('mutations', initial);
    const mem = new MemorySession({ initialItems: initial });
    await session.applyHistoryMutations(args);
    await mem.applyHistoryMutations(args);
    assert.equal(queries.n, 2, 'one read with its version, one conditional replace_messages');
    assert.deepEqual(await session.getItems(), [user('start'), replacement]);
    assert.deepEqual(await session.getItems(), await mem.getItems());
  });

  test('replaces matching function calls once and removes duplicates', async () => {
    const replacement = fcall('call_1', 'fixed', '{"ok":true}');
    const initial = [user('before'), fcall('call_1', 'broken', '{}'), fcall('call_2', 'keep', '{}'),
                     fcall('call_1', 'duplicate', '{}'), user('after')];
    const { session } = await withItems('mutation-dups', initial);
    await session.applyHistoryMutations({ mutations: [{ type: 'replace_function_call', callId: 'call_1', replacement }] });
    assert.deepEqual(await session.getItems(),
                     [user('before'), replacement, fcall('call_2', 'keep', '{}'), user('after')]);
  });

  test('history mutations that change nothing write nothing', async () => {
    const { session, queries } = await withItems('mutation-noop', [user('a')]);
    await session.applyHistoryMutations({ mutations: [] });
    assert.equal(queries.n, 0);
    await session.applyHistoryMutations({ mutations: [{ type: 'replace_function_call', callId: 'absent', replacement: fcall('absent', 'f', '{}') }] });
    assert.equal(queries.n, 1, 'the read only');
    assert.deepEqual(await session.getItems(), [user('a')]);
    const never = fresh('mutation-never-written');
    await never.session.applyHistoryMutations({ mutations: [{ type: 'replace_function_call', callId: 'c', replacement: fcall('c', 'f', '{}') }] });
    assert.deepEqual(await never.session.getItems(), []);
  });

  test('applies append transactions idempotently', async () => {
    const { session } = await withItems('tx-append', [user('start')]);
    const appended = user('committed');
    await session.applyHistoryTransaction(append('operation-append-1', [appended]));
    appended.content = 'mutated';
    await session.addItems([user('later')]);
    await session.applyHistoryTransaction(append('operation-append-1', [user('committed')]));
    assert.deepEqual(await session.getItems(), [user('start'), user('committed'), user('later')]);
  });

  test('replaces an exact history suffix idempotently', async () => {
    const { session } = await withItems('tx-replace', [user('start'), user('blocked')]);
    const tx = { operationId: 'operation-replace-1',
                 transaction: { type: 'replace_suffix', expectedSuffix: [user('blocked')], replacement: [user('accepted')] } };
    await session.applyHistoryTransaction(tx);
    await session.addItems([user('later')]);
    await session.applyHistoryTransaction(tx);
    assert.deepEqual(await session.getItems(), [user('start'), user('accepted'), user('later')]);
  });

  test('rejects a suffix mismatch without recording the operation', async () => {
    const { session } = await withItems('tx-mismatch', [user('start')]);
    const err = await rejection(session.applyHistoryTransaction({ operationId: 'operation-replace-after-conflict',
      transaction: { type: 'replace_suffix', expectedSuffix: [user('different')], replacement: [user('accepted')] } }));
    assert.ok(err instanceof UserError);
    assert.match(err.message, /suffix no longer matches/);
    assert.deepEqual(await session.getItems(), [user('start')]);
    await session.applyHistoryTransaction({ operationId: 'operation-replace-after-conflict',
      transaction: { type: 'replace_suffix', expectedSuffix: [user('start')], replacement: [user('accepted')] } });
    assert.deepEqual(await session.getItems(), [user('accepted')]);
  });

  test('rejects operation ID reuse with different content', async () => {
    const { session } = fresh('tx-reuse');
    await session.applyHistoryTransaction(append('operation-conflict', [user('first')]));
    const err = await rejection(session.applyHistoryTransaction(append('operation-conflict', [user('second')])));
    assert.ok(err instanceof UserError);
    assert.match(err.message, /already applied with a different transaction/);
    assert.deepEqual(await session.getItems(), [user('first')]);
  });

  test('records an empty append transaction', async () => {
    const { session } = fresh('tx-empty');
    await session.applyHistoryTransaction(append('operation-empty', []));
    const err = await rejection(session.applyHistoryTransaction(append('operation-empty', [user('unexpected')])));
    assert.match(err.message, /already applied with a different transaction/);
    assert.deepEqual(await session.getItems(), []);
  });

  test('rejects invalid transaction input before mutation', async () => {
    const { session, queries } = await withItems('tx-invalid', [user('start')]);
    const cases = [
      [{ operationId: '   ', transaction: { type: 'append_items', items: [] } }, 'Session history transaction operationId must be a non-empty string.'],
      [{ operationId: 'operation-unknown', transaction: { type: 'unknown' } }, 'Unsupported session history transaction type.'],
      [{ operationId: 'operation-missing-transaction', transaction: null }, 'Session history transaction must be an object.'],
      [{ operationId: 'operation-invalid-item', transaction: { type: 'append_items', items: [42] } }, 'Session history transaction items contain invalid or unsupported data.'],
      [null, 'Session history transaction arguments are invalid.'],
    ];
    const mem = new MemorySession();
    for (const [args, message] of cases) {
      const ours = await rejection(session.applyHistoryTransaction(args));
      const theirs = await rejection(mem.applyHistoryTransaction(args));
      assert.ok(ours instanceof UserError, String(ours));
      assert.equal(ours.message, message);
      assert.equal(ours.message, theirs.message);
    }
    assert.equal(queries.n, 0, 'nothing sent');
    assert.deepEqual(await session.getItems(), [user('start')]);
  });

  test('rejects unsupported transaction metadata before mutation', async () => {
    const { session, queries } = await withItems('tx-unsupported', [user('start')]);
    const withDate = { ...user('unsupported'), providerData: { timestamp: new Date(0) } };
    const cycle = {};
    cycle.self = cycle;
    const withCycle = { ...user('cyclic'), providerData: cycle };
    const withBigInt = { ...user('bigint'), providerData: { value: 42n } };
    for (const [operationId, items] of [['operation-date', [withDate]], ['operation-cycle', [withCycle]],
                                        ['operation-bigint', [withBigInt]], ['operation-sparse', new Array(1)]]) {
      const err = await rejection(session.applyHistoryTransaction(append(operationId, items)));
      assert.ok(err instanceof UserError, operationId);
      assert.equal(err.message, 'Session history transaction items contain invalid or unsupported data.');
    }
    assert.equal(queries.n, 0);
    assert.deepEqual(await session.getItems(), [user('start')]);
  });

  test('rejects non-enumerable metadata before mutation', async () => {
    const { session } = await withItems('tx-nonenum', [user('start')]);
    const item = user('unsupported');
    Object.defineProperty(item, 'providerData', { enumerable: false, value: { hidden: true } });
    const err = await rejection(session.applyHistoryTransaction(append('operation-non-enumerable', [item])));
    assert.match(err.message, /items contain invalid or unsupported data/);
    assert.deepEqual(await session.getItems(), [user('start')]);
    await session.applyHistoryTransaction(append('operation-non-enumerable', [user('retry')]));
    assert.deepEqual(await session.getItems(), [user('start'), user('retry')]);
  });

  test('rejects unexpected transaction fields before mutation', async () => {
    const { session, queries } = await withItems('tx-fields', [user('start')]);
    const e1 = await rejection(session.applyHistoryTransaction({ operationId: 'operation-unexpected-append-field',
      transaction: { type: 'append_items', items: [user('unsupported')], metadata: { attempt: 1 } } }));
    assert.equal(e1.message, 'Session history append transaction fields are invalid.');
    const e2 = await rejection(session.applyHistoryTransaction({ operationId: 'operation-unexpected-suffix-field',
      transaction: { type: 'replace_suffix', expectedSuffix: [user('start')], replacement: [user('unsupported')], metadata: { attempt: 1 } } }));
    assert.equal(e2.message, 'Session history suffix transaction fields are invalid.');
    assert.ok(e1 instanceof UserError && e2 instanceof UserError);
    assert.equal(queries.n, 0);
    await session.applyHistoryTransaction(append('operation-unexpected-append-field', [user('retry')]));
    assert.deepEqual(await session.getItems(), [user('start'), user('retry')]);
  });

  test('does not expose transaction content in snapshot errors', async () => {
    const { session } = fresh('tx-redact');
    const item = { ...user('unsupported'), providerData: { secret: Symbol('api-key-secret') } };
    const err = await rejection(session.applyHistoryTransaction(append('operation-sensitive-invalid', [item])));
    assert.ok(err instanceof UserError);
    assert.equal(err.message, 'Session history transaction items contain invalid or unsupported data.');
    assert.doesNotMatch(`${err.message} ${err.stack} ${String(err.cause ?? '')}`, /api-key-secret/);
    assert.deepEqual(await session.getItems(), []);
  });

  test('canonicalizes ordinary object prototypes for retries and suffixes', async () => {
    const { session } = fresh('tx-canonical');
    const appended = { ...user('canonical'), providerData: Object.assign(Object.create(null), { source: 'provider' }) };
    await session.applyHistoryTransaction(append('operation-canonical-append', [appended]));
    const [roundTripped] = await session.getItems();
    await session.applyHistoryTransaction(append('operation-canonical-append', [roundTripped]));
    await session.applyHistoryTransaction({ operationId: 'operation-canonical-replace',
      transaction: { type: 'replace_suffix', expectedSuffix: [appended], replacement: [user('replaced')] } });
    assert.deepEqual(await session.getItems(), [user('replaced')]);
  });

  test('rejects unsupported cloned values without recording the operation', async () => {
    const { session, queries } = fresh('tx-clones');
    const typed = { ...user('unsupported-typed-array'), providerData: { values: new Uint16Array([300]) } };
    const proxied = new Proxy([user('proxied')], {});
    for (const items of [[typed], proxied]) {
      const err = await rejection(session.applyHistoryTransaction(append('operation-rejected-clone', items)));
      assert.ok(err instanceof UserError);
      assert.equal(err.message, 'Session history transaction items contain invalid or unsupported data.');
    }
    assert.equal(queries.n, 0);
    await session.applyHistoryTransaction(append('operation-rejected-clone', [user('accepted-after-rejections')]));
    assert.deepEqual(await session.getItems(), [user('accepted-after-rejections')]);
  });

  test('reads the transaction envelope once and redacts accessor errors', async () => {
    const { session, queries } = fresh('tx-envelope');
    let reads = 0;
    const args = { transaction: { type: 'append_items', items: [user('once')] } };
    Object.defineProperty(args, 'operationId', {
      enumerable: true, get: () => (++reads === 1 ? 'operation-read-once' : 'changed'),
    });
    await session.applyHistoryTransaction(args);
    assert.equal(reads, 1);
    reads = 0;
    await session.applyHistoryTransaction(args);
    assert.equal(reads, 1);
    assert.deepEqual(await session.getItems(), [user('once')]);

    const throwing = {};
    Object.defineProperty(throwing, 'operationId', { get: () => { throw new Error('api-key-secret'); } });
    queries.n = 0;
    const err = await rejection(session.applyHistoryTransaction(throwing));
    assert.ok(err instanceof UserError);
    assert.equal(err.message, 'Session history transaction arguments are invalid.');
    assert.equal(err.cause, undefined, 'the getter\'s error is not attached');
    assert.doesNotMatch(String(err.stack), /api-key-secret/);
    assert.equal(queries.n, 0);
  });

  test('a getter inside the transaction is refused without being called', async () => {
    const { session } = fresh('tx-getter');
    let called = false;
    const item = user('x');
    Object.defineProperty(item, 'providerData', { enumerable: true, get: () => { called = true; throw new Error('api-key-secret'); } });
    const err = await rejection(session.applyHistoryTransaction(append('op', [item])));
    assert.equal(err.message, 'Session history transaction items contain invalid or unsupported data.');
    assert.equal(called, false);
  });
});

describe('History mutations under concurrent writers', () => {
  const replacement = fcall('c1', 'fixed', '{"ok":true}');
  const mutation = { mutations: [{ type: 'replace_function_call', callId: 'c1', replacement }] };

  /** A session whose store runs `between` once, after its first read and before its first write. */
  function interleaved(id, between) {
    let done = false;
    const store = new SessionStore({ query: async (c) => {
      const text = typeof c === 'string' ? c : c.text;
      if (!done && text.includes('replace_messages')) { done = true; await between(); }
      return pool.query(c);
    } });
    return new SessionStoreSession(id, { store, appName: APP, userId: 'u', mutationAttempts: 2 });
  }

  test('a mutation raced by an append applies whole on a fresh read, the append kept', async () => {
    const { id, session } = await withItems('race-append', [user('q'), fcall('c1', 'broken', '{}'), user('r')]);
    const other = new SessionStoreSession(id, { pool, appName: APP, userId: 'u' });
    await interleaved(id, () => other.addItems([fcall('c1', 'late-duplicate', '{}')])).applyHistoryMutations(mutation);
    assert.deepEqual(await session.getItems(), [user('q'), replacement, user('r')]);
  });

  test('a mutation raced by a rewrite that keeps the latest items is never half-applied', async () => {
    // The other writer puts a second call c1 before the part the mutation
    // read as its suffix, which it leaves equal: only the version shows it.
    const { id, session } = await withItems('race-rewrite', [user('q'), fcall('c1', 'broken', '{}'), user('r')]);
    const other = new SessionStoreSession(id, { pool, appName: APP, userId: 'u' });
    await interleaved(id, () => other.applyHistoryTransaction({ operationId: 'rewrite',
      transaction: { type: 'replace_suffix', expectedSuffix: [user('q'), fcall('c1', 'broken', '{}'), user('r')],
                     replacement: [fcall('c1', 'early', '{}'), fcall('c1', 'broken', '{}'), user('r')] } }))
      .applyHistoryMutations(mutation);
    assert.deepEqual(await session.getItems(), [replacement, user('r')]);
  });

  test('a mutation raced on every attempt fails with VersionConflict and changes nothing', async () => {
    const { id, session } = await withItems('race-always', [user('q'), fcall('c1', 'broken', '{}')]);
    const other = new SessionStoreSession(id, { pool, appName: APP, userId: 'u' });
    let n = 0;
    const store = new SessionStore({ query: async (c) => {
      const text = typeof c === 'string' ? c : c.text;
      if (text.includes('replace_messages')) await other.addItems([user(`w${++n}`)]);
      return pool.query(c);
    } });
    const s = new SessionStoreSession(id, { store, appName: APP, userId: 'u', mutationAttempts: 3 });
    const err = await rejection(s.applyHistoryMutations(mutation));
    assert.ok(err instanceof VersionConflict, String(err));
    assert.equal(n, 3);
    assert.deepEqual(await session.getItems(), [user('q'), fcall('c1', 'broken', '{}'), user('w1'), user('w2'), user('w3')]);
  });

  test('two writers mutating at once: both mutations land, each whole', async () => {
    const { id, session } = await withItems('race-two', [fcall('a', 'x', '{}'), fcall('b', 'x', '{}'), fcall('a', 'x', '{"d":1}')]);
    const ra = fcall('a', 'fixed-a', '{}');
    const rb = fcall('b', 'fixed-b', '{}');
    await Promise.all([
      new SessionStoreSession(id, { pool, appName: APP, userId: 'u' }).applyHistoryMutations({ mutations: [{ type: 'replace_function_call', callId: 'a', replacement: ra }] }),
      new SessionStoreSession(id, { pool, appName: APP, userId: 'u' }).applyHistoryMutations({ mutations: [{ type: 'replace_function_call', callId: 'b', replacement: rb }] }),
    ]);
    assert.deepEqual(await session.getItems(), [ra, rb]);
  });
});

describe('Runner with the session', () => {
  const lookup = tool({
    name: 'lookup', description: 'Looks up.', strict: true,
    parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'], additionalProperties: false },
    execute: async ({ q }) => `found ${q}`,
  });
  const script = () => new ScriptedModel([
    [functionCall('lookup', { q: 'x' }, { callId: 'call-1', id: 'fc-1' })],
    [assistantMessage('done', { id: 'msg-1' })],
    [assistantMessage('second turn', { id: 'msg-2' })],
  ]);

  test('run() leaves the same history as on MemorySession, turn after turn', async () => {
    const { session } = fresh('runner');
    const mem = new MemorySession();
    for (const s of [session, mem]) {
      const agent = new Agent({ name: 'a', instructions: 'i', model: script(), tools: [lookup] });
      await run(agent, 'first', { session: s });
      await run(agent, 'again', { session: s });
    }
    const ours = await session.getItems();
    assert.ok(ours.length >= 5, JSON.stringify(ours));
    assert.deepEqual(ours, asJson(await mem.getItems()));
  });

  test('a tripped output guardrail leaves the same history as on MemorySession', async () => {
    const guard = { name: 'no-done', execute: async ({ agentOutput }) => ({
      tripwireTriggered: String(agentOutput).includes('done'), outputInfo: {} }) };
    const { session } = fresh('runner-guardrail');
    const mem = new MemorySession();
    for (const s of [session, mem]) {
      const agent = new Agent({ name: 'a', instructions: 'i', model: script(), tools: [lookup], outputGuardrails: [guard] });
      const err = await rejection(run(agent, 'first', { session: s }));
      assert.ok(err instanceof OutputGuardrailTripwireTriggered, String(err));
    }
    assert.deepEqual(await session.getItems(), asJson(await mem.getItems()));
  });
});

describe('Documented divergences', () => {
  test('bytes (Uint8Array) are stored as their base64 text', async () => {
    const { session } = fresh('bytes');
    const shared = new Uint8Array(new SharedArrayBuffer(2));
    shared.set([3, 7]);
    await session.applyHistoryTransaction(append('operation-shared-binary', [{ ...user('binary'), providerData: { bytes: shared } }]));
    shared[0] = 9;
    // the same bytes again are the same operation
    await session.applyHistoryTransaction(append('operation-shared-binary', [{ ...user('binary'), providerData: { bytes: new Uint8Array([3, 7]) } }]));
    const [stored, ...rest] = await session.getItems();
    assert.equal(rest.length, 0);
    assert.equal(stored.providerData.bytes, 'Awc=');
    await session.addItems([{ ...user('b'), providerData: { bytes: new Uint8Array([255]) } }]);
    assert.equal((await session.getItems(1))[0].providerData.bytes, '/w==');
  });

  test('numbers that are not finite and undefined array elements are refused in transactions', async () => {
    const { session, queries } = fresh('nonfinite');
    for (const providerData of [{ n: NaN }, { n: Infinity }, { list: [1, undefined] }]) {
      const err = await rejection(session.applyHistoryTransaction(append('op', [{ ...user('x'), providerData }])));
      assert.ok(err instanceof UserError);
      assert.equal(err.message, 'Session history transaction items contain invalid or unsupported data.');
    }
    assert.equal(queries.n, 0);
    // MemorySession keeps them
    await new MemorySession().applyHistoryTransaction(append('op', [{ ...user('x'), providerData: { n: NaN } }]));
  });

  test('addItems stores JSON: a Date comes back as its ISO text, what structuredClone refuses is refused', async () => {
    const { session, queries } = fresh('additems-json');
    await session.addItems([{ ...user('d'), providerData: { at: new Date(0), gone: undefined } }]);
    assert.deepEqual((await session.getItems())[0].providerData, { at: '1970-01-01T00:00:00.000Z' });
    queries.n = 0;
    const err = await rejection(session.addItems([{ ...user('s'), providerData: { f: () => 1 } }]));
    assert.equal(err.name, 'DataCloneError');
    const mem = await rejection(new MemorySession().addItems([{ ...user('s'), providerData: { f: () => 1 } }]));
    assert.equal(mem.name, 'DataCloneError');
    assert.equal(queries.n, 0);
  });

  test('a property whose value is undefined is not stored (MemorySession keeps the key)', async () => {
    const { session } = fresh('undefined-prop');
    const item = { ...user('u'), providerData: undefined };
    await session.applyHistoryTransaction(append('op', [item]));
    assert.deepEqual(await session.getItems(), [user('u')]);
    // so the same operation without the key is a replay here, a conflict in MemorySession
    await session.applyHistoryTransaction(append('op', [user('u')]));
    assert.equal((await session.getItems()).length, 1);
    const mem = new MemorySession();
    await mem.applyHistoryTransaction(append('op', [item]));
    assert.ok(Object.hasOwn((await mem.getItems())[0], 'providerData'));
    const err = await rejection(mem.applyHistoryTransaction(append('op', [user('u')])));
    assert.match(err.message, /already applied with a different transaction/);
  });

  test('divergence: an operation id used again after clearSession replays its first result (MemorySession applies it again)', async () => {
    // SDK point: "resets transaction identities when the session is cleared".
    // Here the keys live as long as the session row, which clearSession keeps.
    const tx = append('operation-after-reset', [user('committed')]);
    const { session } = fresh('tx-reset');
    await session.applyHistoryTransaction(tx);
    await session.clearSession();
    await session.applyHistoryTransaction(tx);
    assert.deepEqual(await session.getItems(), [], 'replayed: not applied again');
    const mem = new MemorySession();
    await mem.applyHistoryTransaction(tx);
    await mem.clearSession();
    await mem.applyHistoryTransaction(tx);
    assert.deepEqual(await mem.getItems(), [user('committed')], 'MemorySession applies it again');
  });

  test('divergence: an operation id used again after clearSession with other content is refused (MemorySession accepts it)', async () => {
    const { session } = fresh('tx-reset-other');
    await session.applyHistoryTransaction(append('operation-after-reset', [user('committed')]));
    await session.clearSession();
    const err = await rejection(session.applyHistoryTransaction(append('operation-after-reset', [user('other')])));
    assert.ok(err instanceof UserError);
    assert.equal(err.message, 'Session history operation was already applied with a different transaction.');
    assert.deepEqual(await session.getItems(), []);
    const mem = new MemorySession();
    await mem.applyHistoryTransaction(append('operation-after-reset', [user('committed')]));
    await mem.clearSession();
    await mem.applyHistoryTransaction(append('operation-after-reset', [user('other')]));
    assert.deepEqual(await mem.getItems(), [user('other')]);
  });

  test('clearSession keeps the session row: still listed, one clear_session', async () => {
    const { id, session, queries } = await withItems('clear-row', [user('a'), user('b')]);
    const store = new SessionStore(pool);
    const listed = async () => (await store.listSessions(APP, { userId: 'u', pageSize: 1000 })).some((s) => s.sessionId === id);
    await session.clearSession();
    assert.equal(queries.n, 1);
    assert.ok(await listed());
    assert.deepEqual(await session.getItems(), []);
    await session.addItems([user('c')]);
    assert.deepEqual((await store.getMessages(APP, 'u', id)).map((m) => m.seq), [3], 'numbering continues');
    await fresh('clear-never-written').session.clearSession();   // a session never written: nothing to clear
  });
});
