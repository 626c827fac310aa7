// Shared pieces of the fault tests: a CTI node in a child process (kill -9 for real), a tenant shaped for load
// (big queues, agents split between a talking group, a queue nobody serves and idle groups), call counts.
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { Redis } from 'ioredis';
import { setMembers } from '../../src/acd/groups.js';
import { createDb, createPool } from '../../src/db/client.js';
import { startEmulator, type RunningEmulator, type SimCaller } from '../../src/sim/index.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../helpers/env.js';
import { until, heardFiles, prepareE2eTenant, type E2eTenant } from '../e2e/cti-fixture.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

/** How many calls a fault test holds: FAULT_CALLS overrides the test's default (the spec's figure). */
export function callCount(defaultCount: number): number {
  const n = Number(process.env.FAULT_CALLS);
  return Number.isInteger(n) && n >= 10 ? n : defaultCount;
}

/** IVR / queue / talk split of a call count: 40 % / 40 % / 20 %. */
export function split(total: number): { ivr: number; queue: number; talk: number } {
  const talk = Math.round(total * 0.2);
  const queue = Math.round(total * 0.4);
  return { ivr: total - talk - queue, queue, talk };
}

export interface CallSnapshot {
  uuid: string;
  state: string;
  adopted: boolean;
}

export interface AgentLogin {
  id: string;
  tenantId: string;
  extension: string;
  ready: boolean;
}

/** A CTI node (src/server.ts) in a child process, driven over IPC (test/faults/fixtures/cti-node.ts). */
export class ChildCti {
  readonly ready: Promise<{ startupMs: number }>;
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, (m: { error?: string; calls?: CallSnapshot[] }) => void>();

  constructor(env: Record<string, string>) {
    this.child = fork(path.join(here, 'fixtures/cti-node.ts'), [], {
      cwd: root,
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.ready = new Promise((resolve, reject) => {
      this.child.on('message', (m: { type?: string; id?: number; startupMs?: number; error?: string; calls?: CallSnapshot[] }) => {
        if (m.type === 'ready') resolve({ startupMs: m.startupMs ?? 0 });
        else if (m.id !== undefined) {
          this.pending.get(m.id)?.(m);
          this.pending.delete(m.id);
        }
      });
      void this.exited.then((code) => reject(new Error(`CTI child exited (${code}) before it was ready`)));
    });
    this.ready.catch(() => {});
  }

  get pid(): number {
    return this.child.pid!;
  }

  private request<T extends { error?: string }>(msg: Record<string, unknown>): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, (m) => (m.error ? reject(new Error(m.error)) : resolve(m as T)));
      this.child.send({ ...msg, id });
    });
  }

  async signIn(agents: AgentLogin[]): Promise<void> {
    await this.request({ type: 'agents', agents });
  }

  async calls(): Promise<CallSnapshot[]> {
    return (await this.request<{ calls: CallSnapshot[]; error?: string }>({ type: 'snapshot' })).calls;
  }

  /** SIGKILL: no drain, no close hook, sockets cut by the kernel. */
  async kill9(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** The environment of a child CTI node on the test's emulator, storage and tenant. */
export function childEnv(e: E2eTenant, emu: RunningEmulator, nodeId: string): Record<string, string> {
  return {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'silent',
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: e.prefix,
    FREESWITCH_ESL: `${emu.host}:${emu.port}`,
    FREESWITCH_ESL_PASSWORD: emu.password,
    NODE_ID: nodeId,
    SEED_DEMO_DATA: 'false',
    IVR_FLOWS_DIR: e.dirs.flows,
    PROMPTS_DIR: e.dirs.prompts,
    RECORDINGS_DIR: e.dirs.recordings,
    SIP_DEFAULT_TENANT: e.tenant,
    DRAIN_TIMEOUT_MS: '0',
  };
}

/**
 * Shape the demo tenant for a load: callers stay in the main menu (long key timeout), queues take everyone, and the
 * groups' members are replaced (`members`: group code → agent ids; groups not named get none).
 */
export async function shapeTenant(e: E2eTenant, pool: pg.Pool, members: Record<string, string[]>): Promise<void> {
  const main = path.join(e.dirs.flows, e.tenant, 'main.yaml');
  fs.writeFileSync(main, fs.readFileSync(main, 'utf8').replace('timeoutMs: 5000', 'timeoutMs: 60000'));
  await pool.query('update skill_groups set max_queue_length = 100000, max_wait_ms = 3600000, wrap_up_ms = 600000 where tenant_id = $1', [e.tenant]);
  const db = createDb(pool);
  for (const [code, groupId] of e.groups) await setMembers(db, e.tenant, groupId, (members[code] ?? []).map((agentId) => ({ agentId })));
}

/** Register the agents' phones on the emulator (1001-1005 are registered already) and make them answer. */
export function agentPhones(emu: RunningEmulator, extensions: string[], answerAfterMs = 50): void {
  for (const ext of extensions) {
    const phone = emu.world.phone(ext);
    if (!phone.registered) phone.register();
    phone.set({ kind: 'answer', afterMs: answerAfterMs });
  }
}

/** `count` callers dialling 12345, a few at a time, each waiting in the main menu when this resolves. */
export async function dialToMenu(emu: RunningEmulator, count: number, fromBase: number, timeoutMs = 60_000): Promise<SimCaller[]> {
  const callers: SimCaller[] = [];
  for (let i = 0; i < count; i++) {
    callers.push(emu.world.dial({ from: String(fromBase + i), to: '12345' }));
    // a steady trickle rather than one burst: the point is the fault, not the arrival rate
    if (i % 25 === 24) await new Promise((r) => setTimeout(r, 100));
  }
  await until(() => callers.every((c) => heardFiles(c.heard).includes('main-menu.wav')), timeoutMs, `${count} callers in the main menu`);
  return callers;
}

/** agent id → state (st) of the ACD's agent hash in Redis */
export async function agentStates(redis: Redis, prefix: string, ids: string[]): Promise<Map<string, string>> {
  const pipe = redis.pipeline();
  for (const id of ids) pipe.hget(`${prefix}:acd:agt:${id}`, 'st');
  const res = (await pipe.exec()) ?? [];
  return new Map(ids.map((id, i) => [id, String(res[i]?.[1] ?? '')]));
}

/** the waiting callers of a skill group, first in line first */
export async function queueOrder(redis: Redis, prefix: string, groupId: string): Promise<string[]> {
  return redis.zrange(`${prefix}:acd:grp:${groupId}:q`, "0", "-1");
}

/**
 * A TCP hop between the CTI and the switch's ESL port that the test can cut: `cut()` severs every connection and
 * refuses new ones (a network partition: the CTI is blind and cannot reconnect) until `restore()`.
 */
export class EslLink {
  private server?: net.Server;
  private readonly pairs = new Set<net.Socket>();
  private refusing = false;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async listen(): Promise<void> {
    this.server = net.createServer((client) => {
      if (this.refusing) return void client.destroy();
      const upstream = net.connect(this.target.port, this.target.host);
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        this.pairs.add(a);
        a.on('data', (d) => b.write(d));
        a.on('close', () => {
          this.pairs.delete(a);
          b.destroy();
        });
        a.on('error', () => b.destroy());
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server!.address() as net.AddressInfo).port;
  }

  cut(): void {
    this.refusing = true;
    for (const s of [...this.pairs]) s.destroy();
  }

  restore(): void {
    this.refusing = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** What every fault test stands on: a demo tenant with agents, the emulator (outlives any CTI), PostgreSQL, Redis. */
export interface FaultWorld {
  e: E2eTenant;
  emu: RunningEmulator;
  pool: pg.Pool;
  redis: Redis;
  close(): Promise<void>;
}

export async function startFaultWorld(agentCount: number): Promise<FaultWorld> {
  const e = await prepareE2eTenant({ agentCount });
  const pool = createPool(TEST_DATABASE_URL, 4);
  const redis = new Redis(TEST_REDIS_URL);
  const emu = await startEmulator({ heartbeatSec: 0, mediaDurations: Object.fromEntries(e.dirs.promptNames.map((n) => [n, 300])) });
  return {
    e, emu, pool, redis,
    close: async () => {
      await emu.close();
      await redis.quit();
      await pool.end();
      await e.close();
    },
  };
}

/** CDR rows of these calls (n) and distinct calls among them (d): n = d = calls means none lost, none doubled */
export async function cdrCounts(pool: pg.Pool, callUuids: string[]): Promise<{ n: number; d: number }> {
  const r = await pool.query<{ n: number; d: number }>('select count(*)::int n, count(distinct call_uuid)::int d from cdrs where call_uuid = any($1)', [callUuids]);
  return r.rows[0]!;
}
