import { z } from 'zod';

/** FREESWITCH_ESL: "host:port[,host:port…]". Empty or unset means: run on the built-in emulator. */
const eslNodes = z
  .string()
  .trim()
  .transform((s, ctx) => {
    if (s === '') return [];
    return s.split(',').map((part) => {
      const m = /^\s*([^:\s]+):(\d{1,5})\s*$/.exec(part);
      const port = m ? Number(m[2]) : NaN;
      if (!m || port < 1 || port > 65535) {
        ctx.addIssue({ code: 'custom', message: `"${part}" is not host:port` });
        return { host: '', port: 0 };
      }
      return { host: m[1]!, port };
    });
  });

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: z.string().url().default('postgres://hotline:hotline@127.0.0.1:5432/hotline'),
  /** statement timeout of the CTI's PostgreSQL pool (server-side, and client-side 1 s later for a silent server) */
  PG_QUERY_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(10_000),
  /** connections of the CTI's PostgreSQL pool (per node; mind the server's max_connections across nodes and workers) */
  PG_POOL_MAX: z.coerce.number().int().min(2).max(500).default(20),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379/0'),
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]+$/).default('hotline'),
  FREESWITCH_ESL: eslNodes.default([]),
  FREESWITCH_ESL_PASSWORD: z.string().min(1).default('ClueCon'),
  ESL_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5000),
  /** port of the embedded emulator's ESL listener when FREESWITCH_ESL is unset (0 = any free port) */
  SIM_ESL_PORT: z.coerce.number().int().min(0).max(65535).default(8021),
  NODE_ID: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/).optional(),
  SESSION_TTL_HOURS: z.coerce.number().min(1).max(24 * 30).default(12),
  COOKIE_SECURE: bool.default(false),
  IVR_FLOWS_DIR: z.string().default('ivr-flows'),
  PROMPTS_DIR: z.string().default('var/prompts'),
  RECORDINGS_DIR: z.string().default('var/recordings'),
  /** where recordings are compressed: worker-thread (off the CTI's event loop), inline (on it), off (npm run worker:recording does it) */
  RECORDING_COMPRESSION: z.enum(['worker-thread', 'inline', 'off']).default('worker-thread'),
  /** parallel compression jobs (ffmpeg processes); unset = CPU cores − 1, at least 1 */
  RECORDING_COMPRESSION_CONCURRENCY: z.coerce.number().int().min(1).max(64).optional(),
  DRAIN_TIMEOUT_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  /** 1-99: run the node's threads under SCHED_RR at this priority (needs CAP_SYS_NICE); 0 = normal scheduling */
  CPU_REALTIME_PRIORITY: z.coerce.number().int().min(0).max(99).default(0),
  /** failed logins in a row that lock an account, and for how long */
  LOGIN_MAX_FAILURES: z.coerce.number().int().min(1).max(100).default(5),
  LOGIN_LOCK_MINUTES: z.coerce.number().int().min(1).max(24 * 60).default(15),
  /** POST /auth/login attempts per client IP per minute (shared by all nodes through Redis) */
  LOGIN_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).max(10_000).default(20),
  /** shared secret FreeSWITCH's mod_xml_curl presents (basic-auth password or ?token=) at /freeswitch/directory */
  XML_CURL_SECRET: z.string().min(12).optional(),
  /** serve /freeswitch/directory to non-loopback callers (FreeSWITCH on another host); the secret is then required */
  XML_CURL_ALLOW_REMOTE: bool.default(false),
  /**
   * FreeSWITCH keeps each agent's directory entry this long (the `cacheable` attribute, its core user cache), so an
   * offer's user/ dial needs no xml_curl round trip to this server (the per-offer lookup was seconds under load).
   * 0 = not cached. A user change flushes the switches' user cache at once (`xml_flush_cache`, sent by the node
   * that made the change to every switch it drives, and again by every node that hears of it through Redis).
   * Default 30 min: a shorter entry expires under load and the next offer waits on xml_curl again.
   * At most 2,147,483: FreeSWITCH computes the expiry as int ms × 1000 (switch_xml.c), so 1 h overflows into
   * "already expired" and every offer asks again (seen on 1.11.3-dev).
   */
  XML_CURL_USER_CACHE_MS: z.coerce.number().int().min(0).max(2_147_483).default(1_800_000),
  /** tenant whose agents are served when the SIP domain does not name a tenant (e.g. the domain is an IP address) */
  SIP_DEFAULT_TENANT: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/).default('demo'),
  /** reverse proxies whose X-Forwarded-For is believed: "" none (default), "true" any, or addresses/CIDRs "10.0.0.1,10.0.1.0/24" */
  TRUST_PROXY: z
    .string()
    .trim()
    .default('')
    .transform((v): boolean | string[] => (v === '' || v === 'false' ? false : v === 'true' ? true : v.split(',').map((s) => s.trim()))),
  /** create the demo center and its users on first start (printing their credentials once) */
  SEED_DEMO_DATA: bool.default(true),
});

export type Env = z.infer<typeof envSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validate the environment once; the message names every bad variable so start-up fails fast and clearly. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const result = envSchema.safeParse(source);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new ConfigError(`invalid environment:\n${lines.join('\n')}`);
  }
  return result.data;
}

/** For a process's entry point: a bad environment prints its message and exits 2 (no stack trace for a typo). */
export function loadEnvOrExit(source: NodeJS.ProcessEnv = process.env): Env {
  try {
    return loadEnv(source);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}
