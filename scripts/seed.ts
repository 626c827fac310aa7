// npm run seed — apply migrations, then create the demo centers and users if absent (credentials printed once).
import { pino } from 'pino';
import { loadEnv } from '../src/config/env.js';
import { createPool, createDb, applyMigrations } from '../src/db/client.js';
import { ensureDemoData } from '../src/auth/demo-data.js';

const env = loadEnv();
const log = pino({ level: env.LOG_LEVEL });
const pool = createPool(env.DATABASE_URL, 2);
try {
  await applyMigrations(pool);
  const result = await ensureDemoData({ db: createDb(pool), log });
  if (result.createdTenants.length === 0) {
    console.log('demo data already present; nothing created (passwords were shown when it was first created).');
    console.log('an admin can reset a password with PATCH /admin/users/:id {"resetPassword": true}.');
  }
} catch (err) {
  console.error('seed failed:', err instanceof Error ? err.message : err);
  process.exitCode = 1;
} finally {
  await pool.end();
}
