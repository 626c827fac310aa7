// The load runs' own PostgreSQL database (bench/run.ts: hotline_bench, test/sipp/run.ts: hotline_sipp).
import pg from 'pg';

/** create the database named in the URL if it does not exist */
export async function ensureDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const name = u.pathname.slice(1);
  u.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: u.toString() });
  await admin.connect();
  try {
    const r = await admin.query('select 1 from pg_database where datname = $1', [name]);
    // the app role has CREATEDB (scripts/setup.sh); otherwise create it as the postgres OS user
    if (r.rowCount === 0) await admin.query(`create database "${name.replace(/"/g, '')}"`);
  } finally {
    await admin.end();
  }
}
