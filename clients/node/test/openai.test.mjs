// SessionStoreSession against the real @openai/agents package.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemorySession, UserError, isSessionHistoryTransactionAwareSession } from '@openai/agents';
import pg from 'pg';

import {
  IdempotencyConflict, SessionStore, SessionStoreError, SessionStoreSession, SuffixMismatch, VersionConflict,
} from '../dist/index.js';
import { dropDatabases, freshDatabase } from './databases.mjs';

let pool;
const APP = 'oai-app';

before(async () => {
  pool = new pg.Pool({ ...(await freshDatabase('openai')), max: 8 });
});
after(async () => {
  await pool.end();
  await dropDatabases();
});

const msg = (role, text) => role === 'user'
  ? { type: 'message', role: 'user', content: text }
  : { type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text }] };
const session = (id) => new SessionStoreSession(id, { pool, appName: APP, userId: 'u' });

describe('SessionStoreSession', () => {
  test('implements the transaction-aware Session of the SDK', () => {
    assert.ok(isSessionHistoryTransactionAwareSession(session('t0')));
  });

  test('getSessionId, addItems, getItems(limit), popItem, clearSession', async () => {
    const s = session('basic');
    assert.equal(await s.getSessionId(), 'basic');
    assert.deepEqual(await s.getItems(), [], 'a session never written is empty');
    assert.equal(await s.popItem(), undefined);
    await s.clearSession();
    const items = [msg('user', 'hi'), msg('assistant', 'hello'),
                   { type: 'function_call', callId: 'c1', name: 'f', arguments: '{"a":1}', status: 'completed' }];
    await s.addItems(items.slice(0, 2));
    await s.addItems([]);
    await s.addItems(items.slice(2));
    assert.deepEqual(await s.getItems(), items);
    assert.deepEqual(await s.getItems(2), items.slice(1));
    assert.deepEqual(await s.getItems(0), []);
    assert.deepEqual(await s.popItem(), items[2]);
    assert.deepEqual(await s.getItems(), items.slice(0, 2));
    await s.clearSession();
    assert.deepEqual(await s.getItems(), []);
    await s.addItems([msg('user', 'after clear')]);
    assert.equal((await s.getItems()).length, 1);
  });

  test('behaves like the SDK MemorySession on the same calls', async () => {
    const ours = session('same-as-memory');
    const mem = new MemorySession({ sessionId: 'm' });
    const script = [
      ['addItems', [msg('user', 'a'), msg('assistant', 'b')]],
      ['popItem'],
      ['addItems', [msg('user', 'c')]],
      ['getItems', 1],
      ['applyHistoryTransaction', { operationId: 'op1', transaction: { type: 'append_items', items: [msg('assistant', 'd')] } }],
      ['applyHistoryTransaction', { operationId: 'op1', transaction: { type: 'append_items', items: [msg('assistant', 'd')] } }],
      ['applyHistoryTransaction', { operationId: 'op2', transaction: { type: 'replace_suffix', expectedSuffix: [msg('user', 'c'), msg('assistant', 'd')], replacement: [msg('assistant', 'e')] } }],
      ['getItems'],
    ];
    for (const [name, arg] of script) {
      const a = await ours[name](arg);
      const b = await mem[name](arg);
      assert.deepEqual(a, b, name);
    }
    assert.deepEqual(await ours.getItems(), [msg('user', 'a'), msg('assistant', 'e')]);
  });

  test('append_items: idempotent by operationId, one statement, other content refused', async () => {
    const s = session('tx-append');
    await s.addItems([msg('user', 'q')]);
    let n = 0;
    const counted = new SessionStoreSession('tx-append', {
      store: new SessionStore({ query: (c) => { n++; return pool.query(c); } }), appName: APP, userId: 'u' });
    const args = { operationId: 'run1:1:append:0:2', transaction: { type: 'append_items', items: [msg('assistant', 'a1'), msg('assistant', 'a2')] } };
    await counted.applyHistoryTransaction(args);
    assert.equal(n, 1);
    await counted.applyHistoryTransaction(structuredClone(args));
    assert.equal(n, 2);
    assert.equal((await s.getItems()).length, 3, 'applied once');
    const other = { operationId: args.operationId, transaction: { type: 'append_items', items: [msg('assistant', 'other')] } };
    const err = await s.applyHistoryTransaction(other).catch((e) => e);
    assert.ok(err instanceof UserError, String(err));
    assert.match(err.message, /already applied with a different transaction/);
    assert.ok(err.cause instanceof IdempotencyConflict);
    assert.equal((await s.getItems()).length, 3, 'nothing written');
  });

  test('replace_suffix: applied only while the suffix matches, atomically', async () => {
    const s = session('tx-replace');
    await s.addItems([msg('user', 'q'), msg('assistant', 'draft')]);
    await s.applyHistoryTransaction({ operationId: 'r1', transaction: { type: 'replace_suffix', expectedSuffix: [msg('assistant', 'draft')], replacement: [msg('assistant', 'final'), msg('assistant', 'more')] } });
    assert.deepEqual(await s.getItems(), [msg('user', 'q'), msg('assistant', 'final'), msg('assistant', 'more')]);
    // replayed: not applied again
    await s.applyHistoryTransaction({ operationId: 'r1', transaction: { type: 'replace_suffix', expectedSuffix: [msg('assistant', 'draft')], replacement: [msg('assistant', 'final'), msg('assistant', 'more')] } });
    assert.equal((await s.getItems()).length, 3);
    const err = await s.applyHistoryTransaction({ operationId: 'r2', transaction: { type: 'replace_suffix', expectedSuffix: [msg('assistant', 'draft')], replacement: [] } }).catch((e) => e);
    assert.ok(err instanceof UserError, String(err));
    assert.match(err.message, /suffix no longer matches/);
    assert.ok(err.cause instanceof SuffixMismatch);
    assert.equal((await s.getItems()).length, 3, 'nothing written');
    // a failed operation id was not recorded: it can be used for a valid one
    await s.applyHistoryTransaction({ operationId: 'r2', transaction: { type: 'replace_suffix', expectedSuffix: [msg('assistant', 'more')], replacement: [] } });
    assert.equal((await s.getItems()).length, 2);
    // the same id for another kind of transaction is refused too
    const e2 = await s.applyHistoryTransaction({ operationId: 'r2', transaction: { type: 'append_items', items: [] } }).catch((e) => e);
    assert.ok(e2 instanceof UserError, String(e2));
  });

  test('concurrent replace_suffix on one expected suffix: exactly one wins', async () => {
    const s = session('tx-race');
    await s.addItems([msg('user', 'q'), msg('assistant', 'draft')]);
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) =>
      session('tx-race').applyHistoryTransaction({ operationId: `race-${i}`, transaction: { type: 'replace_suffix', expectedSuffix: [msg('assistant', 'draft')], replacement: [msg('assistant', `w${i}`)] } })));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.ok(results.filter((r) => r.status === 'rejected').every((r) => r.reason instanceof UserError));
    assert.equal((await s.getItems()).length, 2);
  });

  test('applyHistoryMutations on an item JavaScript cannot hold exactly: read again once, then a clear error, nothing changed', async () => {
    // Another client stored an integer above 2^53: JS reads 12345678901234567000,
    // which the server's jsonb equality tells from the stored value.
    const id = 'unrepresentable';
    await new SessionStore(pool).createSession(APP, 'u', { sessionId: id });
    await pool.query(`SELECT session_store.append_messages($1, $2, $3, '[
        {"type": "function_call", "callId": "c1", "name": "broken", "arguments": "{}", "status": "completed"},
        {"type": "message", "role": "user", "content": "x", "providerData": {"id": 12345678901234567890}}]'::jsonb)`,
                      [APP, 'u', id]);
    const sent = [];
    const store = new SessionStore({ query: (c) => { sent.push(c.text ?? c); return pool.query(c); } });
    const s = new SessionStoreSession(id, { store, appName: APP, userId: 'u' });
    const replacement = { type: 'function_call', callId: 'c1', name: 'fixed', arguments: '{}', status: 'completed' };
    const err = await s.applyHistoryMutations({ mutations: [{ type: 'replace_function_call', callId: 'c1', replacement }] })
      .then(() => assert.fail('expected a rejection'), (e) => e);
    assert.ok(err instanceof SessionStoreError, String(err));
    assert.ok(!(err instanceof VersionConflict), 'not a conflict: reading again cannot help');
    assert.match(err.message, /values JavaScript cannot represent exactly/);
    assert.ok(err.cause instanceof SuffixMismatch);
    assert.deepEqual(sent.map((t) => (t.includes('replace_messages') ? 'write' : 'read')),
                     ['read', 'write', 'read', 'write'], 'one read again, no more');
    const stored = await pool.query(
      'SELECT message::text AS m FROM session_store.get_messages($1, $2, $3) ORDER BY seq', [APP, 'u', id]);
    assert.match(stored.rows[0].m, /"broken"/, 'nothing changed');
    assert.match(stored.rows[1].m, /12345678901234567890/);
  });

  test('invalid transaction arguments: the SDK error, nothing sent', async () => {
    const s = session('tx-bad');
    await assert.rejects(s.applyHistoryTransaction({ operationId: ' ', transaction: { type: 'append_items', items: [] } }), UserError);
    await assert.rejects(s.applyHistoryTransaction({ operationId: 'x', transaction: { type: 'nope' } }), UserError);
  });
});
