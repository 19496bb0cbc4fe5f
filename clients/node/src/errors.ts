/**
 * Errors raised by session_store, one class per SQLSTATE family.
 *
 * Every class carries the server's diagnostics unchanged: `message` (the
 * primary message), `detail`, `hint` and `sqlstate`.  The mapping is the one
 * the SQL design fixes for every client, so a Python and a TypeScript caller
 * catch the same conditions under the same names:
 *
 *   42704                         SessionNotFound
 *   23505                         SessionExists
 *   40001 " is at version "       VersionConflict
 *   40001 "no longer ends with the expected messages"
 *                                 SuffixMismatch (a VersionConflict)
 *   other 40001, 40P01            SerializationFailure (retry the transaction)
 *   42710                         IdempotencyConflict
 *   22xxx                         InvalidArgument
 *   54xxx                         LimitExceeded
 *   anything else                 SessionStoreError (base of all the above)
 *
 * and, from the client's retry layer (not a server error): ConnectionLost,
 * when a call's retry budget ran out on connection failures.
 */

/** What node-postgres puts on an error the server sent. */
interface ServerError {
  message: string;
  code?: string;
  detail?: string;
  hint?: string;
  /** Set on Node's own system errors (ECONNRESET, EPIPE ...), never on a server's. */
  syscall?: string;
  errno?: number;
}

/** Base class of every error raised by session_store. */
export class SessionStoreError extends Error {
  /** The server's SQLSTATE, e.g. "42704"; undefined for an error without one. */
  readonly sqlstate: string | undefined;
  /** The server's DETAIL line, if any. */
  readonly detail: string | undefined;
  /** The server's HINT line, if any. */
  readonly hint: string | undefined;

  constructor(
    message: string,
    diag: { sqlstate?: string; detail?: string; hint?: string; cause?: unknown } = {},
  ) {
    super(message, diag.cause === undefined ? undefined : { cause: diag.cause });
    this.name = new.target.name;
    this.sqlstate = diag.sqlstate;
    this.detail = diag.detail;
    this.hint = diag.hint;
  }
}

/** 42704: the session does not exist. */
export class SessionNotFound extends SessionStoreError {}

/** 23505: a session with this explicit id already exists. */
export class SessionExists extends SessionStoreError {}

/** 40001: `expected_version` did not match; re-read the session and retry. */
export class VersionConflict extends SessionStoreError {}

/** 40001: the session no longer ends with the expected messages. */
export class SuffixMismatch extends VersionConflict {}

/** 40001 (any other) or 40P01: retry the whole transaction. */
export class SerializationFailure extends SessionStoreError {}

/** 42710: an idempotency key was already used with different content. */
export class IdempotencyConflict extends SessionStoreError {}

/** 22xxx: an argument was rejected. */
export class InvalidArgument extends SessionStoreError {}

/** 54xxx: a configured limit was exceeded. */
export class LimitExceeded extends SessionStoreError {}

/**
 * A call's retry budget ran out on connection failures.  `attempts` is how
 * many times the statement was sent (each lost its connection: at most
 * maxAttempts), `connectFailures` how many tries got no connection from the
 * pool (the statement was not sent: these are bounded by maxElapsedMs only),
 * `elapsedMs` the time since the first try, `cause` the last try's error.
 * With `attempts` above 0 whether the call took effect is unknown: the last
 * attempt may have been applied with its reply lost.  With `attempts` 0 the
 * statement never reached the server, so the call did not take effect.
 */
export class ConnectionLost extends SessionStoreError {
  /** Times the statement was sent, each of them failing on its connection. */
  readonly attempts: number;
  /** Tries that got no connection (refused, the server starting up or shutting down): nothing was sent. */
  readonly connectFailures: number;
  /** Milliseconds from the first try to giving up. */
  readonly elapsedMs: number | undefined;

  constructor(attempts: number, cause: unknown,
              opts: { connectFailures?: number; elapsedMs?: number } = {}) {
    const why = cause instanceof Error ? cause.message : String(cause);
    const connectFailures = opts.connectFailures ?? 0;
    const over = opts.elapsedMs === undefined ? '' : ` over ${(opts.elapsedMs / 1000).toFixed(1)} s`;
    const connects = `${connectFailures} tr${connectFailures === 1 ? 'y' : 'ies'} to connect failed`;
    super(attempts === 0
      ? `no connection to be had: ${connects}${over} (last: ${why}); ` +
        'the statement was never sent, so the call did not take effect'
      : `connection lost on each of ${attempts} attempt${attempts === 1 ? '' : 's'}` +
        `${connectFailures ? ` (and ${connects})` : ''}${over} ` +
        `(last: ${why}); the outcome of the call is unknown`,
          { sqlstate: serverCode(cause), cause });
    this.attempts = attempts;
    this.connectFailures = connectFailures;
    this.elapsedMs = opts.elapsedMs;
  }
}

/** The SQLSTATE of an error the server sent; undefined for any other error. */
function serverCode(err: unknown): string | undefined {
  const e = err as ServerError | null;
  if (e === null || typeof e !== 'object' || typeof e.code !== 'string' ||
      !/^[0-9A-Z]{5}$/.test(e.code) || e.syscall !== undefined || e.errno !== undefined) {
    return undefined;
  }
  return e.code;
}

/** Node's socket errors that mean the connection is gone (or was never made). */
const SOCKET_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT',
  'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'ENETRESET',
]);

/** node-postgres's own messages for a connection closed, broken or not to be had. */
const CONNECTION_MESSAGES = [
  /^Connection terminated/,                                   // unexpectedly, due to connection timeout
  /^Client has encountered a connection error and is not queryable/,
  /^Client was closed and is not queryable/,
  /^timeout exceeded when trying to connect/,                 // the pool could not hand one out
  /^timeout expired/,                                         // connectionTimeoutMillis
];

/**
 * Whether an error is a connection-class failure, the only kind the retry
 * layer retries: SQLSTATE class 08, 57P01 (admin shutdown / terminated),
 * 57P02 (crash shutdown), 57P03 (cannot connect now); or, without a
 * SQLSTATE, a socket closed, reset, refused or broken.  Every other server
 * answer (23505, 40001, 40P01, 42xxx, 22xxx, 54xxx ...) is not.
 */
export function isConnectionFailure(err: unknown): boolean {
  if (err instanceof ConnectionLost) return false;
  if (err instanceof SessionStoreError) {
    // translated already: its cause is the driver's error
    return err.cause !== undefined && isConnectionFailure(err.cause);
  }
  const code = serverCode(err);
  if (code !== undefined) {
    return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03';
  }
  const e = err as ServerError | null;
  if (e === null || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && SOCKET_CODES.has(e.code)) return true;
  return typeof e.message === 'string' && CONNECTION_MESSAGES.some((re) => re.test(e.message));
}

/**
 * Whether an error is an answer of the server's to the statement (any
 * SQLSTATE outside the connection classes): the connection it came on is
 * healthy and goes back to the pool.
 */
export function isServerAnswer(err: unknown): boolean {
  return serverCode(err) !== undefined && !isConnectionFailure(err);
}

/** The class for a SQLSTATE and primary message, as the design maps them. */
function classFor(code: string, message: string): typeof SessionStoreError {
  if (code === '42704') return SessionNotFound;
  if (code === '23505') return SessionExists;
  if (code === '40001') {
    if (message.includes('no longer ends with the expected messages')) return SuffixMismatch;
    if (message.includes(' is at version ')) return VersionConflict;
    return SerializationFailure;
  }
  if (code === '40P01') return SerializationFailure;
  if (code === '42710') return IdempotencyConflict;
  if (code.startsWith('22')) return InvalidArgument;
  if (code.startsWith('54')) return LimitExceeded;
  return SessionStoreError;
}

/**
 * The session_store error for an error thrown by node-postgres: a server
 * error becomes its class; anything else (a broken connection, a bug) is
 * returned unchanged.
 */
export function translateError(err: unknown): unknown {
  if (err instanceof SessionStoreError) return err;
  const code = serverCode(err);
  if (code === undefined) return err;
  const e = err as ServerError;
  const cls = classFor(code, e.message);
  return new cls(e.message, { sqlstate: code, detail: e.detail, hint: e.hint, cause: err });
}
