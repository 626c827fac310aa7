import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { TEST_DATABASE_URL } from '../helpers/env.js';

const run = promisify(execFile);
const env = { ...process.env, DATABASE_URL: TEST_DATABASE_URL, LOG_LEVEL: 'silent' };

describe('npm run db:migrate / npm run seed', () => {
  it('migrate applies (idempotently) and seed leaves existing demo data alone', async () => {
    const migrate = await run('npx', ['tsx', 'scripts/migrate.ts'], { env, timeout: 60_000 });
    expect(migrate.stdout).toMatch(/migrations applied to hotline_test/);
    // the demo centers exist in the test database once any ensureDemoData ran; seeding twice proves idempotency
    await run('npx', ['tsx', 'scripts/seed.ts'], { env, timeout: 60_000 });
    const second = await run('npx', ['tsx', 'scripts/seed.ts'], { env, timeout: 60_000 });
    expect(second.stdout).toMatch(/demo data already present/);
  }, 120_000);

  it('fails fast, naming the variable, on a bad environment', async () => {
    const failed = await run('npx', ['tsx', 'scripts/migrate.ts'], { env: { ...env, DATABASE_URL: 'not a url' }, timeout: 60_000 }).catch((e: { code: number; stderr: string }) => e);
    expect((failed as { code: number }).code).not.toBe(0);
    expect((failed as { stderr: string }).stderr).toContain('DATABASE_URL');
  }, 120_000);
});
