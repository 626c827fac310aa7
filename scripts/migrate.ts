// npm run db:migrate — apply the sql/ migrations to DATABASE_URL (the server also does this at start).
import { loadEnv } from '../src/config/env.js';
import { createPool, applyMigrations } from '../src/db/client.js';

const env = loadEnv();
const pool = createPool(env.DATABASE_URL, 2);
try {
  const started = Date.now();
  await applyMigrations(pool);
  console.log(`migrations applied to ${new URL(env.DATABASE_URL).pathname.slice(1)} in ${Date.now() - started} ms`);
} catch (err) {
  console.error('migration failed:', err instanceof Error ? err.message : err);
  process.exitCode = 1;
} finally {
  await pool.end();
}
