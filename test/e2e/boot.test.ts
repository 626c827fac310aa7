// (e) `npm start` as an operator runs it (tsx src/main.ts, no FREESWITCH_ESL): the emulator banner, /healthz 200 with
// every part up, /metrics, and SIGTERM → drain → exit 0.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { TEST_DATABASE_URL, TEST_REDIS_URL, randomPrefix } from '../helpers/env.js';
import { until } from './cti-fixture.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const prefix = randomPrefix('boot');
let child: ChildProcess | undefined;

afterAll(async () => {
  child?.kill('SIGKILL');
  const redis = new Redis(TEST_REDIS_URL);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

describe('npm start on the built-in emulator', () => {
  it('serves /healthz 200 with every part up and /metrics; SIGTERM drains and exits 0', async () => {
    const started = Date.now();
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: {
        ...process.env,
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'info',
        FREESWITCH_ESL: '',
        SIM_ESL_PORT: '0',
        DATABASE_URL: TEST_DATABASE_URL,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_PREFIX: prefix,
        SEED_DEMO_DATA: 'false',
        DRAIN_TIMEOUT_MS: '3000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    await until(() => /"msg":"ready"/.test(out), 40_000, 'ready log line').catch((e: Error) => {
      throw new Error(`${e.message}\n${out.slice(-2000)}\n${err.slice(-2000)}`);
    });
    const ready = JSON.parse(out.split('\n').find((l) => l.includes('"msg":"ready"'))!) as { url: string; startupMs: number };
    // loud, on stderr as plain text and in the log
    expect(err).toContain('BUILT-IN FREESWITCH EMULATOR');
    expect(out).toContain('BUILT-IN FREESWITCH EMULATOR');
    expect(ready.startupMs).toBeLessThan(20_000);
    console.log(`npm start on the emulator: startCti ${ready.startupMs} ms, process to ready ${Date.now() - started} ms`);

    const health = await fetch(`${ready.url}/healthz`);
    expect(health.status).toBe(200);
    const body = (await health.json()) as { status: string; checks: Record<string, { ok: boolean }> };
    expect(body.status).toBe('ok');
    expect(Object.keys(body.checks)).toEqual(expect.arrayContaining(['postgres', 'redis', 'esl:fs1', 'ivr-flows']));
    for (const [name, c] of Object.entries(body.checks)) expect(c.ok, name).toBe(true);

    const metrics = await fetch(`${ready.url}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('hotline_esl_connected');
    expect(text).toContain('hotline_esl_events_total');

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('draining: no new calls on this node');
  }, 60_000);
});
