import fs from 'node:fs';
import { createPool, applyMigrations, MIGRATIONS_DIR } from '../src/db/client.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://hotline:hotline@127.0.0.1:5432/hotline_test';

/** Runs once per `vitest run`: services are up (scripts/setup.sh) and the test database has every migration. */
export default async function setup(): Promise<void> {
  process.env.TEST_DATABASE_URL = TEST_DATABASE_URL;
  process.env.TEST_REDIS_URL ??= process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
  if (!fs.existsSync(MIGRATIONS_DIR) || !fs.readdirSync(MIGRATIONS_DIR).some((f) => f.endsWith('.sql'))) return;
  const pool = createPool(TEST_DATABASE_URL, 2);
  try {
    await applyMigrations(pool);
  } finally {
    await pool.end();
  }
}
