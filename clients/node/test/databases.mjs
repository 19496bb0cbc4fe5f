// Test databases: a fresh database with the extension for each test file.
// The server is the one the PG* environment names (pg_virtualenv sets it).
// SS_EDITION=portable: the portable edition, installed by the client's
// install(), instead of CREATE EXTENSION (the C edition).
import { randomBytes } from 'node:crypto';
import pg from 'pg';

import { install } from '../dist/index.js';

/** The edition the suite runs on: 'c' (default) or 'portable'. */
export const EDITION = process.env.SS_EDITION === 'portable' ? 'portable' : 'c';

/** Creates an empty database (no edition installed); returns its pg.Pool config. */
export async function emptyDatabase(label) {
  const name = `ss_node_${label}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  created.push(name);
  return { database: name };
}

const created = [];

/** Creates a database with session_store installed; returns its pg.Pool config. */
export async function freshDatabase(label) {
  const name = `ss_node_${label}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const c = new pg.Client({ database: name });
  await c.connect();
  try {
    if (EDITION === 'portable') await install(c);
    else await c.query('CREATE EXTENSION session_store');
  } finally {
    await c.end();
  }
  created.push(name);
  return { database: name };
}

/** The connection string of a database made by freshDatabase. */
export function connectionString(cfg) {
  const host = process.env.PGHOST ?? 'localhost';
  const port = process.env.PGPORT ?? '5432';
  const user = process.env.PGUSER ?? process.env.USER ?? 'postgres';
  const pw = process.env.PGPASSWORD ? `:${encodeURIComponent(process.env.PGPASSWORD)}` : '';
  const hostPart = host.startsWith('/') ? `localhost` : host;
  const q = host.startsWith('/') ? `?host=${encodeURIComponent(host)}` : '';
  return `postgresql://${encodeURIComponent(user)}${pw}@${hostPart}:${port}/${cfg.database}${q}`;
}

/**
 * Drops every database this process made.  pool.end() resolves once it has
 * asked its clients to close, not when their backends are gone; a FORCE
 * drop would terminate those and their FATAL would reach a pool that has no
 * 'error' listener.  So the backends get a few seconds to leave first.
 */
export async function dropDatabases() {
  const admin = new pg.Client({ database: 'postgres' });
  await admin.connect();
  try {
    for (const name of created.splice(0)) {
      for (let i = 0; i < 250; i++) {
        const r = await admin.query('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1', [name]);
        if (Number(r.rows[0].n) === 0) break;
        await new Promise((res) => setTimeout(res, 20));
      }
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}

/** Whether the installed extension is 1.1 or later (functions the design adds). */
export async function extensionVersion(pool) {
  const r = await pool.query('SELECT version FROM session_store.edition()');
  return r.rows[0].version;
}
