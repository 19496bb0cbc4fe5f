// The side-by-side cases as tests: session_store's side is asserted; ADK's
// own DatabaseSessionService is only reported (its results vary by run).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { dropDatabases } from './databases.mjs';
import { freshApp, oneSession, preSeeded, report } from './side_by_side.mjs';

const results = {};
after(async () => {
  if (results.fresh && results.seeded && results.one) {
    for (const l of report(results)) console.log(`# ${l}`);
  }
  await dropDatabases();
});

test('64 parallel createSession on a fresh app: all succeed', async () => {
  results.fresh = await freshApp(64);
  assert.deepEqual([results.fresh.ours.ok, results.fresh.ours.errors], [64, {}]);
});

test('pre-seeded app and user: every app: and user: key kept', async () => {
  results.seeded = await preSeeded(64);
  const r = results.seeded.ours;
  assert.deepEqual([r.ok, r.appKeys, r.userKeys, r.errors], [64, 64, 64, {}]);
});

test('16 instances on one session: every event once, stored order = commit order, no stale history', async () => {
  results.one = await oneSession(16, 20);
  const r = results.one.ours;
  assert.equal(r.failed, 0, JSON.stringify(r.errors));
  assert.equal(r.stored, 320);
  assert.equal(r.distinct, 320);
  assert.equal(r.staleHistories, 0);
  assert.notEqual(r.outOfCommitOrder, undefined, 'the cluster needs track_commit_timestamp = on');
  assert.equal(r.outOfCommitOrder, 0);
});
