// Recognises "PostgreSQL is not reachable" among the errors pg and drizzle raise (drizzle wraps the driver's error
// in `cause`), so callers can answer 503 / fall back to caches instead of treating an outage as a bug.

/** socket errors of a server that is down, restarting or unreachable */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);
/** SQLSTATEs: admin/crash shutdown, cannot connect now (starting up), too many connections */
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '53300']);
/** pg-pool / pg client messages that carry no code */
const MESSAGES = [
  'timeout exceeded when trying to connect',
  'Connection terminated',
  'Client has encountered a connection error and is not queryable',
  'Cannot use a pool after calling end on the pool',
  // the pool's client-side query_timeout: a server gone silent
  'Query read timeout',
];

export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && (SOCKET_CODES.has(code) || SERVER_CODES.has(code) || code.startsWith('08'))) return true;
    if (typeof message === 'string' && MESSAGES.some((m) => message.includes(m))) return true;
  }
  return false;
}
