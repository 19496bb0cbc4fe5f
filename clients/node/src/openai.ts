/**
 * SessionStoreSession: an @openai/agents Session on session_store.
 *
 * Items are the session's messages, in seq order.  Every method is one SQL
 * call (applyHistoryMutations: a read, then one write); only the first
 * write to a session id the store has never seen costs one more
 * (create_session, then the write again).  clearSession removes the items
 * and keeps the session row, and with it the operation ids it has seen
 * (where MemorySession forgets them): one keyed clear_session, safe to
 * retry after a lost reply.  History transactions
 * (SessionHistoryTransactionAwareSession) are applied by the server under the
 * session lock: `append_items` is append_messages with the operation id as a
 * verified idempotency key, `replace_suffix` is replace_messages, which
 * replaces the latest items only while they still equal `expectedSuffix`.
 *
 * Transactions are checked here, before the one SQL call, by the rules of
 * the SDK's own MemorySession (the same rejections, the same UserError
 * texts, a caller's getter errors never passed through): the envelope is
 * read once, every value is snapshotted from own enumerable data
 * properties only, and every item must parse as the SDK's own ModelItem.
 * History mutations (SessionHistoryRewriteAwareSession) are computed with
 * the SDK's own applySessionHistoryMutations on a copy read together with
 * its version, and written by one replace_messages that holds only while
 * that version is current.
 */
import {
  UserError,
  applySessionHistoryMutations,
  protocol,
  type AgentInputItem,
  type SessionHistoryRewriteArgs,
  type SessionHistoryRewriteAwareSession,
  type SessionHistoryTransaction,
  type SessionHistoryTransactionArgs,
  type SessionHistoryTransactionAwareSession,
} from '@openai/agents';

import { SessionStore, type SessionStoreOptions, type StoreSource } from './client.js';
import {
  IdempotencyConflict, SessionExists, SessionNotFound, SessionStoreError, SuffixMismatch, VersionConflict,
} from './errors.js';

export type SessionStoreSessionOptions = (StoreSource | { store: SessionStore }) & {
  appName: string;
  userId: string;
  /** The retry policy of the store the session makes (a store passed in keeps its own). */
  retry?: SessionStoreOptions['retry'];
  /** Install the portable edition before the first call where none is installed (the store the session makes). */
  install?: boolean;
  /** How often applyHistoryMutations reads and writes again when another writer changed the session in between (default 8). */
  mutationAttempts?: number;
};

/** An OpenAI Agents session whose history lives in session_store. */
export class SessionStoreSession implements SessionHistoryTransactionAwareSession, SessionHistoryRewriteAwareSession {
  readonly store: SessionStore;
  private readonly ownsStore: boolean;
  readonly appName: string;
  readonly userId: string;
  private readonly sessionId: string;
  private readonly mutationAttempts: number;

  constructor(sessionId: string, opts: SessionStoreSessionOptions) {
    const { appName, userId, retry, install, mutationAttempts, ...source } = opts as SessionStoreSessionOptions & Record<string, unknown>;
    if (typeof sessionId !== 'string' || sessionId === '') {
      throw new TypeError('SessionStoreSession: sessionId must be a non-empty string');
    }
    this.sessionId = sessionId;
    this.appName = appName;
    this.userId = userId;
    this.mutationAttempts = mutationAttempts ?? 8;
    const s = (source as { store?: unknown }).store;
    this.ownsStore = !(s instanceof SessionStore);
    this.store = s instanceof SessionStore ? s
      : new SessionStore(source as StoreSource, { ...(retry === undefined ? {} : { retry }),
                                                  install: Boolean(install) });
  }

  /** Ends the pool if this session made it from a connection string; a store passed in is left alone. */
  async close(): Promise<void> {
    if (this.ownsStore) await this.store.close();
  }

  async getSessionId(): Promise<string> {
    return this.sessionId;
  }

  /** The latest `limit` items (all when undefined), oldest first. */
  async getItems(limit?: number): Promise<AgentInputItem[]> {
    if (limit !== undefined && limit <= 0) return [];
    try {
      const rows = await this.store.getMessages<AgentInputItem>(
        this.appName, this.userId, this.sessionId, { maxCount: limit ?? null });
      return rows.map((r) => r.message);
    } catch (err) {
      if (err instanceof SessionNotFound) return [];
      throw err;
    }
  }

  /**
   * Appends the items as one block.  When the store retries, the call gets
   * an idempotency key of its own, made once and sent with every attempt
   * (the write after a first-write create_session included), so an append
   * whose reply was lost is not stored twice.  The items are cloned first
   * as the SDK's MemorySession clones them (what structuredClone refuses,
   * symbols, functions, proxies, is refused here with its DataCloneError),
   * then stored as JSON.
   */
  async addItems(items: AgentInputItem[]): Promise<void> {
    if (items.length === 0) return;
    const stored = toStored(items.map((item) => structuredClone(item))) as AgentInputItem[];
    const idempotencyKey = this.store.newKey();
    await this.writing(() => this.store.appendMessages(this.appName, this.userId, this.sessionId, stored,
                                                       { idempotencyKey }));
  }

  async popItem(): Promise<AgentInputItem | undefined> {
    try {
      const row = await this.store.popMessage<AgentInputItem>(this.appName, this.userId, this.sessionId);
      return row?.message;
    } catch (err) {
      if (err instanceof SessionNotFound) return undefined;
      throw err;
    }
  }

  /**
   * Removes every item: one clear_session with an idempotency key made for
   * the call, sent with every attempt, so a retry after a lost reply
   * returns the first attempt's count and removes nothing written since
   * (an addItems that came in between keeps its items).
   *
   * The session row stays, and so do the operation ids it has seen: an
   * operation id used again after a clear replays its first result (or
   * fails with IdempotencyConflict's UserError for other content) instead
   * of applying again.  The SDK's MemorySession forgets them on clear;
   * here keys live as long as the session row, and forgetting them would
   * make the clear itself unsafe to retry.
   */
  async clearSession(): Promise<void> {
    const idempotencyKey = this.store.newKey();
    try {
      await this.store.clearSession(this.appName, this.userId, this.sessionId, { idempotencyKey });
    } catch (err) {
      if (!(err instanceof SessionNotFound)) throw err;   // never written: nothing to clear
    }
  }

  /**
   * Applies the SDK's history mutations (replace_function_call) atomically.
   * The items and the session's version are read in one statement, the new
   * history is computed with the SDK's own applySessionHistoryMutations, and
   * the part that changes is written by one replace_messages whose
   * expected_version is the version read: it applies whole or not at all.
   * When another writer changed the session in between, the call reads and
   * computes again, up to `mutationAttempts` times, then fails with the
   * VersionConflict, having changed nothing.
   *
   * The expected suffix is sent back as JavaScript parsed it.  A stored
   * value a JS number cannot hold exactly (an integer above 2^53 written by
   * another client, say) no longer equals itself on the server, which
   * answers SuffixMismatch although the version shows nothing changed.
   * The call then reads once more; a second SuffixMismatch at the same
   * version fails with a SessionStoreError saying so (not a
   * VersionConflict: reading again cannot help), its `cause` the
   * SuffixMismatch, having changed nothing.
   */
  async applyHistoryMutations(args: SessionHistoryRewriteArgs): Promise<void> {
    if (args.mutations.length === 0) return;
    let mismatchedAt: number | undefined;   // the version of the last SuffixMismatch
    for (let attempt = 1; ; attempt++) {
      const loaded = await this.store.loadSession<AgentInputItem>(this.appName, this.userId, this.sessionId);
      if (!loaded) return;   // a session never written has nothing to rewrite
      const before = loaded.messages.map((m) => m.message);
      const after = toStored(applySessionHistoryMutations(before, args.mutations)) as AgentInputItem[];
      let common = 0;
      while (common < before.length && common < after.length
             && JSON.stringify(before[common]) === JSON.stringify(after[common])) common++;
      if (common === before.length && common === after.length) return;
      try {
        await this.store.replaceMessages(this.appName, this.userId, this.sessionId,
                                         before.slice(common), after.slice(common),
                                         { expectedVersion: loaded.session.version });
        return;
      } catch (err) {
        if (err instanceof SuffixMismatch) {
          // expected_version held, so the items are those read: what differs is JS's copy of them
          const version = loaded.session.version;
          if (mismatchedAt === version) throw this.unrepresentable(version, err);
          const first = mismatchedAt === undefined;
          mismatchedAt = version;
          if (first || attempt < this.mutationAttempts) continue;   // the one re-read is always made
          throw err;
        }
        if (!(err instanceof VersionConflict) || attempt >= this.mutationAttempts) throw err;
      }
    }
  }

  private unrepresentable(version: number, cause: SuffixMismatch): SessionStoreError {
    return new SessionStoreError(
      `session "${this.sessionId}" holds items with values JavaScript cannot represent exactly ` +
      '(e.g. an integer above 2^53): their parsed copy no longer equals what is stored, so ' +
      `applyHistoryMutations cannot rewrite them; nothing was changed (version ${version})`,
      { cause });
  }

  /**
   * Applies an append or a suffix replacement atomically, once per
   * operation id.  Repeating an operation with the same content succeeds
   * without applying it again; reusing the id with other content, or a
   * suffix that no longer matches, fails with the SDK's UserError (its
   * `cause` is the session_store error) and changes nothing.  Arguments the
   * SDK's MemorySession refuses are refused before any SQL, with its text.
   */
  async applyHistoryTransaction(args: SessionHistoryTransactionArgs): Promise<void> {
    const { operationId, transaction } = snapshotTransactionArgs(args);
    try {
      if (transaction.type === 'append_items') {
        const items = toStored(transaction.items) as AgentInputItem[];
        await this.writing(() => this.store.appendMessages(
          this.appName, this.userId, this.sessionId, items,
          { idempotencyKey: operationId, verifyReplay: true }));
      } else {
        const expectedSuffix = toStored(transaction.expectedSuffix) as AgentInputItem[];
        const replacement = toStored(transaction.replacement) as AgentInputItem[];
        await this.writing(() => this.store.replaceMessages(
          this.appName, this.userId, this.sessionId, expectedSuffix, replacement,
          { idempotencyKey: operationId }));
      }
    } catch (err) {
      if (err instanceof IdempotencyConflict) {
        throw userError(
          'Session history operation was already applied with a different transaction.', err);
      }
      if (err instanceof SuffixMismatch) {
        throw userError(
          'Session history suffix no longer matches the transaction precondition.', err);
      }
      throw err;
    }
  }

  /** Runs a write; on a session the store has not seen, creates it and writes again. */
  private async writing<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      if (!(err instanceof SessionNotFound)) throw err;
    }
    try {
      await this.store.createSession(this.appName, this.userId, { sessionId: this.sessionId });
    } catch (err) {
      if (!(err instanceof SessionExists)) throw err;   // created meanwhile by another writer
    }
    return write();
  }
}

/** The SDK's UserError, with the session_store error as its cause. */
function userError(message: string, cause: unknown): UserError {
  const e = new UserError(message);
  e.cause = cause;
  return e;
}

const UNSUPPORTED = 'Session history transaction items contain invalid or unsupported data.';

/**
 * Reads `operationId` and `transaction` once each and checks them as the
 * SDK's MemorySession does; a getter that throws becomes the SDK's
 * "arguments are invalid" UserError, its own message dropped (it may carry
 * a secret).
 */
function snapshotTransactionArgs(args: SessionHistoryTransactionArgs):
    { operationId: string; transaction: SessionHistoryTransaction } {
  let operationId: unknown;
  let transaction: unknown;
  try {
    if (!args || typeof args !== 'object') throw new Error('no arguments');
    operationId = Reflect.get(args, 'operationId');
    transaction = Reflect.get(args, 'transaction');
  } catch {
    throw new UserError('Session history transaction arguments are invalid.');
  }
  if (typeof operationId !== 'string' || !operationId.trim()) {
    throw new UserError('Session history transaction operationId must be a non-empty string.');
  }
  if (!transaction || typeof transaction !== 'object') {
    throw new UserError('Session history transaction must be an object.');
  }
  return { operationId, transaction: snapshotTransaction(transaction) };
}

/** The transaction as plain data, its fields exactly those of its type, its items ModelItems. */
function snapshotTransaction(transaction: object): SessionHistoryTransaction {
  let t: Record<string, unknown>;
  try {
    t = snapshot(transaction) as Record<string, unknown>;
    structuredClone(transaction);   // refuses proxies, which a property walk cannot see
  } catch {
    throw new UserError(UNSUPPORTED);
  }
  const has = (key: string) => Object.prototype.hasOwnProperty.call(t, key);
  const fields = Object.keys(t).length;
  if (t.type === 'append_items') {
    if (fields !== 2 || !has('type') || !has('items') || !Array.isArray(t.items)) {
      throw new UserError('Session history append transaction fields are invalid.');
    }
    return { type: 'append_items', items: modelItems(t.items) };
  }
  if (t.type !== 'replace_suffix') {
    throw new UserError('Unsupported session history transaction type.');
  }
  if (fields !== 3 || !has('type') || !has('expectedSuffix') || !has('replacement')
      || !Array.isArray(t.expectedSuffix) || !Array.isArray(t.replacement)) {
    throw new UserError('Session history suffix transaction fields are invalid.');
  }
  return { type: 'replace_suffix', expectedSuffix: modelItems(t.expectedSuffix),
           replacement: modelItems(t.replacement) };
}

/** Every element must parse as the SDK's ModelItem. */
function modelItems(items: unknown[]): AgentInputItem[] {
  for (const item of items) {
    if (!protocol.ModelItem.safeParse(item).success) throw new UserError(UNSUPPORTED);
  }
  return items as AgentInputItem[];
}

/**
 * A copy of a value made only of what the SDK snapshots: JSON scalars,
 * Uint8Array, dense arrays and plain (or null-prototype) objects whose own
 * properties are all enumerable string-keyed data properties, without
 * cycles.  Everything else throws (the caller turns it into UserError).
 * Stricter than the SDK where JSON cannot keep what memory keeps: a number
 * that is not finite and an undefined array element are refused too.
 */
function snapshot(value: unknown, ancestors = new WeakSet<object>()): unknown {
  if (value === null || value === undefined || typeof value === 'string' || typeof value === 'boolean') {
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error('not finite');
    return value;
  }
  if (typeof value !== 'object') throw new Error('unsupported value');
  if (value instanceof Uint8Array) {
    const keys = Reflect.ownKeys(value);
    if (keys.length !== value.length || keys.some((k) => !isIndex(k, value.length))) {
      throw new Error('unsupported binary property');
    }
    return new Uint8Array(value);
  }
  if (ancestors.has(value)) throw new Error('cycle');
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      const len = Object.getOwnPropertyDescriptor(value, 'length');
      const length = len && 'value' in len ? len.value : undefined;
      const keys = Reflect.ownKeys(value);
      if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0
          || keys.length !== length + 1 || keys.some((k) => k !== 'length' && !isIndex(k, length))) {
        throw new Error('unsupported array');
      }
      const copy = new Array(length);
      for (let i = 0; i < length; i++) {
        const d = Object.getOwnPropertyDescriptor(value, String(i));
        if (!d?.enumerable || !('value' in d) || d.value === undefined) throw new Error('unsupported element');
        copy[i] = snapshot(d.value, ancestors);
      }
      return copy;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw new Error('unsupported object');
    const copy: Record<string, unknown> = {};
    for (const key of Reflect.ownKeys(value)) {
      if (typeof key !== 'string') throw new Error('unsupported key');
      const d = Object.getOwnPropertyDescriptor(value, key);
      if (!d?.enumerable || !('value' in d)) throw new Error('unsupported property');
      Object.defineProperty(copy, key, { value: snapshot(d.value, ancestors),
                                         configurable: true, enumerable: true, writable: true });
    }
    return copy;
  } finally {
    ancestors.delete(value);
  }
}

function isIndex(key: string | symbol, length: number): boolean {
  return typeof key === 'string' && /^(0|[1-9]\d*)$/.test(key) && Number(key) < length;
}

/**
 * A value as it is stored: bytes (Uint8Array) become their base64 text,
 * the form the SDK's protocol gives raw bytes on the wire; everything else
 * is left to JSON.
 */
function toStored(value: unknown): unknown {
  if (value instanceof Uint8Array) {
    let text = '';
    for (const byte of value) text += String.fromCharCode(byte);
    return btoa(text);
  }
  if (Array.isArray(value)) return value.map(toStored);
  if (value !== null && typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return value;   // JSON's own rules (toJSON, {})
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, { value: toStored(v), configurable: true, enumerable: true, writable: true });
    }
    return out;
  }
  return value;
}
