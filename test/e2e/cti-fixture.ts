// Starts the real CTI composition (src/server.ts startCti) in-process for end-to-end tests: on its embedded
// emulator (or a given one), the test PostgreSQL and Redis under a random key prefix, a throw-away tenant with the
// shipped demo flows (stub prompts, short media), agents on extensions 1001… and the demo skill groups.
import fs from 'node:fs';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { loadEnv } from '../../src/config/env.js';
import { startCti, type RunningCti, type CtiOverrides } from '../../src/server.js';
import { Lifecycle } from '../../src/lifecycle.js';
import { ensureDemoSkillGroups } from '../../src/acd/index.js';
import type { TtsProvider } from '../../src/tts/provider.js';
import { makeTestContext, createTestTenant, createTestUser, login, type TestUser, type LoggedIn } from '../http/fixture.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL, randomPrefix } from '../helpers/env.js';
import { prepareDemoTenant, ALWAYS_OPEN, type DemoDirs } from '../ivr/demo-tenant.js';

export const fakeTts: TtsProvider = { id: 'fake', render: async (text, out) => fs.writeFileSync(out, `RIFF${text}`) };

export const until = async (cond: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> => {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what} not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** prompt basenames the caller heard, in order */
export const heardFiles = (heard: { what: string }[]) => heard.map((h) => h.what.replace(/^file:.*\//, '')).filter((w) => w.endsWith('.wav'));
export const hasHeard = (party: { heard: { what: string }[] }, file: string) => heardFiles(party.heard).includes(file);

export interface E2eTenant {
  tenant: string;
  dirs: DemoDirs;
  agents: TestUser[];
  /** skill group code → id */
  groups: Map<string, string>;
  prefix: string;
  close(): Promise<void>;
}

/** A tenant with the demo flows, `agentCount` agents (extensions 1001…) and the demo skill groups. */
export async function prepareE2eTenant(opts: { agentCount?: number; calendar?: string; databaseUrl?: string } = {}): Promise<E2eTenant> {
  const t = await makeTestContext(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {});
  const tenant = await createTestTenant(t.ctx);
  const dirs = prepareDemoTenant(tenant, { calendar: opts.calendar ?? ALWAYS_OPEN });
  const agents: TestUser[] = [];
  for (let i = 0; i < (opts.agentCount ?? 2); i++) agents.push(await createTestUser(t.ctx, tenant, 'agent', { extension: String(1001 + i) }));
  await ensureDemoSkillGroups(t.ctx.db, tenant);
  const rows = await t.ctx.pool.query<{ id: string; code: string }>('select id, code from skill_groups where tenant_id = $1', [tenant]);
  return { tenant, dirs, agents, groups: new Map(rows.rows.map((r) => [r.code, r.id])), prefix: randomPrefix('e2e'), close: () => t.close() };
}

export interface StartedCti extends RunningCti {
  lifecycleForTest: Lifecycle;
}

/** The CTI as `npm start` composes it, with test storage; FREESWITCH_ESL '' = its own emulator on a free port. */
export async function startTestCti(
  e: E2eTenant,
  opts: { env?: Record<string, string>; overrides?: CtiOverrides } = {},
): Promise<StartedCti> {
  const env = loadEnv({
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'silent',
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: e.prefix,
    FREESWITCH_ESL: '',
    SIM_ESL_PORT: '0',
    SEED_DEMO_DATA: 'false',
    IVR_FLOWS_DIR: e.dirs.flows,
    PROMPTS_DIR: e.dirs.prompts,
    RECORDINGS_DIR: e.dirs.recordings,
    SIP_DEFAULT_TENANT: e.tenant,
    LOGIN_RATE_LIMIT_PER_MINUTE: '1000',
    DRAIN_TIMEOUT_MS: '10000',
    ...opts.env,
  });
  const lifecycle = new Lifecycle();
  const cti = await startCti(env, {
    log: pino({ level: process.env.TEST_LOG ?? 'silent' }),
    lifecycle,
    ttsProvider: fakeTts,
    watchFlows: false,
    legSettleMs: 200,
    banner: false,
    printCredentials: false,
    ...opts.overrides,
    emulator: {
      heartbeatSec: 0,
      // the prompts are stubs: give them short, fixed durations (the welcome long enough to notice)
      mediaDurations: Object.fromEntries(e.dirs.promptNames.map((n) => [n, 300])),
      ...opts.overrides?.emulator,
    },
  });
  // the tracker's first resync must be done before calls arrive (see test/ivr/e2e-emulator.test.ts)
  await sleep(200);
  await cti.tracker.whenIdle();
  return Object.assign(cti, { lifecycleForTest: lifecycle });
}

/** Log an agent in over HTTP, sign in with the desk phone and go ready (the ACD REST routes). */
export async function agentReady(app: FastifyInstance, agent: TestUser): Promise<LoggedIn> {
  const session = await login(app, agent.loginId, agent.password);
  for (const url of ['/agents/me/sign-in', '/agents/me/ready']) {
    const res = await app.inject({ method: 'POST', url, headers: session.bearer, payload: {} });
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
  }
  return session;
}
