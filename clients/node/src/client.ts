/**
 * SessionStore: a typed client for the session_store extension.
 *
 * One method per SQL function, one statement (one round trip) per attempt,
 * parameters always bound.  Options that a call does not set are not sent:
 * the call uses named notation and leaves them to their SQL defaults, so a
 * database still at 1.0 serves every call that uses only 1.0 arguments.
 *
 * The client holds no state of its own beyond the pool it was given (or
 * made): ordering, versions, idempotency and state merging are the server's.
 *
 * Retries (on a pool, unless `retry: false`): a call whose connection fails
 * (SQLSTATE class 08, 57P01-57P03, a socket closed or refused) is sent again,
 * the same statement with the same arguments, on a fresh connection, after a
 * jittered backoff, bounded by attempts and by time.  A try that gets no
 * connection from the pool (a server restarting: refused, 57P03) sent
 * nothing and spends no attempt, only time.  What makes that safe is
 * chosen per method before the first attempt (a generated idempotency key, a
 * generated session id, or nothing for reads and for calls whose repetition
 * is harmless); the loop itself is `query`, the one path every call takes.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';

import { ConnectionLost, isConnectionFailure, isServerAnswer, translateError } from './errors.js';
import { editionOf, install, type Edition, type InstallTarget } from './install.js';
import { isPGlite, PGliteQueryable, type PGliteLike } from './pglite.js';

/** A pool, a client or a pooled client: anything node-postgres can query. */
export type Queryable = pg.Pool | pg.ClientBase;

/** What a SessionStore is made from. */
export type StoreSource =
  | Queryable
  | PGliteLike
  | { pool: Queryable | PGliteLike }
  | (pg.PoolConfig & { connectionString: string });

/**
 * How a call is retried after a connection-class failure.  Each try checks
 * out a connection from the pool and sends the statement on it.  A try
 * whose check-out fails (the server refusing connections or starting up or
 * shutting down: a restart) sent nothing, so it cannot have run: it costs
 * no attempt, and such tries go on until maxElapsedMs.  A try that sent the
 * statement and lost its connection is an attempt; there are at most
 * maxAttempts.  Try n (n >= 2, counting both kinds) starts after a sleep
 * drawn uniformly from [0, min(maxDelayMs, baseDelayMs * 2^(n-2))] ("full
 * jitter"); no try starts later than maxElapsedMs after the first one did.
 */
export interface RetryPolicy {
  /** Attempts in all (statements sent), the first included; tries that got no connection do not count. */
  maxAttempts: number;
  /** No try (attempt or check-out) starts later than this after the first. */
  maxElapsedMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * The default policy: 10 attempts, 30 s, 50 ms doubling up to 5 s, full
 * jitter: a restart (no connection for a few seconds) is waited out.
 */
export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 10,
  maxElapsedMs: 30000,
  baseDelayMs: 50,
  maxDelayMs: 5000,
});

export interface SessionStoreOptions {
  /**
   * The retry policy (fields not given keep their defaults), or false for
   * none.  Ignored on a single client passed in (a pg.Client or a pooled
   * client), whose calls are never retried.
   */
  retry?: Partial<RetryPolicy> | false;
  /**
   * Install the portable edition before the first call, unless an edition
   * (C or portable) is installed already (see `install`).  Off by default:
   * a store never changes a database it was not told to.
   */
  install?: boolean;
}

/** A JSON value, as jsonb holds it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object (a message, a state, a state delta). */
export type JsonObject = { [key: string]: unknown };

/** A row of session_store.session. */
export interface SessionRow {
  appName: string;
  userId: string;
  sessionId: string;
  /** Merged view: session keys, plus `app:` and `user:` keys. */
  state: Record<string, unknown>;
  /** 0 at creation, +1 per successful mutation. */
  version: number;
  /** Highest sequence number ever assigned; 0 if none. */
  lastSeq: number;
  createTime: Date;
  updateTime: Date;
}

/** A row of list_sessions. */
export interface SessionSummary {
  userId: string;
  sessionId: string;
  version: number;
  lastSeq: number;
  createTime: Date;
  updateTime: Date;
  /** Opaque: pass it back as `pageToken` to continue after this row. */
  nextPageToken: string;
}

/**
 * A row of list_sessions_with_state (1.2): a SessionSummary's fields, then
 * the session's merged state as get_session returns it (its own keys,
 * `user:` and `app:` keys with their prefixes).
 */
export interface SessionSummaryWithState extends SessionSummary {
  state: JsonObject;
}

/** A stored message. */
export interface StoredMessage<M = JsonObject> {
  seq: number;
  message: M;
  createTime: Date;
}

/** The result of append_messages. */
export interface AppendResult {
  /** First sequence number assigned; null when nothing was appended. */
  firstSeq: number | null;
  lastSeq: number | null;
  version: number;
  updateTime: Date;
  /** True when an earlier call with the same idempotency key was returned. */
  replayed: boolean;
}

/** The result of replace_messages. */
export interface ReplaceResult extends AppendResult {
  /** How many messages the call removed. */
  removed: number;
}

export interface CreateSessionOptions {
  state?: JsonObject | null;
  /** When none is given and calls are retried, the client picks one (uuid4). */
  sessionId?: string | null;
  /** 1.1: store a JSON null in `state` instead of removing the key. */
  keepNulls?: boolean;
  /** 1.2: a retry with this key returns the session it made (made by the client when calls are retried). */
  idempotencyKey?: string | null;
}

/** Options of pop_message, rewind_session and clear_session. */
export interface RemoveOptions {
  expectedVersion?: number | null;
  /** 1.2: a retry with this key returns the first call's result (made by the client when calls are retried). */
  idempotencyKey?: string | null;
}

export interface ForkOptions {
  /** When none is given and calls are retried, the client picks one (uuid4). */
  newSessionId?: string | null;
  upToSeq?: number | null;
  /** 1.2: a retry with this key returns the session it made (made by the client when calls are retried). */
  idempotencyKey?: string | null;
}

export interface AppendOptions {
  stateDelta?: JsonObject | null;
  expectedVersion?: number | null;
  idempotencyKey?: string | null;
  /** 1.1: store a JSON null in `stateDelta` instead of removing the key. */
  keepNulls?: boolean;
  /** 1.1: the create_time stored for these messages. */
  messageTime?: Date | number | null;
  /** 1.1: a replay with different content fails with IdempotencyConflict. */
  verifyReplay?: boolean;
}

export interface ReplaceOptions {
  stateDelta?: JsonObject | null;
  expectedVersion?: number | null;
  idempotencyKey?: string | null;
  keepNulls?: boolean;
}

export interface GetMessagesOptions {
  maxCount?: number | null;
  afterSeq?: number | null;
  beforeSeq?: number | null;
  /** 1.1: only messages whose create_time is at or after this instant. */
  afterTime?: Date | number | null;
}

export interface ListSessionsOptions {
  userId?: string | null;
  pageSize?: number;
  pageToken?: string | null;
  /**
   * 1.1: least recently updated first (update_time, then user_id and
   * session_id descending: the default order reversed).  A page token
   * continues only the listing of its own direction.
   */
  ascending?: boolean;
}

export interface ExpireOptions {
  appName?: string | null;
  maxSessions?: number;
}

/** A session with a window of its messages, read by one statement. */
export interface LoadedSession<M = JsonObject> {
  session: SessionRow;
  messages: StoredMessage<M>[];
  /**
   * The create_time of the session's newest message at the version read,
   * whatever the window (null when it has none): with `messageTime`, the
   * time the last append gave its messages.  loadSession always sets it;
   * it is optional so that values built elsewhere (mocks, wrappers) need
   * not, and a reader treats it absent as unknown (the ADK adapter then
   * takes the session's create time).
   */
  latestMessageTime?: Date | null;
}

const INT8_OID = 20;

/** bigint columns as numbers (sequence numbers and versions stay far below 2^53). */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(`bigint value ${text} does not fit a JavaScript number`);
  }
  return n;
}

const queryTypes = {
  getTypeParser(oid: number, format?: string): (value: string) => unknown {
    if (oid === INT8_OID) return parseInt8;
    return pg.types.getTypeParser(oid, (format ?? 'text') as 'text');
  },
};

/** Named-notation argument list: only the arguments that were given. */
class Args {
  private readonly parts: string[] = [];

  /** `values`: parameters already bound ahead of these ($1 ...). */
  constructor(readonly values: unknown[] = []) {}

  /** Always send `name` (NULL included). */
  add(name: string, value: unknown, cast = ''): this {
    this.values.push(value);
    this.parts.push(`${name} => $${this.values.length}${cast}`);
    return this;
  }

  /** Send `name` only when the caller gave a value (undefined: SQL default). */
  opt(name: string, value: unknown, cast = ''): this {
    return value === undefined ? this : this.add(name, value, cast);
  }

  toString(): string {
    return this.parts.join(', ');
  }
}

function json(value: unknown): string | null | undefined {
  if (value === undefined) return undefined;
  if (value === null) return null;
  return JSON.stringify(value);
}

function time(value: Date | number | null | undefined): Date | null | undefined {
  if (value === undefined || value === null) return value;
  return value instanceof Date ? value : new Date(value);
}

function toSession(r: pg.QueryResultRow): SessionRow {
  return {
    appName: r.app_name,
    userId: r.user_id,
    sessionId: r.session_id,
    state: r.state ?? {},
    version: r.version,
    lastSeq: r.last_seq,
    createTime: r.create_time,
    updateTime: r.update_time,
  };
}

function toSummary(r: pg.QueryResultRow): SessionSummary {
  return {
    userId: r.user_id,
    sessionId: r.session_id,
    version: r.version,
    lastSeq: r.last_seq,
    createTime: r.create_time,
    updateTime: r.update_time,
    nextPageToken: r.next_page_token,
  };
}

function toSummaryWithState(r: pg.QueryResultRow): SessionSummaryWithState {
  return { ...toSummary(r), state: r.state ?? {} };
}

function toMessage<M>(r: pg.QueryResultRow): StoredMessage<M> {
  return { seq: r.seq, message: r.message as M, createTime: r.create_time };
}

function toAppend(r: pg.QueryResultRow): AppendResult {
  return {
    firstSeq: r.first_seq,
    lastSeq: r.last_seq,
    version: r.version,
    updateTime: r.update_time,
    replayed: r.replayed,
  };
}

function isQueryable(x: unknown): x is Queryable {
  return typeof x === 'object' && x !== null && typeof (x as Queryable).query === 'function';
}

/**
 * A pool (pg.Pool or one shaped like it), as opposed to one connection: it
 * hands out clients with connect() and takes them back with release().  A
 * pooled client has connect() too, but also release(), and no counts.
 */
function isPool(x: Queryable): x is pg.Pool {
  const p = x as Partial<pg.Pool> & { release?: unknown };
  return typeof p.connect === 'function' && p.release === undefined &&
    typeof p.totalCount === 'number' && typeof p.idleCount === 'number';
}

function checkedPolicy(p: Partial<RetryPolicy>): RetryPolicy {
  const policy = { ...DEFAULT_RETRY, ...p };
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
    throw new RangeError(`retry.maxAttempts must be a positive integer, not ${policy.maxAttempts}`);
  }
  if (typeof policy.maxElapsedMs !== 'number' || !(policy.maxElapsedMs > 0)) {
    throw new RangeError(`retry.maxElapsedMs must be a positive number, not ${policy.maxElapsedMs}`);
  }
  for (const k of ['baseDelayMs', 'maxDelayMs'] as const) {
    if (typeof policy[k] !== 'number' || !(policy[k] >= 0)) {
      throw new RangeError(`retry.${k} must be a non-negative number, not ${policy[k]}`);
    }
  }
  return policy;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Errors a pooled client emits while checked out reach its query as well: nothing to do here. */
function ignore(): void {}

/**
 * A check-out that failed: the pool handed out no connection, so the
 * statement was never sent.  `retrying` counts it apart from the attempts.
 */
class NotSent {
  constructor(readonly cause: unknown) {}
}

/**
 * A client of the pool, with a listener for its 'error' events from the
 * moment the pool hands it out; rejects with NotSent when there is none.  The pool takes its own listener off before
 * it calls back; with the promise form of connect() the caller's would come
 * a few microtasks later, and an ErrorResponse parsed from the same chunk
 * as the ReadyForQuery that completed the connection (a backend terminated
 * just then) would be an 'error' event without a listener: the process
 * would die.  The callback runs in the same turn, so nothing comes between.
 */
function checkOut(pool: pg.Pool): Promise<pg.PoolClient> {
  return new Promise((resolve, reject) => {
    pool.connect((err, client) => {
      if (err || !client) {
        reject(new NotSent(err ?? new Error('the pool handed out no client')));
        return;
      }
      client.on('error', ignore);
      resolve(client);
    });
  });
}

/** The largest page list_sessions serves. */
export const MAX_PAGE_SIZE = 10000;

/** A typed client for the session_store SQL API. */
export class SessionStore {
  /** What statements run on: the pool or client given or made, or the adapter of a PGlite instance. */
  readonly db: Queryable | PGliteQueryable;
  /** The policy calls are retried by; undefined when they are not (retry: false, or one client). */
  readonly retry: Readonly<RetryPolicy> | undefined;
  private readonly ownPool: pg.Pool | undefined;
  /** Where `install` and `edition` run: the pool or client, or the PGlite instance itself. */
  private readonly target: InstallTarget;
  /** Set while (or once) the install asked for runs; undefined when none was asked for or it failed. */
  private installing: Promise<void> | undefined;
  private installed: boolean;

  /**
   * @param source a pg.Pool, a pg.Client or pooled client, `{ pool }`, a
   *   pg.PoolConfig with a `connectionString` (the store then owns the pool
   *   and `close()` ends it), or a PGlite instance (left to its owner to
   *   close).
   * @param opts `retry`: the retry policy, or false.  Calls are retried on a
   *   pool (made here or passed in), never on a single client passed in: it
   *   may be inside the caller's transaction, and a dead connection cannot
   *   be retried on; nor on PGlite, which has no connection to lose.
   *   `install`: install the portable edition before the first call where
   *   no edition is installed.
   */
  constructor(source: StoreSource, opts: SessionStoreOptions = {}) {
    if (isPGlite(source)) {
      this.db = new PGliteQueryable(source);
    } else if ('pool' in source && isPGlite(source.pool)) {
      this.db = new PGliteQueryable(source.pool);
    } else if (isQueryable(source)) {
      this.db = source;
    } else if ('pool' in source && isQueryable(source.pool)) {
      this.db = source.pool;
    } else {
      this.ownPool = new pg.Pool(source as pg.PoolConfig);
      // An idle client whose connection ends (server restart, failover,
      // pg_terminate_backend, idle_session_timeout) is emitted on its pool,
      // and an 'error' event nobody listens to ends the process.  The pool
      // has already dropped the client; the next call connects afresh.
      this.ownPool.on('error', ignore);
      this.db = this.ownPool;
    }
    const given = opts.retry ?? {};
    this.retry = given !== false && !(this.db instanceof PGliteQueryable) && isPool(this.db)
      ? Object.freeze(checkedPolicy(given)) : undefined;
    this.target = this.db instanceof PGliteQueryable ? this.db.pglite : this.db;
    this.installed = !opts.install;
  }

  /**
   * The edition and version installed (`SELECT * FROM
   * session_store.edition()`): { edition: 'c' | 'portable', version }, or
   * null when the database holds none.
   */
  async edition(): Promise<Edition | null> {
    return this.retrying(() => editionOf(this.target));
  }

  /**
   * Installs the portable edition unless an edition is installed already
   * (never over the C edition; safe from many processes at once) and
   * returns the edition installed.  What `install: true` does before the
   * first call.
   */
  async install(): Promise<Edition> {
    return this.retrying(() => install(this.target));
  }

  /** The install asked for with `install: true`, once; a failed one is tried again by the next call. */
  private ensureInstalled(): Promise<void> {
    this.installing ??= this.install().then(() => { this.installed = true; }, (err) => {
      this.installing = undefined;
      throw err;
    });
    return this.installing;
  }

  /** Ends the pool if this store made it; a pool or client passed in is left alone. */
  async close(): Promise<void> {
    if (this.ownPool) await this.ownPool.end();
  }

  /**
   * Runs one statement; server errors come back as session_store errors.
   * With a retry policy, a connection-class failure sends the same
   * statement again on a fresh connection (see RetryPolicy) and, when the
   * budget runs out, throws ConnectionLost: pass only statements that are
   * safe to repeat (reads, or writes that carry their idempotency key).
   * Without one, the error is thrown as the driver gave it.
   */
  async query(text: string, values: unknown[]): Promise<pg.QueryResultRow[]> {
    if (!this.installed) await this.ensureInstalled();
    if (this.retry === undefined) return this.queryOnce(text, values);
    return this.retrying(() => this.attempt(this.db as pg.Pool, text, values));
  }

  /**
   * `fn` under the retry policy (see query and RetryPolicy); once, with
   * errors translated, without one.  A NotSent (a failed check-out) spends
   * no attempt, only time; every try, of either kind, doubles the pause.
   */
  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    const policy = this.retry;
    if (policy === undefined) {
      try {
        return await fn();
      } catch (err) {
        throw translateError(err instanceof NotSent ? err.cause : err);
      }
    }
    const start = performance.now();   // monotonic, unlike Date.now()
    let attempts = 0;          // statements sent, their connection lost
    let connectFailures = 0;   // check-outs failed, nothing sent
    for (let tries = 1; ; tries++) {
      try {
        return await fn();
      } catch (thrown) {
        const notSent = thrown instanceof NotSent;
        const err = notSent ? thrown.cause : thrown;
        if (!isConnectionFailure(err)) throw translateError(err);
        if (notSent) connectFailures++;
        else attempts++;
        const lost = () => new ConnectionLost(attempts, err, {
          connectFailures, elapsedMs: Math.round(performance.now() - start) });
        const delay = Math.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (tries - 1));
        if (attempts >= policy.maxAttempts || performance.now() + delay - start >= policy.maxElapsedMs) {
          throw lost();
        }
        await sleep(delay);
        // a timer can fire late (a busy process): the bound is on when a try starts
        if (performance.now() - start >= policy.maxElapsedMs) throw lost();
      }
    }
  }

  /** One statement, not retried. */
  private async queryOnce(text: string, values: unknown[]): Promise<pg.QueryResultRow[]> {
    try {
      const res = await (this.db as pg.ClientBase).query({ text, values, types: queryTypes });
      return res.rows;
    } catch (err) {
      throw translateError(err);
    }
  }

  /**
   * One try on a client of the pool: a failed check-out rejects with
   * NotSent (see retrying); once a client is out, the try is an attempt.
   * A client whose connection failed (or that failed in any way other than
   * a server's answer) is released with the error, so that the pool
   * destroys it instead of handing it out again; after a server's answer
   * the connection is healthy and is kept.
   */
  private async attempt(pool: pg.Pool, text: string, values: unknown[]): Promise<pg.QueryResultRow[]> {
    const client = await checkOut(pool);
    let broken: Error | undefined;
    try {
      const res = await client.query({ text, values, types: queryTypes });
      return res.rows;
    } catch (err) {
      if (!isServerAnswer(err)) broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      client.release(broken);
      client.removeListener('error', ignore);
    }
  }

  /**
   * An idempotency key for a write: the caller's, or, when calls are
   * retried, a fresh one made before the first attempt (and sent with every
   * attempt); undefined otherwise.
   */
  newKey(given?: string | null): string | undefined {
    if (given !== undefined && given !== null) return given;
    return this.retry ? randomUUID() : undefined;
  }

  /** session_store.create_session */
  async createSession(appName: string, userId: string,
                      opts: CreateSessionOptions = {}): Promise<SessionRow> {
    // A key can only find the session again under an id known before the
    // first attempt: without one given, the client picks it.
    const a = new Args().add('app_name', appName).add('user_id', userId)
      .add('state', json(opts.state ?? null), '::jsonb')
      .add('session_id', opts.sessionId ?? (this.retry ? randomUUID() : null))
      .opt('keep_nulls', opts.keepNulls, '::boolean')
      .opt('idempotency_key', this.newKey(opts.idempotencyKey));
    const rows = await this.query(`SELECT * FROM session_store.create_session(${a})`, a.values);
    return toSession(rows[0]!);
  }

  /** session_store.get_session: undefined when the session does not exist. */
  async getSession(appName: string, userId: string,
                   sessionId: string): Promise<SessionRow | undefined> {
    const rows = await this.query(
      'SELECT * FROM session_store.get_session($1, $2, $3)', [appName, userId, sessionId]);
    return rows.length ? toSession(rows[0]!) : undefined;
  }

  /**
   * get_session and get_messages in one statement: the messages are those of
   * the version read (`seq <= last_seq` of the row), so a later append never
   * shows up in a copy that carries the older version.  undefined when the
   * session does not exist.
   */
  async loadSession<M = JsonObject>(appName: string, userId: string, sessionId: string,
                                    opts: { maxCount?: number | null;
                                            afterTime?: Date | number | null } = {}):
      Promise<LoadedSession<M> | undefined> {
    const m = new Args([appName, userId, sessionId])
      .add('max_count', opts.maxCount ?? null, '::integer')
      .opt('after_time', time(opts.afterTime), '::timestamptz');
    const rows = await this.query(
      `SELECT s.*,
              (SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(
                                 g.seq, g.message, g.create_time) ORDER BY g.seq), '[]')
                 FROM session_store.get_messages(s.app_name, s.user_id, s.session_id,
                        ${m}, before_seq => s.last_seq + 1) g) AS messages,
              (SELECT l.create_time
                 FROM session_store.get_messages(s.app_name, s.user_id, s.session_id,
                        max_count => 1, before_seq => s.last_seq + 1) l) AS latest_message_time
         FROM session_store.get_session($1, $2, $3) s`, m.values);
    if (!rows.length) return undefined;
    const r = rows[0]!;
    const messages = (r.messages as [number, M, string][]).map(([seq, message, t]) => ({
      seq, message, createTime: new Date(t),
    }));
    const latest = r.latest_message_time as Date | null;
    return { session: toSession(r), messages, latestMessageTime: latest };
  }

  /**
   * session_store.list_sessions: one page, most recently updated first
   * (least recently first with `ascending`).
   */
  async listSessions(appName: string, opts: ListSessionsOptions = {}): Promise<SessionSummary[]> {
    const a = new Args().add('app_name', appName).add('user_id', opts.userId ?? null)
      .opt('page_size', opts.pageSize, '::integer')
      .add('page_token', opts.pageToken ?? null)
      .opt('ascending', opts.ascending, '::boolean');
    const rows = await this.query(`SELECT * FROM session_store.list_sessions(${a})`, a.values);
    return rows.map(toSummary);
  }

  /**
   * session_store.list_sessions_with_state (1.2): listSessions' page (the
   * same rows, order and page tokens: a token of either continues the
   * listing in the other), each row with the session's merged state as
   * get_session returns it; one statement, so the page and its states are
   * one snapshot.
   */
  async listSessionsWithState(appName: string, opts: ListSessionsOptions = {}):
      Promise<SessionSummaryWithState[]> {
    const a = new Args().add('app_name', appName).add('user_id', opts.userId ?? null)
      .opt('page_size', opts.pageSize, '::integer')
      .add('page_token', opts.pageToken ?? null)
      .opt('ascending', opts.ascending, '::boolean');
    const rows = await this.query(
      `SELECT user_id, session_id, version, last_seq, create_time, update_time, next_page_token, state
         FROM session_store.list_sessions_with_state(${a})`, a.values);
    return rows.map(toSummaryWithState);
  }

  /**
   * Every page of list_sessions, one call per page, each continuing after
   * the last row of the one before (keyset: O(pageSize) per page).
   */
  async *listSessionPages(appName: string,
                          opts: Omit<ListSessionsOptions, 'pageToken'> & { pageToken?: string | null } = {}):
      AsyncGenerator<SessionSummary[], void, undefined> {
    const pageSize = opts.pageSize ?? 100;
    let token = opts.pageToken ?? null;
    for (;;) {
      const page = await this.listSessions(appName, { userId: opts.userId, pageSize, pageToken: token,
                                                      ascending: opts.ascending });
      if (page.length) yield page;
      if (page.length < pageSize) return;
      token = page[page.length - 1]!.nextPageToken;
    }
  }

  /** session_store.delete_session: true if it existed. */
  async deleteSession(appName: string, userId: string, sessionId: string): Promise<boolean> {
    const rows = await this.query(
      'SELECT session_store.delete_session($1, $2, $3) AS deleted', [appName, userId, sessionId]);
    return rows[0]!.deleted;
  }

  /** session_store.append_messages */
  async appendMessages(appName: string, userId: string, sessionId: string,
                       messages: readonly unknown[], opts: AppendOptions = {}): Promise<AppendResult> {
    const a = new Args().add('app_name', appName).add('user_id', userId)
      .add('session_id', sessionId).add('messages', json(messages), '::jsonb')
      .add('state_delta', json(opts.stateDelta ?? null), '::jsonb')
      .add('expected_version', opts.expectedVersion ?? null, '::bigint')
      .add('idempotency_key', this.newKey(opts.idempotencyKey) ?? null)
      .opt('keep_nulls', opts.keepNulls, '::boolean')
      .opt('message_time', time(opts.messageTime), '::timestamptz')
      .opt('verify_replay', opts.verifyReplay, '::boolean');
    const rows = await this.query(`SELECT * FROM session_store.append_messages(${a})`, a.values);
    return toAppend(rows[0]!);
  }

  /** session_store.replace_messages (1.1) */
  async replaceMessages(appName: string, userId: string, sessionId: string,
                        expectedSuffix: readonly unknown[], replacement: readonly unknown[],
                        opts: ReplaceOptions = {}): Promise<ReplaceResult> {
    const a = new Args().add('app_name', appName).add('user_id', userId)
      .add('session_id', sessionId)
      .add('expected_suffix', json(expectedSuffix), '::jsonb')
      .add('replacement', json(replacement), '::jsonb')
      .add('state_delta', json(opts.stateDelta ?? null), '::jsonb')
      .add('expected_version', opts.expectedVersion ?? null, '::bigint')
      .add('idempotency_key', this.newKey(opts.idempotencyKey) ?? null)
      .opt('keep_nulls', opts.keepNulls, '::boolean');
    const rows = await this.query(`SELECT * FROM session_store.replace_messages(${a})`, a.values);
    const r = rows[0]!;
    return { ...toAppend(r), removed: r.removed };
  }

  /** session_store.get_messages: ascending seq. */
  async getMessages<M = JsonObject>(appName: string, userId: string, sessionId: string,
                                    opts: GetMessagesOptions = {}): Promise<StoredMessage<M>[]> {
    const a = new Args().add('app_name', appName).add('user_id', userId)
      .add('session_id', sessionId)
      .add('max_count', opts.maxCount ?? null, '::integer')
      .add('after_seq', opts.afterSeq ?? null, '::bigint')
      .add('before_seq', opts.beforeSeq ?? null, '::bigint')
      .opt('after_time', time(opts.afterTime), '::timestamptz');
    const rows = await this.query(`SELECT * FROM session_store.get_messages(${a})`, a.values);
    return rows.map((r) => toMessage<M>(r));
  }

  /** session_store.pop_message: the removed message, or undefined when empty. */
  async popMessage<M = JsonObject>(appName: string, userId: string, sessionId: string,
                                   opts: RemoveOptions = {}): Promise<StoredMessage<M> | undefined> {
    const a = this.removeArgs(appName, userId, sessionId, opts);
    const rows = await this.query(`SELECT * FROM session_store.pop_message(${a})`, a.values);
    return rows.length ? toMessage<M>(rows[0]!) : undefined;
  }

  /** session_store.rewind_session: how many messages were deleted. */
  async rewindSession(appName: string, userId: string, sessionId: string, toSeq: number,
                      opts: RemoveOptions = {}): Promise<number> {
    const a = this.removeArgs(appName, userId, sessionId, opts, toSeq);
    const rows = await this.query(`SELECT session_store.rewind_session(${a}) AS n`, a.values);
    return rows[0]!.n;
  }

  /** session_store.clear_session: how many messages were deleted. */
  async clearSession(appName: string, userId: string, sessionId: string,
                     opts: RemoveOptions = {}): Promise<number> {
    const a = this.removeArgs(appName, userId, sessionId, opts);
    const rows = await this.query(`SELECT session_store.clear_session(${a}) AS n`, a.values);
    return rows[0]!.n;
  }

  /** session_store.fork_session */
  async forkSession(appName: string, userId: string, sessionId: string,
                    opts: ForkOptions = {}): Promise<SessionRow> {
    const a = new Args().add('app_name', appName).add('user_id', userId)
      .add('session_id', sessionId)
      .add('new_session_id', opts.newSessionId ?? (this.retry ? randomUUID() : null))
      .add('up_to_seq', opts.upToSeq ?? null, '::bigint')
      .opt('idempotency_key', this.newKey(opts.idempotencyKey));
    const rows = await this.query(`SELECT * FROM session_store.fork_session(${a})`, a.values);
    return toSession(rows[0]!);
  }

  /** Arguments of pop_message, rewind_session (with to_seq) and clear_session. */
  private removeArgs(appName: string, userId: string, sessionId: string, opts: RemoveOptions,
                     toSeq?: number): Args {
    const a = new Args().add('app_name', appName).add('user_id', userId).add('session_id', sessionId);
    if (toSeq !== undefined) a.add('to_seq', toSeq, '::bigint');
    return a.add('expected_version', opts.expectedVersion ?? null, '::bigint')
      .opt('idempotency_key', this.newKey(opts.idempotencyKey));
  }

  /** session_store.get_app_state: {} when nothing was stored. */
  async getAppState(appName: string): Promise<Record<string, unknown>> {
    const rows = await this.query('SELECT session_store.get_app_state($1) AS s', [appName]);
    return rows[0]!.s;
  }

  /** session_store.get_user_state: {} when nothing was stored. */
  async getUserState(appName: string, userId: string): Promise<Record<string, unknown>> {
    const rows = await this.query('SELECT session_store.get_user_state($1, $2) AS s', [appName, userId]);
    return rows[0]!.s;
  }

  /** session_store.count_sessions (1.1): O(number of sessions counted). */
  async countSessions(appName: string, opts: { userId?: string | null } = {}): Promise<number> {
    const rows = await this.query(
      'SELECT session_store.count_sessions($1, $2) AS n', [appName, opts.userId ?? null]);
    return rows[0]!.n;
  }

  /**
   * session_store.expire_sessions: deletes up to `maxSessions` sessions idle
   * for longer than `idleFor` (an interval: '7 days', or seconds as a number).
   */
  async expireSessions(idleFor: string | number, opts: ExpireOptions = {}): Promise<number> {
    const interval = typeof idleFor === 'number' ? `${idleFor} seconds` : idleFor;
    const a = new Args().add('idle_for', interval, '::interval')
      .add('app_name', opts.appName ?? null)
      .opt('max_sessions', opts.maxSessions, '::integer');
    const rows = await this.query(`SELECT session_store.expire_sessions(${a}) AS n`, a.values);
    return rows[0]!.n;
  }
}
