/**
 * Which edition of session_store a database holds, and the portable
 * edition's installer.
 *
 * The package ships the portable edition's script (sql/session_store.sql,
 * copied from the repository's portable/session_store.sql when the package
 * is built; that file is the one source).  `install` runs it only where no
 * edition is installed, never over the C edition, and is safe from many
 * processes at once: the script takes an advisory lock (21331, 0) before
 * its guard looks, so of two installers the second waits for the first,
 * sees what it committed and stops with 42710 ("session_store ... is
 * already installed", or "the C edition of session_store is installed"),
 * which install takes as success: the edition then installed is returned.
 */
import { readFileSync } from 'node:fs';

import type pg from 'pg';

import { translateError } from './errors.js';
import { isPGlite, type PGliteLike } from './pglite.js';

/** The edition and version a database holds: ('c', '1.2') or ('portable', '1.2'). */
export interface Edition {
  edition: 'c' | 'portable' | string;
  version: string;
}

/** Anything a statement can be run on: a pg pool or client, or a PGlite instance. */
export type InstallTarget = pg.Pool | pg.ClientBase | PGliteLike;

let script: string | undefined;

/**
 * The portable edition's script without its outer BEGIN/COMMIT (the
 * installer runs it in a transaction of its own, on one connection).
 */
export function portableScript(): string {
  if (script === undefined) {
    const text = readFileSync(new URL('../sql/session_store.sql', import.meta.url), 'utf8');
    const m = /^BEGIN;\n([\s\S]*)\nCOMMIT;\n*$/m.exec(text);
    if (!m) throw new Error('sql/session_store.sql: not the script portable/build.sh makes (BEGIN; ... COMMIT;)');
    script = m[1]!;
  }
  return script;
}

const EDITION_SQL = 'SELECT edition, version FROM session_store.edition()';
/** A C extension older than 1.2 has no edition(): its version is pg_extension's. */
const EXTENSION_SQL = "SELECT 'c' AS edition, extversion AS version FROM pg_catalog.pg_extension WHERE extname = 'session_store'";

function code(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** One statement, rows back, whichever the target. */
async function rows(db: InstallTarget, text: string): Promise<Record<string, unknown>[]> {
  if (isPGlite(db)) return (await db.query<Record<string, unknown>>(text)).rows;
  return (await (db as pg.ClientBase).query(text)).rows;
}

/**
 * The edition installed, from `SELECT * FROM session_store.edition()`
 * (a C extension 1.0 or 1.1, which has no such function, from
 * pg_extension); null when none is installed.
 */
export async function editionOf(db: InstallTarget): Promise<Edition | null> {
  try {
    const r = await rows(db, EDITION_SQL);
    return { edition: r[0]!.edition as string, version: r[0]!.version as string };
  } catch (err) {
    // 42883: no such function; 3F000: no such schema
    if (code(err) !== '42883' && code(err) !== '3F000') throw translateError(err);
  }
  const r = await rows(db, EXTENSION_SQL);
  return r.length ? { edition: 'c', version: r[0]!.version as string } : null;
}

/**
 * Installs the portable edition unless an edition is installed already;
 * returns the edition installed afterwards.  On a pool, one client does
 * it all.  The role needs CREATE on the database.
 */
export async function install(db: InstallTarget): Promise<Edition> {
  if (isPGlite(db)) return installOn(db);
  const pool = db as pg.Pool & { release?: unknown };
  if (typeof pool.connect === 'function' && pool.release === undefined && typeof pool.totalCount === 'number') {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      return await installOn(client);
    } catch (err) {
      if (code(err) === undefined) broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      client.release(broken);
    }
  }
  return installOn(db);
}

async function installOn(db: InstallTarget): Promise<Edition> {
  const before = await editionOf(db);
  if (before) return before;
  try {
    if (isPGlite(db)) {
      // one transaction, nothing else runs on the instance meanwhile; rolled back on error
      await db.transaction(async (tx) => { await tx.exec(portableScript()); });
    } else {
      const c = db as pg.ClientBase;
      await c.query('BEGIN');
      try {
        await c.query(portableScript());
        await c.query('COMMIT');
      } catch (err) {
        await c.query('ROLLBACK').catch(() => {});
        throw err;
      }
    }
  } catch (err) {
    // another installer was first (or the C edition came meanwhile): what it installed is the answer
    if (code(err) !== '42710') throw translateError(err);
  }
  const after = await editionOf(db);
  if (!after) throw new Error('session_store: the portable edition was installed, yet no edition is found');
  return after;
}
