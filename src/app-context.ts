import type { Logger } from 'pino';
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Env } from './config/env.js';
import type { Db } from './db/client.js';

/** What every module gets at start-up. Modules add their own services to the composition in src/main.ts. */
export interface AppContext {
  env: Env;
  log: Logger;
  nodeId: string;
  pool: pg.Pool;
  db: Db;
  /** for commands; subscribers and BullMQ open their own connections from env.REDIS_URL */
  redis: Redis;
  /** every Redis key this node writes starts with this (env.REDIS_PREFIX; random in tests) */
  redisPrefix: string;
}
