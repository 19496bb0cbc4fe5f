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
 */

/** What node-postgres puts on an error the server sent. */
interface ServerError {
  message: string;
  code?: string;
  detail?: string;
  hint?: string;
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
  const e = err as ServerError | null;
  if (e === null || typeof e !== 'object' || typeof e.code !== 'string' ||
      !/^[0-9A-Z]{5}$/.test(e.code)) {
    return err;
  }
  const cls = classFor(e.code, e.message);
  return new cls(e.message, { sqlstate: e.code, detail: e.detail, hint: e.hint, cause: err });
}
