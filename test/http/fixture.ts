// Test fixture for the HTTP/auth/db tests: a real AppContext on the test PostgreSQL and Redis (random key prefix),
// and helpers that create a throw-away tenant and users with unique login ids (test files run in parallel).
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import type { FastifyInstance } from 'fastify';
import { loadEnv } from '../../src/config/env.js';
import { createPool, createDb } from '../../src/db/client.js';
import { tenants, type UserRole } from '../../src/db/schema/core.js';
import type { AppContext } from '../../src/app-context.js';
import { createUser } from '../../src/auth/users.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL, randomPrefix } from '../helpers/env.js';

export interface TestContext {
  ctx: AppContext;
  close(): Promise<void>;
}

export async function makeTestContext(envOverrides: Record<string, string> = {}): Promise<TestContext> {
  const prefix = randomPrefix('http');
  const env = loadEnv({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: prefix,
    LOGIN_RATE_LIMIT_PER_MINUTE: '1000',
    ...envOverrides,
  });
  const pool = createPool(env.DATABASE_URL, 4);
  const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: false });
  await new Promise<void>((resolve, reject) => {
    if (redis.status === 'ready') return resolve();
    redis.once('ready', () => resolve());
    redis.once('error', reject);
  });
  const ctx: AppContext = {
    env,
    log: pino({ level: 'silent' }),
    nodeId: 'test-node',
    pool,
    db: createDb(pool),
    redis,
    redisPrefix: prefix,
  };
  return {
    ctx,
    async close() {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
      await pool.end();
    },
  };
}

export const uniq = (tag = 'u') => `${tag}-${randomBytes(5).toString('hex')}`;

export async function createTestTenant(ctx: AppContext, name = '测试中心'): Promise<string> {
  const id = `t${randomBytes(5).toString('hex')}`;
  await ctx.db.insert(tenants).values({ id, name });
  return id;
}

export interface TestUser {
  id: string;
  tenantId: string;
  loginId: string;
  password: string;
  extension: string | null;
  sipPassword: string | null;
}

let extensionCounter = 0;
export async function createTestUser(
  ctx: AppContext,
  tenantId: string,
  role: UserRole,
  opts: { password?: string; extension?: string } = {},
): Promise<TestUser> {
  const password = opts.password ?? `Pass${randomBytes(4).toString('hex')}9`;
  const extension = opts.extension ?? (role === 'agent' ? String(2000 + ++extensionCounter) : null);
  const user = await createUser(ctx.db, tenantId, { loginId: uniq(role), displayName: `测试${role}`, role, password, extension });
  return { id: user.id, tenantId, loginId: user.loginId, password, extension: user.extension, sipPassword: user.sipPassword };
}

export interface LoggedIn {
  token: string;
  csrfToken: string;
  /** the Cookie header a browser would send */
  cookie: string;
  bearer: { authorization: string };
}

export async function login(app: FastifyInstance, loginId: string, password: string): Promise<LoggedIn> {
  const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { loginId, password } });
  if (res.statusCode !== 200) throw new Error(`login ${loginId} failed: ${res.statusCode} ${res.body}`);
  const body = res.json() as { token: string; csrfToken: string };
  const cookie = res.cookies.map((c) => `${c.name}=${c.value}`).join('; ');
  return { token: body.token, csrfToken: body.csrfToken, cookie, bearer: { authorization: `Bearer ${body.token}` } };
}
