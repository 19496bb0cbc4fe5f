#!/usr/bin/env node
/**
 * session-store install URL   installs the portable edition where no edition is installed
 * session-store edition URL   prints the edition and version installed
 *
 * URL: a PostgreSQL connection string (postgresql://...), or pglite:DIR
 * for a PGlite database kept in DIR (needs @electric-sql/pglite).
 * Prints {"edition": ..., "version": ...} (null: none installed).
 */
import pg from 'pg';

import { editionOf, install, type InstallTarget } from './install.js';

async function open(url: string): Promise<{ db: InstallTarget; close: () => Promise<void> }> {
  if (url.startsWith('pglite:')) {
    const mod: string = '@electric-sql/pglite';
    const { PGlite } = await import(mod) as { PGlite: { create(dir: string): Promise<InstallTarget & { close(): Promise<void> }> } };
    const db = await PGlite.create(url.slice('pglite:'.length));
    return { db, close: () => db.close() };
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return { db: client, close: () => client.end() };
}

const [cmd, url] = process.argv.slice(2);
if ((cmd !== 'install' && cmd !== 'edition') || !url) {
  process.stderr.write('usage: session-store install|edition URL   (postgresql://... or pglite:DIR)\n');
  process.exit(2);
}
try {
  const { db, close } = await open(url);
  try {
    const e = cmd === 'install' ? await install(db) : await editionOf(db);
    process.stdout.write(`${JSON.stringify(e)}\n`);
  } finally {
    await close();
  }
} catch (err) {
  const e = err as { message?: string; detail?: string; hint?: string };
  process.stderr.write(`session-store ${cmd}: ${e.message ?? String(err)}\n` +
                       (e.detail ? `DETAIL: ${e.detail}\n` : '') + (e.hint ? `HINT: ${e.hint}\n` : ''));
  process.exit(1);
}
