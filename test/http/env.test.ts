import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { loadEnv, envSchema, ConfigError } from '../../src/config/env.js';

describe('environment', () => {
  it('fails fast naming each bad variable', () => {
    expect(() => loadEnv({ LOGIN_LOCK_MINUTES: 'soon', PORT: '99999' })).toThrow(ConfigError);
    try {
      loadEnv({ LOGIN_LOCK_MINUTES: 'soon', PORT: '99999', XML_CURL_SECRET: 'short' });
    } catch (err) {
      const msg = (err as Error).message;
      expect(msg).toContain('LOGIN_LOCK_MINUTES');
      expect(msg).toContain('PORT');
      expect(msg).toContain('XML_CURL_SECRET');
      expect(msg).not.toContain('DATABASE_URL');
    }
  });

  // every validated variable, with a value it must refuse; a new variable must be added here or to FREE_FORM
  const BAD_VALUES: Record<string, string> = {
    NODE_ENV: 'staging',
    PORT: '-1',
    LOG_LEVEL: 'verbose',
    DATABASE_URL: 'not a url',
    PG_QUERY_TIMEOUT_MS: '500',
    PG_POOL_MAX: '0',
    REDIS_URL: '127.0.0.1:6379',
    REDIS_PREFIX: 'hot line;DEL *',
    FREESWITCH_ESL: '10.0.0.5:8021,fs2',
    FREESWITCH_ESL_PASSWORD: '',
    ESL_COMMAND_TIMEOUT_MS: '50',
    SIM_ESL_PORT: '70000',
    NODE_ID: '../../etc',
    SESSION_TTL_HOURS: '0',
    COOKIE_SECURE: 'maybe',
    DRAIN_TIMEOUT_MS: '1.5',
    CPU_REALTIME_PRIORITY: '100',
    LOGIN_MAX_FAILURES: '0',
    LOGIN_LOCK_MINUTES: 'soon',
    LOGIN_RATE_LIMIT_PER_MINUTE: '1e9',
    XML_CURL_SECRET: 'short',
    XML_CURL_ALLOW_REMOTE: 'TRUE!',
    XML_CURL_USER_CACHE_MS: '2147484',
    SIP_DEFAULT_TENANT: 'Demo Center',
    SEED_DEMO_DATA: '2',
    RECORDING_COMPRESSION: 'thread',
    RECORDING_COMPRESSION_CONCURRENCY: '0',
  };
  /** paths and host names: any string is taken as given */
  const FREE_FORM = ['HOST', 'IVR_FLOWS_DIR', 'PROMPTS_DIR', 'RECORDINGS_DIR', 'TRUST_PROXY'];

  it('refuses a bad value of every validated variable, naming that variable and only it', () => {
    expect(Object.keys(envSchema.shape).filter((k) => !(k in BAD_VALUES) && !FREE_FORM.includes(k))).toEqual([]);
    for (const [name, value] of Object.entries(BAD_VALUES)) {
      let message = '';
      try {
        loadEnv({ [name]: value });
      } catch (err) {
        expect(err, name).toBeInstanceOf(ConfigError);
        message = (err as Error).message;
      }
      expect(message, `${name}=${value} was accepted`).toContain(`${name}:`);
      const named = [...message.matchAll(/^ {2}([A-Z_]+):/gm)].map((m) => m[1]);
      expect(named, name).toEqual([name]);
    }
  });

  it('has working defaults for the auth and directory settings', () => {
    const env = loadEnv({});
    expect(env.LOGIN_MAX_FAILURES).toBe(5);
    expect(env.LOGIN_LOCK_MINUTES).toBe(15);
    expect(env.XML_CURL_ALLOW_REMOTE).toBe(false);
    expect(env.XML_CURL_SECRET).toBeUndefined();
    expect(env.SIP_DEFAULT_TENANT).toBe('demo');
  });

  it('compresses recordings in a worker thread unless told otherwise', () => {
    expect(loadEnv({}).RECORDING_COMPRESSION).toBe('worker-thread');
    expect(loadEnv({}).RECORDING_COMPRESSION_CONCURRENCY).toBeUndefined();
    expect(loadEnv({ RECORDING_COMPRESSION: 'off', RECORDING_COMPRESSION_CONCURRENCY: '3' })).toMatchObject({ RECORDING_COMPRESSION: 'off', RECORDING_COMPRESSION_CONCURRENCY: 3 });
  });

  it('.env.example documents every variable of the schema, and parses', () => {
    const text = fs.readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    const documented = new Set([...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));
    const missing = Object.keys(envSchema.shape).filter((k) => !documented.has(k));
    expect(missing).toEqual([]);
    const active = Object.fromEntries(
      text
        .split('\n')
        .filter((l) => /^[A-Z][A-Z0-9_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(() => loadEnv(active)).not.toThrow();
  });
});

describe('TRUST_PROXY', () => {
  it('is off by default and takes true or a list of proxies', () => {
    expect(loadEnv({}).TRUST_PROXY).toBe(false);
    expect(loadEnv({ TRUST_PROXY: 'true' }).TRUST_PROXY).toBe(true);
    expect(loadEnv({ TRUST_PROXY: '127.0.0.1, 10.0.0.0/24' }).TRUST_PROXY).toEqual(['127.0.0.1', '10.0.0.0/24']);
  });
});
