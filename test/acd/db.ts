import { randomBytes } from 'node:crypto';
import { createPool, createDb } from '../../src/db/client.js';
import { TEST_DATABASE_URL } from '../helpers/env.js';

export function testDb() {
  const pool = createPool(TEST_DATABASE_URL, 4);
  const db = createDb(pool);
  return { pool, db };
}

/** A fresh tenant per test, so per-tenant figures never see another test's rows. */
export async function freshTenant(pool: import('pg').Pool): Promise<string> {
  const id = `t${randomBytes(5).toString('hex')}`;
  await pool.query(`insert into tenants (id, name) values ($1, $2)`, [id, '测试热线']);
  return id;
}
