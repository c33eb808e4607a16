import pg from 'pg';
import { createLocationTableSql, versionRowSql, versionTableSql } from '../db/ddl.js';
import { openDb } from '../db/open.js';
import { releaseProfile } from '../opensips/releases.js';

/** Creates a database on a PostgreSQL server and returns its URL. */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * A location table of a release, as OpenSIPS's scripts create it, plus its `version` row, in a
 * PostgreSQL or (mysql://, mariadb://) MySQL/MariaDB database.
 */
export async function createLocationTable(url: string, release: string, table = 'location'): Promise<void> {
  const db = await openDb(url);
  try {
    const profile = releaseProfile(release);
    for (const sql of createLocationTableSql(profile, db.dialect, table)) await db.query(sql);
    await db.query(versionTableSql(db.dialect));
    await db.query(versionRowSql(profile, db.dialect, table));
  } finally {
    await db.close();
  }
}

export async function countRows(url: string, table: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query(`SELECT count(*)::int AS n FROM ${table}`);
    return rows[0].n as number;
  } finally {
    await c.end();
  }
}
