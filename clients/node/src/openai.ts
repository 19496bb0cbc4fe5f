/**
 * SessionStoreSession: an @openai/agents Session on session_store.
 *
 * Items are the session's messages, in seq order.  Every method is one SQL
 * call; only the first write to a session id the store has never seen costs
 * one more (create_session, then the write again).  History transactions
 * (SessionHistoryTransactionAwareSession) are applied by the server under the
 * session lock: `append_items` is append_messages with the operation id as a
 * verified idempotency key, `replace_suffix` is replace_messages, which
 * replaces the latest items only while they still equal `expectedSuffix`.
 */
import {
  UserError,
  type AgentInputItem,
  type SessionHistoryTransactionArgs,
  type SessionHistoryTransactionAwareSession,
} from '@openai/agents';

import { SessionStore, type SessionStoreOptions, type StoreSource } from './client.js';
import { IdempotencyConflict, SessionExists, SessionNotFound, SuffixMismatch } from './errors.js';

export type SessionStoreSessionOptions = (StoreSource | { store: SessionStore }) & {
  appName: string;
  userId: string;
  /** The retry policy of the store the session makes (a store passed in keeps its own). */
  retry?: SessionStoreOptions['retry'];
  /** Install the portable edition before the first call where none is installed (the store the session makes). */
  install?: boolean;
};

/** An OpenAI Agents session whose history lives in session_store. */
export class SessionStoreSession implements SessionHistoryTransactionAwareSession {
  readonly store: SessionStore;
  private readonly ownsStore: boolean;
  readonly appName: string;
  readonly userId: string;
  private readonly sessionId: string;

  constructor(sessionId: string, opts: SessionStoreSessionOptions) {
    const { appName, userId, retry, install, ...source } = opts as SessionStoreSessionOptions & Record<string, unknown>;
    if (typeof sessionId !== 'string' || sessionId === '') {
      throw new TypeError('SessionStoreSession: sessionId must be a non-empty string');
    }
    this.sessionId = sessionId;
    this.appName = appName;
    this.userId = userId;
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
   * whose reply was lost is not stored twice.
   */
  async addItems(items: AgentInputItem[]): Promise<void> {
    if (items.length === 0) return;
    const idempotencyKey = this.store.newKey();
    await this.writing(() => this.store.appendMessages(this.appName, this.userId, this.sessionId, items,
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
   * Removes every item.  The session row stays, and so do the operation ids
   * it has seen: an operation retried after a clear is not applied again.
   */
  async clearSession(): Promise<void> {
    try {
      await this.store.clearSession(this.appName, this.userId, this.sessionId);
    } catch (err) {
      if (!(err instanceof SessionNotFound)) throw err;
    }
  }

  /**
   * Applies an append or a suffix replacement atomically, once per
   * operation id.  Repeating an operation with the same content succeeds
   * without applying it again; reusing the id with other content, or a
   * suffix that no longer matches, fails with the SDK's UserError (its
   * `cause` is the session_store error) and changes nothing.
   */
  async applyHistoryTransaction(args: SessionHistoryTransactionArgs): Promise<void> {
    const { operationId, transaction } = args ?? ({} as SessionHistoryTransactionArgs);
    if (typeof operationId !== 'string' || !operationId.trim()) {
      throw new UserError('Session history transaction operationId must be a non-empty string.');
    }
    if (!transaction || typeof transaction !== 'object') {
      throw new UserError('Session history transaction must be an object.');
    }
    try {
      if (transaction.type === 'append_items') {
        await this.writing(() => this.store.appendMessages(
          this.appName, this.userId, this.sessionId, transaction.items,
          { idempotencyKey: operationId, verifyReplay: true }));
      } else if (transaction.type === 'replace_suffix') {
        await this.writing(() => this.store.replaceMessages(
          this.appName, this.userId, this.sessionId,
          transaction.expectedSuffix, transaction.replacement,
          { idempotencyKey: operationId }));
      } else {
        throw new UserError('Unsupported session history transaction type.');
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
