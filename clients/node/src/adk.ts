/**
 * SessionStoreService: a BaseSessionService for @google/adk on session_store.
 *
 * Each method is one SQL statement.  The session's `version` travels with
 * the ADK Session object (under a symbol key, so it survives spreads and
 * cloneDeep but is not serialized); appendEvent sends it as
 * expected_version, so a copy that another writer has moved past fails with
 * StaleSessionError instead of silently diverging.  An event is appended with
 * its id as idempotency key (verified: the same id with other content fails
 * with IdempotencyConflict) and its own timestamp as message time; state
 * values null are stored as null (keep_nulls), as ADK expects.
 *
 * lastUpdateTime is ADK's: the timestamp of the session's last appended
 * event (the create time of its newest stored message), its create time when
 * it has none; the same from createSession, getSession (whatever the
 * window), appendEvent and listSessions.  Listing order is the server's
 * (update_time, the server's clock), not lastUpdateTime: event timestamps
 * come from the clocks of the machines that made them.  getSession's
 * afterTimestamp is inclusive (ADK-Python's and the in-memory services'
 * reading), where @google/adk's DatabaseSessionService is exclusive.
 */
import {
  BaseSessionService,
  createEvent,
  createSession as makeAdkSession,
  trimTempDeltaState,
  type AppendEventRequest,
  type CreateSessionRequest,
  type DeleteSessionRequest,
  type Event,
  type GetSessionRequest,
  type ListSessionsRequest,
  type ListSessionsResponse,
  type Session,
} from '@google/adk';

import {
  MAX_PAGE_SIZE,
  SessionStore,
  type JsonObject,
  type SessionRow,
  type SessionStoreOptions,
  type SessionSummaryWithState,
  type StoreSource,
} from './client.js';
import { SessionExists, SessionNotFound, VersionConflict } from './errors.js';

/** Where a Session object carries the version it was read at. */
export const SESSION_VERSION = Symbol.for('session-store.version');

type VersionedSession = Session & { [SESSION_VERSION]?: number };

/** The version a Session object was read or last written at, if known. */
export function sessionVersion(session: Session): number | undefined {
  return (session as VersionedSession)[SESSION_VERSION];
}

function setVersion(session: Session, version: number): void {
  (session as VersionedSession)[SESSION_VERSION] = version;
}

/**
 * The session was changed by another writer after this copy was read.
 * Re-read it with getSession and retry.  A VersionConflict, so code that
 * catches the client's classes catches it too.
 */
export class StaleSessionError extends VersionConflict {}

export interface SessionStoreServiceOptions extends SessionStoreOptions {
  /** How many keyset positions listSessions remembers for offset paging. */
  pageTokenCacheSize?: number;
}

/** A BaseSessionService that stores sessions in session_store. */
export class SessionStoreService extends BaseSessionService {
  readonly store: SessionStore;
  private readonly ownsStore: boolean;
  private readonly tokenCacheSize: number;
  /** (app, user, ascending, offset) -> the page token that continues at that offset. */
  private readonly tokens = new Map<string, string>();

  /**
   * @param source a SessionStore, a pg.Pool or client, `{ pool }`, or a
   *   pg.PoolConfig with a `connectionString`.
   * @param opts `retry` and `install` apply to the store the service makes
   *   (a SessionStore passed in keeps its own).
   */
  constructor(source: SessionStore | StoreSource, opts: SessionStoreServiceOptions = {}) {
    super();
    this.ownsStore = !(source instanceof SessionStore);
    this.store = source instanceof SessionStore ? source
      : new SessionStore(source, { ...(opts.retry === undefined ? {} : { retry: opts.retry }),
                                   install: opts.install ?? false });
    this.tokenCacheSize = opts.pageTokenCacheSize ?? 10000;
  }

  /** Ends the pool if the service made it from a connection string; a store passed in is left alone. */
  async close(): Promise<void> {
    if (this.ownsStore) await this.store.close();
  }

  /**
   * An id that exists already fails as ADK's DatabaseSessionService fails:
   * its text (`Session with id X already exists.`), on a SessionExists.
   */
  override async createSession(req: CreateSessionRequest): Promise<Session> {
    let row;
    try {
      row = await this.store.createSession(req.appName, req.userId, {
        state: (req.state ?? null) as JsonObject | null,
        sessionId: req.sessionId ?? null,
        keepNulls: true,
      });
    } catch (err) {
      if (err instanceof SessionExists) {
        throw new SessionExists(`Session with id ${req.sessionId} already exists.`,
                                { sqlstate: err.sqlstate, detail: err.detail, hint: err.hint, cause: err });
      }
      throw err;
    }
    return toAdkSession(row, [], row.createTime);
  }

  override async getSession(req: GetSessionRequest): Promise<Session | undefined> {
    const cfg = req.config;
    try {
      const loaded = await this.store.loadSession<Event>(req.appName, req.userId, req.sessionId, {
        // 0 and undefined both mean "all", as in ADK's own services.
        maxCount: cfg?.numRecentEvents ? cfg.numRecentEvents : null,
        // Inclusive: events whose timestamp is >= afterTimestamp (after_time), as in
        // ADK-Python and ADK's in-memory services; @google/adk's DatabaseSessionService
        // is exclusive (timestamp > the bound), a listed divergence.
        afterTime: cfg?.afterTimestamp ? new Date(cfg.afterTimestamp) : undefined,
      });
      if (!loaded) return undefined;
      return toAdkSession(loaded.session, loaded.messages.map((m) => createEvent(m.message)),
                          loaded.latestMessageTime ?? loaded.session.createTime);
    } catch (err) {
      // deleted between the two function calls of the statement
      if (err instanceof SessionNotFound) return undefined;
      throw err;
    }
  }

  /**
   * Most recently updated first (by the server's update time); with
   * `order: 'asc'`, least recently updated first (list_sessions with
   * ascending: the same order reversed, ties by user and session id
   * descending).  Each listed session has its merged state, as getSession
   * returns it (list_sessions_with_state), and no events.  With `limit`,
   * one statement serves the page and totalItems (count_sessions,
   * O(sessions of the app or user));
   * a page that continues where an earlier one ended starts from that
   * page's keyset token, at O(limit) whatever the offset.  An offset never
   * reached that way is walked to in pages of up to 10,000 keyset rows.
   * A page continues from the position where the one before it ended, so
   * within one service object sessions updated meanwhile are neither
   * repeated nor skipped; the positions are this object's own (another
   * process, or a listing that starts again at offset 0, starts afresh,
   * and there offsets move with updates as in any offset paging).
   * Positions are kept per direction: a token of one order never continues
   * the other.
   */
  override async listSessions(req: ListSessionsRequest): Promise<ListSessionsResponse> {
    const { appName, limit, order } = req;
    const userId = req.userId || null;
    if (order !== undefined && order !== 'asc' && order !== 'desc') {
      throw new RangeError(`listSessions: order must be 'asc' or 'desc', not ${String(order)}`);
    }
    const ascending = order === 'asc';
    const listing: Listing = { appName, userId, ascending };
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
      throw new RangeError(`listSessions: limit must be a non-negative integer, not ${limit}`);
    }
    let offset: number;
    let page: number;
    if (limit !== undefined && req.page !== undefined) {
      offset = (req.page - 1) * limit;
      page = req.page;
    } else {
      offset = req.offset ?? 0;
      page = limit ? Math.floor(offset / limit) + 1 : 1;
    }
    if (!Number.isInteger(offset) || offset < 0) {
      throw new RangeError(`listSessions: offset must be a non-negative integer, not ${offset}`);
    }

    if (limit === undefined) {
      // Everything from offset on: keyset pages of the largest size.
      const token = await this.tokenAt(listing, offset);
      const all: ListedSession[] = [];
      if (token !== undefined) {
        for (let t: string | null = token; ;) {
          const { rows } = await this.listPage(listing, MAX_PAGE_SIZE, t, false);
          all.push(...rows);
          if (rows.length < MAX_PAGE_SIZE) break;
          t = rows[rows.length - 1]!.nextPageToken;
        }
      }
      const sessions = all.map((s) => listedToAdk(appName, s));
      const total = offset === 0 ? all.length : await this.store.countSessions(appName, { userId });
      return { sessions, page: 1, limit: total, totalItems: total, totalPages: total === 0 ? 0 : 1 };
    }

    // A listing that starts over forgets the positions of the one before.
    if (offset === 0) this.forget(listing);
    const token = limit === 0 ? null : await this.tokenAt(listing, offset);
    const { total, rows } = await this.pageWithCount(listing, limit, token);
    if (rows.length) {
      this.remember(listing, offset + rows.length, rows[rows.length - 1]!.nextPageToken);
    }
    return {
      sessions: rows.map((s) => listedToAdk(appName, s)),
      page,
      limit,
      totalItems: total,
      totalPages: limit === 0 ? 0 : Math.ceil(total / limit),
    };
  }

  override async deleteSession(req: DeleteSessionRequest): Promise<void> {
    await this.store.deleteSession(req.appName, req.userId, req.sessionId);
  }

  override async appendEvent({ session, event }: AppendEventRequest): Promise<Event> {
    if (event.partial) return event;
    trimTempDeltaState(event);
    const delta = event.actions?.stateDelta;
    const version = sessionVersion(session);
    let res;
    try {
      res = await this.store.appendMessages(session.appName, session.userId, session.id, [event], {
        stateDelta: delta && Object.keys(delta).length ? (delta as JsonObject) : null,
        expectedVersion: version ?? null,
        idempotencyKey: event.id,
        keepNulls: true,
        messageTime: event.timestamp,
        verifyReplay: true,
      });
    } catch (err) {
      if (err instanceof SessionNotFound) {
        // ADK's DatabaseSessionService's words
        throw new SessionNotFound(`Session ${session.id} not found for appendEvent`,
                                  { sqlstate: err.sqlstate, detail: err.detail, hint: err.hint, cause: err });
      }
      if (err instanceof VersionConflict) {
        throw new StaleSessionError(
          `session "${session.id}" was changed by another writer after this copy was read ` +
          `(at version ${version}); read it again with getSession and retry`,
          { sqlstate: err.sqlstate, detail: err.detail, hint: err.hint, cause: err });
      }
      throw err;
    }
    // The local copy follows what was stored, as BaseSessionService does.
    await super.appendEvent({ session, event });
    // ADK's lastUpdateTime: the timestamp of the last appended event
    session.lastUpdateTime = event.timestamp;
    // A replay returns the version of the first call: never move a copy back.
    setVersion(session, Math.max(version ?? 0, res.version));
    return event;
  }

  /** The keyset token that continues at `offset` (null: from the start). */
  private async tokenAt(listing: Listing, offset: number): Promise<string | null | undefined> {
    if (offset === 0) return null;
    const { appName, userId, ascending } = listing;
    const cached = this.tokens.get(tokenKey(listing, offset));
    if (cached !== undefined) return cached;
    // Walk from the nearest remembered position below offset.
    let at = 0;
    let token: string | null = null;
    for (const [k, v] of this.tokens) {
      const [a, u, asc, o] = JSON.parse(k) as [string, string | null, boolean, number];
      if (a === appName && u === userId && asc === ascending && o < offset && o > at) { at = o; token = v; }
    }
    while (at < offset) {
      const step = Math.min(MAX_PAGE_SIZE, offset - at);
      const rows = await this.store.query(
        `SELECT l.next_page_token, l.ordinality
           FROM session_store.list_sessions($1, $2, $3::integer, $4, ascending => $5::boolean)
                WITH ORDINALITY AS l
          ORDER BY l.ordinality DESC LIMIT 1`,
        [appName, userId, step, token, ascending]);
      // fewer than offset sessions: the page is past the end
      if (!rows.length || Number(rows[0]!.ordinality) !== step) return undefined;
      token = rows[0]!.next_page_token as string;
      at += step;
    }
    this.remember(listing, offset, token!);
    return token;
  }

  /** Pages of list_sessions_with_state from `token` on, up to `limit` rows, with count_sessions. */
  private async pageWithCount(listing: Listing, limit: number, token: string | null | undefined):
      Promise<{ total: number; rows: ListedSession[] }> {
    const { appName, userId } = listing;
    if (limit === 0 || token === undefined) {
      return { total: await this.store.countSessions(appName, { userId }), rows: [] };
    }
    const rows: ListedSession[] = [];
    let total = 0;
    // list_sessions_with_state serves at most MAX_PAGE_SIZE rows a call.
    let t: string | null = token;
    for (let left = limit; left > 0;) {
      const size = Math.min(left, MAX_PAGE_SIZE);
      const page = await this.listPage(listing, size, t, true);
      total = page.total;
      rows.push(...page.rows);
      if (page.rows.length < size) break;
      left -= size;
      t = page.rows[page.rows.length - 1]!.nextPageToken;
    }
    return { total, rows };
  }

  /**
   * One statement: one page of list_sessions_with_state (each session's
   * merged state), each row with the create time of the session's newest
   * message (one index probe per row: O(page)), and with `counted`
   * count_sessions.  The functions are STABLE, so all of it reads one
   * snapshot: a session listed is there for get_messages.
   */
  private async listPage(listing: Listing, size: number, token: string | null, counted: boolean):
      Promise<{ total: number; rows: ListedSession[] }> {
    const { appName, userId, ascending } = listing;
    const res = await this.store.query(
      // MATERIALIZED: counted once, not once per row of the page
      `WITH c AS MATERIALIZED (SELECT ${counted ? 'session_store.count_sessions($1, $2)' : 'NULL::bigint'} AS total)
       SELECT c.total, l.*,
              CASE WHEN l.session_id IS NOT NULL THEN
                (SELECT m.create_time
                   FROM session_store.get_messages($1, l.user_id, l.session_id, max_count => 1,
                                                   before_seq => l.last_seq + 1) AS m)
              END AS latest_message_time
         FROM c LEFT JOIN LATERAL session_store.list_sessions_with_state($1, $2, $3::integer, $4,
                                                                         ascending => $5::boolean)
              WITH ORDINALITY AS l ON true
        ORDER BY l.ordinality`,
      [appName, userId, size, token, ascending]);
    return {
      total: Number(res[0]!.total ?? 0),
      rows: res.filter((r) => r.session_id !== null).map((r) => ({
        userId: r.user_id, sessionId: r.session_id, version: r.version, lastSeq: r.last_seq,
        createTime: r.create_time, updateTime: r.update_time, nextPageToken: r.next_page_token,
        state: r.state ?? {}, latestMessageTime: r.latest_message_time,
      })),
    };
  }

  private forget(listing: Listing): void {
    const { appName, userId, ascending } = listing;
    const prefix = JSON.stringify([appName, userId, ascending]).slice(0, -1) + ',';
    for (const k of [...this.tokens.keys()]) if (k.startsWith(prefix)) this.tokens.delete(k);
  }

  private remember(listing: Listing, offset: number, token: string): void {
    const key = tokenKey(listing, offset);
    this.tokens.delete(key);
    this.tokens.set(key, token);
    while (this.tokens.size > this.tokenCacheSize) {
      this.tokens.delete(this.tokens.keys().next().value!);
    }
  }
}

/** One listing: an app's (or a user's) sessions in one direction. */
interface Listing {
  appName: string;
  userId: string | null;
  ascending: boolean;
}

function tokenKey(listing: Listing, offset: number): string {
  return JSON.stringify([listing.appName, listing.userId, listing.ascending, offset]);
}

/**
 * `lastUpdated`: the time of the session's last appended event (its stored
 * message time), or its create time when it has none: ADK's lastUpdateTime.
 */
function toAdkSession(row: SessionRow, events: Event[], lastUpdated: Date): Session {
  const s = makeAdkSession({
    id: row.sessionId,
    appName: row.appName,
    userId: row.userId,
    state: row.state,
    events,
    lastUpdateTime: lastUpdated.getTime(),
  });
  setVersion(s, row.version);
  return s;
}

/** A listed session: list_sessions_with_state's row and its newest message's time. */
interface ListedSession extends SessionSummaryWithState {
  latestMessageTime: Date | null;
}

/** As getSession's, without events: the merged state, lastUpdateTime as toAdkSession's. */
function listedToAdk(appName: string, s: ListedSession): Session {
  const out = makeAdkSession({
    id: s.sessionId,
    appName,
    userId: s.userId,
    state: s.state,
    events: [],
    lastUpdateTime: (s.latestMessageTime ?? s.createTime).getTime(),
  });
  setVersion(out, s.version);
  return out;
}
