// A CTI node for the WebSocket tests: the real HTTP app (auth, sessions) on the test PostgreSQL and Redis, an
// AcdEngine driven by a FakeExecutor, wsRoutes listening on a free port, and a small WebSocket client.
import { pino } from 'pino';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import type { FastifyInstance } from 'fastify';
import { loadEnv } from '../../src/config/env.js';
import { createPool, createDb } from '../../src/db/client.js';
import type { AppContext } from '../../src/app-context.js';
import { buildHttpApp } from '../../src/http/app.js';
import { wsRoutes, type AgentCallControl } from '../../src/ws/index.js';
import { startNode, type TestNode } from '../acd/helpers.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../helpers/env.js';
import { Lifecycle } from '../../src/lifecycle.js';

export interface WsServer {
  ctx: AppContext;
  app: FastifyInstance;
  node: TestNode;
  url: string;
  close(): Promise<void>;
}

export async function startWsServer(
  prefix: string,
  nodeId: string,
  callControl?: AgentCallControl,
  timing: { heartbeatMs?: number; reauthMs?: number } = {},
): Promise<WsServer> {
  const env = loadEnv({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: prefix,
    LOGIN_RATE_LIMIT_PER_MINUTE: '1000',
  });
  const pool = createPool(env.DATABASE_URL, 4);
  const redis = new Redis(env.REDIS_URL);
  const ctx: AppContext = { env, log: pino({ level: 'silent' }), nodeId, pool, db: createDb(pool), redis, redisPrefix: prefix };
  const node = await startNode(`${prefix}:acd`, nodeId);
  const app = await buildHttpApp(ctx, {
    routes: [wsRoutes(ctx, { engine: node.engine, ...(callControl ? { callControl } : {}), statsTickMs: 150, kpiRefreshMs: 0, heartbeatMs: 60_000, ...timing })],
    lifecycle: new Lifecycle(),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    ctx,
    app,
    node,
    url: `ws://127.0.0.1:${port}`,
    async close() {
      await app.close();
      await node.close();
      redis.disconnect();
      await pool.end();
    },
  };
}

export type Frame = { v: number; type: string; id?: string; [k: string]: unknown };

/** A test client: collects every frame, waits for one matching a predicate, sends commands and awaits their answer. */
export class TestClient {
  readonly frames: Frame[] = [];
  private waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  private seq = 0;
  private readonly taken = new Set<number>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as Frame;
      this.frames.push(f);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(f)) return true;
        w.resolve(f);
        return false;
      });
    });
  }

  static open(url: string, opts: { token?: string; headers?: Record<string, string>; protocols?: string[]; autoPong?: boolean } = {}): Promise<TestClient> {
    const full = opts.token ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(opts.token)}` : url;
    const ws = new WebSocket(full, opts.protocols ?? [], { headers: opts.headers ?? {}, autoPong: opts.autoPong ?? true });
    const client = new TestClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (req, res) => {
        // ws leaves a refused handshake's socket to the listener: close it, or the server's close() waits for it
        req.destroy();
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { statusCode: res.statusCode }));
      });
      ws.once('error', reject);
    });
  }

  /** the first frame not yet taken by `next` that matches pred (waiting for it if need be); takes it */
  next(pred: (f: Frame) => boolean, timeoutMs = 4000): Promise<Frame> {
    for (let i = 0; i < this.frames.length; i++) {
      if (!this.taken.has(i) && pred(this.frames[i]!)) {
        this.taken.add(i);
        return Promise.resolve(this.frames[i]!);
      }
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no frame in time; got ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (f) => {
          clearTimeout(t);
          this.taken.add(this.frames.lastIndexOf(f));
          resolve(f);
        },
      });
    });
  }

  type(type: string, extra: (f: Frame) => boolean = () => true, timeoutMs?: number): Promise<Frame> {
    return this.next((f) => f.type === type && extra(f), timeoutMs);
  }

  /** send a command and resolve with its ack or error */
  async command(type: string, body: Record<string, unknown> = {}): Promise<Frame> {
    const id = `r${++this.seq}`;
    const answer = this.waitFor((f) => (f.type === 'ack' || f.type === 'error') && f.id === id);
    this.ws.send(JSON.stringify({ v: 1, type, id, ...body }));
    return answer;
  }

  /** like next but ignoring the cursor (any frame from now on) */
  waitFor(pred: (f: Frame) => boolean, timeoutMs = 4000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no frame in time; got ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (f) => (clearTimeout(t), resolve(f)) });
    });
  }

  sendRaw(data: string): void {
    this.ws.send(data);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}
