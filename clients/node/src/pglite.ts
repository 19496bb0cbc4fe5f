/**
 * PGlite (PostgreSQL compiled to WASM, in this process) as the store's
 * database: a PGlite instance passed where a pg pool would go.
 *
 * PGlite is one backend: it runs one statement at a time, queueing the
 * others itself (its query() waits for a running transaction() too), so
 * this adapter adds no lock and no pool.  Nothing here imports PGlite: an
 * instance is recognized by its shape (query, exec, transaction,
 * waitReady), so the package does not depend on it.
 *
 * The adapter answers `query({ text, values })` as node-postgres does
 * ({ rows }), with the client's conversions: bigint as a JavaScript number
 * (PGlite's own is a BigInt), and the JSON text the client sends passed
 * through as it is (PGlite would serialize a string parameter of a jsonb
 * placeholder once more, as a JSON string).
 */

/** The part of PGlite's interface the store uses. */
export interface PGliteLike {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], options?: {
    parsers?: Record<number, (value: string, typeId: number) => unknown>;
    serializers?: Record<number, (value: unknown) => string>;
  }): Promise<{ rows: T[]; fields: { name: string; dataTypeID: number }[]; affectedRows?: number }>;
  exec(sql: string): Promise<unknown>;
  transaction<T>(callback: (tx: { exec(sql: string): Promise<unknown>;
                                  query(sql: string, params?: unknown[]): Promise<unknown> }) => Promise<T>): Promise<T>;
  waitReady: Promise<void>;
}

/** Whether `x` is a PGlite instance (or one shaped like it). */
export function isPGlite(x: unknown): x is PGliteLike {
  const p = x as Partial<PGliteLike> | null;
  return typeof p === 'object' && p !== null && typeof p.query === 'function' &&
    typeof p.exec === 'function' && typeof p.transaction === 'function' && 'waitReady' in p;
}

const INT8_OID = 20;
const JSON_OID = 114;
const JSONB_OID = 3802;

function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(`bigint value ${text} does not fit a JavaScript number`);
  }
  return n;
}

/** JSON already serialized by the client goes as it is; anything else is serialized once. */
function jsonParam(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

const OPTIONS = {
  parsers: { [INT8_OID]: parseInt8 },
  serializers: { [JSON_OID]: jsonParam, [JSONB_OID]: jsonParam },
};

/** Query configs as node-postgres takes them (the `types` of the client are applied here instead). */
type QueryConfig = { text: string; values?: unknown[] };

/** A PGlite instance answering node-postgres-style queries. */
export class PGliteQueryable {
  constructor(readonly pglite: PGliteLike) {}

  async query(config: QueryConfig | string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[];
                                                                          rowCount: number }> {
    const text = typeof config === 'string' ? config : config.text;
    const params = typeof config === 'string' ? values : config.values ?? values;
    const res = await this.pglite.query<Record<string, unknown>>(text, params ?? [], OPTIONS);
    return { rows: res.rows, rowCount: res.affectedRows ?? res.rows.length };
  }
}
