// `npm run bench`: load scenarios against the whole CTI (startCti, in this process) driving the FreeSWITCH emulator
// (a child process, so its CPU is not charged to the CTI), or a real FreeSWITCH when FREESWITCH_ESL is set (then
// callers and agents must come from outside, e.g. test/sipp, and only a passive observation window runs).
// Prints one table and writes it as JSON to bench/results/<timestamp>.json.
//   npm run bench [-- --rate 10 --steady 60 --burst 20 --agents 200 --talk 3-8 --wrap 2 --scenarios steady,burst]
// Storage: PostgreSQL database hotline_bench (created if missing; BENCH_DATABASE_URL), a throw-away tenant, Redis
// under a random prefix (BENCH_REDIS_URL).
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import pg from 'pg';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadEnv } from '../src/config/env.js';
import { startCti, type RunningCti } from '../src/server.js';
import { Lifecycle } from '../src/lifecycle.js';
import { tenants } from '../src/db/schema/index.js';
import { createUser } from '../src/auth/users.js';
import { createGroup, setMembers } from '../src/acd/groups.js';
import type { TtsProvider } from '../src/tts/index.js';
import { prepareDemoTenant, ALWAYS_OPEN } from '../test/ivr/demo-tenant.js';
import { CtiProbe } from './lib/cti-probe.js';
import { SpawnTimer } from './lib/spawn-timer.js';
import { requestRealtimePriority, dropRealtimePriority, threadPolicies, SCHED_OTHER } from '../src/lib/realtime-priority.js';
import { ThreeWayDriver } from './lib/three-way.js';
import type { ChildReply, ChildRequest, ScenarioSpec, SwitchScenarioResult, SwitchStats } from './lib/protocol.js';
import { pct, fmt, printTable, rowFor, type Row } from './lib/table.js';
import { openRunDatabase, dropRedisKeys } from './lib/storage.js';

const argv = process.argv.slice(2);
const flag = (name: string, envName: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : (process.env[envName] ?? dflt);
};
const RATE = Number(flag('rate', 'BENCH_RATE', '10'));
const STEADY_S = Number(flag('steady', 'BENCH_STEADY_S', '60'));
const BURST_S = Number(flag('burst', 'BENCH_BURST_S', '20'));
const BURST_FACTOR = Number(flag('burst-factor', 'BENCH_BURST_FACTOR', '10'));
const AGENTS = Number(flag('agents', 'BENCH_AGENTS', '200'));
const [TALK_MIN_S, TALK_MAX_S] = flag('talk', 'BENCH_TALK_S', '3-8').split('-').map(Number) as [number, number];
const WRAP_S = Number(flag('wrap', 'BENCH_WRAP_S', '2'));
const MAX_WAIT_S = Number(flag('max-wait', 'BENCH_MAX_WAIT_S', '60'));
const ANSWER_AFTER_MS = Number(flag('answer-after', 'BENCH_ANSWER_AFTER_MS', '200'));
const THREE_WAY_CALLS = Number(flag('three-way', 'BENCH_THREE_WAY_CALLS', '30'));
const WARMUP_S = Number(flag('warmup', 'BENCH_WARMUP_S', '5'));
const OBSERVE_S = Number(flag('observe', 'BENCH_OBSERVE_S', '60'));
const SCENARIOS = flag('scenarios', 'BENCH_SCENARIOS', 'steady,burst,threeway,memory').split(',');
const MEMORY_CALLS = Number(flag('memory-calls', 'BENCH_MEMORY_CALLS', '2000'));
/** SCHED_RR priority for the CTI's threads (CPU_REALTIME_PRIORITY, as a node would run with it); 0 = normal */
const REALTIME = Number(flag('realtime', 'BENCH_REALTIME', process.env.CPU_REALTIME_PRIORITY ?? '0'));
const DB_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://hotline:hotline@127.0.0.1:5432/hotline_bench';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const REAL_SWITCH = (process.env.FREESWITCH_ESL ?? '').trim();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** a full GC without --expose-gc on the command line (the memory scenario measures what live calls retain) */
function fullGc(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}
const fakeTts: TtsProvider = { id: 'bench', render: async (text, out) => fs.writeFileSync(out, `RIFF${text}`) };

// ------------------------------------------------------------------------------------------- the emulator child
class SwitchChild {
  private readonly proc: ChildProcess;
  private waiters: ((m: ChildReply) => void)[] = [];
  constructor() {
    this.proc = fork(fileURLToPath(new URL('./lib/emulator-child.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    // the emulator stands in for another machine (the switch): on this box it yields the CPU to the CTI, as the
    // recording compressor's ffmpeg does (BENCH_EMULATOR_NICE=0 to compete as equals)
    try {
      if (this.proc.pid) os.setPriority(this.proc.pid, Number(process.env.BENCH_EMULATOR_NICE ?? 10));
    } catch {
      /* not permitted: run at equal priority */
    }
    this.proc.on('message', (m: ChildReply) => {
      if (m.kind === 'error') process.stderr.write(`emulator child: ${m.message}\n`);
      this.waiters.shift()?.(m);
    });
  }
  /** one request, one reply (the child answers in order) */
  ask<K extends ChildReply['kind']>(req: ChildRequest, kind: K): Promise<Extract<ChildReply, { kind: K }>> {
    return new Promise((resolve, reject) => {
      this.waiters.push((m) => (m.kind === kind ? resolve(m as Extract<ChildReply, { kind: K }>) : reject(new Error(`emulator child replied ${m.kind}`))));
      this.proc.send(req);
    });
  }
  /** ask the child to close its emulator; killed if it has not exited within 3 s */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.send({ cmd: 'stop' } satisfies ChildRequest);
    await Promise.race([exited, sleep(3000)]);
    this.kill();
  }
  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

/** the pid of redis-server when REDIS_URL points at this host (INFO server), else undefined */
async function localRedisPid(url: string): Promise<number | undefined> {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) return undefined;
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
    return Number.isInteger(pid) && pid > 0 && fs.existsSync(`/proc/${pid}`) ? pid : undefined;
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
}

// ------------------------------------------------------------------------------------------- storage
async function countCdrs(pool: pg.Pool, tenant: string, from: Date, to: Date): Promise<number> {
  const r = await pool.query<{ n: string }>('select count(*) as n from cdrs where tenant_id = $1 and start_at >= $2 and start_at < $3', [tenant, from, to]);
  return Number(r.rows[0]!.n);
}

/** CDRs are buffered (BullMQ): wait until the count stops moving (or reaches the target) */
async function settledCdrs(pool: pg.Pool, tenant: string, from: Date, to: Date, target: number): Promise<number> {
  let last = -1;
  let stableSince = performance.now();
  const deadline = performance.now() + 20_000;
  for (;;) {
    const n = await countCdrs(pool, tenant, from, to);
    if (n !== last) stableSince = performance.now();
    last = n;
    if (n >= target || performance.now() - stableSince > 3000 || performance.now() > deadline) return n;
    await sleep(500);
  }
}

// ------------------------------------------------------------------------------------------- main
async function main(): Promise<void> {
  const started = new Date();
  const rows: Row[] = [];
  const details: Record<string, unknown> = {};
  let child: SwitchChild | undefined;
  let cti: RunningCti | undefined;
  let probe: CtiProbe | undefined;
  let pool: pg.Pool | undefined;
  const spawnTimer = new SpawnTimer();
  let redisPrefix: string | undefined;
  /** the local redis-server raised for the run (--realtime), put back to normal scheduling at the end */
  let raisedRedisPid: number | undefined;
  const cleanup = async () => {
    if (raisedRedisPid) await dropRealtimePriority(raisedRedisPid).catch(() => {});
    raisedRedisPid = undefined;
    probe?.close();
    spawnTimer.uninstall();
    await cti?.close().catch(() => {});
    child?.kill();
    await pool?.end().catch(() => {});
    if (redisPrefix) await dropRedisKeys(REDIS_URL, redisPrefix).catch(() => {});
  };
  const onSignal = () => {
    process.stderr.write('bench: interrupted, stopping\n');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const opened = await openRunDatabase(DB_URL);
    pool = opened.pool;
    const db = opened.db;
    const tenant = `bench${randomBytes(4).toString('hex')}`;
    await db.insert(tenants).values({ id: tenant, name: '压测中心' });
    const dirs = prepareDemoTenant(tenant, { calendar: ALWAYS_OPEN });
    const prefix = `bench:${randomBytes(6).toString('hex')}`;
    redisPrefix = prefix;

    let eslSetting = REAL_SWITCH;
    if (!REAL_SWITCH) {
      child = new SwitchChild();
      const s = await child.ask({ cmd: 'start', mediaDurations: Object.fromEntries(dirs.promptNames.map((n) => [n, 300])) }, 'started');
      eslSetting = `127.0.0.1:${s.port}`;
    } else {
      process.stdout.write(`FREESWITCH_ESL=${REAL_SWITCH}: the emulator-driven world (simulated callers and agent phones) is unavailable;\n` +
        `running a ${OBSERVE_S} s passive observation of the CTI while outside load (e.g. test/sipp) drives the switch.\n`);
    }

    // after the fork: the emulator child (the switch's stand-in) keeps normal scheduling
    let scheduling = 'normal (CPU_REALTIME_PRIORITY=0)';
    let redisScheduling = 'normal';
    if (REALTIME > 0) {
      const rt = await requestRealtimePriority(REALTIME);
      scheduling = rt.ok ? rt.detail : `normal (SCHED_RR ${REALTIME} refused: ${rt.detail})`;
      process.stdout.write(`CTI scheduling: ${scheduling}\n`);
      // every ACD decision waits on a Redis reply: a local redis-server needs the same priority, or the CTI's share
      // of the cores is taken from it (a deployment does it with a systemd drop-in: README, "CPU priority")
      const redisPid = await localRedisPid(REDIS_URL);
      if (redisPid && threadPolicies(redisPid).every((t) => t.policy === SCHED_OTHER)) {
        const r = await requestRealtimePriority(REALTIME, redisPid);
        if (r.ok) raisedRedisPid = redisPid;
        redisScheduling = r.ok ? `redis-server ${r.detail}` : `redis-server normal (refused: ${r.detail})`;
      } else redisScheduling = redisPid ? 'redis-server already real-time, left as is' : 'Redis not on this host: not changed';
      process.stdout.write(`Redis scheduling: ${redisScheduling}\n`);
    }

    // agents: extensions 1001…, all in the group behind menu key 1 (consult)
    process.stdout.write(`creating ${AGENTS} agents…\n`);
    const agents: { id: string; loginId: string; password: string; extension: string }[] = [];
    for (let i = 0; i < AGENTS; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(20, AGENTS - i) }, async (_, j) => {
          const ext = String(1001 + i + j);
          const password = `Bench${randomBytes(4).toString('hex')}9`;
          const u = await createUser(db, tenant, { loginId: `${tenant}a${ext}`, displayName: `座席${ext}`, role: 'agent', password, extension: ext });
          return { id: u.id, loginId: u.loginId, password, extension: ext };
        }),
      );
      agents.push(...batch);
    }
    const group = await createGroup(db, tenant, {
      name: '政策咨询', code: 'consult', strategy: 'longest_idle', musicOnHold: 'local_stream://moh', announceIntervalMs: 30_000,
      maxWaitMs: null, overflowOnWait: null, maxQueueLength: null, overflowOnLength: null, noAnswerTimeoutMs: 15_000, wrapUpMs: WRAP_S * 1000,
    });
    await setMembers(db, tenant, group.id, agents.map((a, i) => ({ agentId: a.id, proficiency: 3, position: i })));

    const env = loadEnv({
      NODE_ENV: 'production', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', DATABASE_URL: DB_URL, REDIS_URL, REDIS_PREFIX: prefix,
      FREESWITCH_ESL: eslSetting, ...(process.env.FREESWITCH_ESL_PASSWORD ? { FREESWITCH_ESL_PASSWORD: process.env.FREESWITCH_ESL_PASSWORD } : {}),
      SEED_DEMO_DATA: 'false', IVR_FLOWS_DIR: dirs.flows, PROMPTS_DIR: dirs.prompts, RECORDINGS_DIR: dirs.recordings, SIP_DEFAULT_TENANT: tenant,
      LOGIN_RATE_LIMIT_PER_MINUTE: '10000', DRAIN_TIMEOUT_MS: '5000',
      // to see what the recording compressor's ffmpeg children cost the CTI: RECORDING_COMPRESSION=off npm run bench
      ...(process.env.RECORDING_COMPRESSION ? { RECORDING_COMPRESSION: process.env.RECORDING_COMPRESSION } : {}),
    });
    cti = await startCti(env, { log: pino({ level: process.env.BENCH_LOG ?? 'silent' }), lifecycle: new Lifecycle(), ttsProvider: fakeTts, watchFlows: false, banner: false, printCredentials: false, listen: false });
    await sleep(300);
    await cti.tracker.whenIdle();
    const runningCti = cti;
    spawnTimer.install();
    probe = new CtiProbe(cti.cluster, cti.acd.engine, () => runningCti.tracker.size, WRAP_S * 1000);

    // phones registered, then each agent logs in, signs in and goes ready through the ACD REST routes
    if (child) await child.ask({ cmd: 'agents', extensions: agents.map((a) => a.extension), answerAfterMs: ANSWER_AFTER_MS }, 'agentsReady');
    process.stdout.write(`signing in ${AGENTS} agents…\n`);
    const signInFailures: string[] = [];
    for (let i = 0; i < agents.length; i += 10) {
      await Promise.all(
        agents.slice(i, i + 10).map(async (a) => {
          const res = await runningCti.app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: a.loginId, password: a.password } });
          if (res.statusCode !== 200) return void signInFailures.push(`login ${a.extension}: ${res.statusCode}`);
          const headers = { authorization: `Bearer ${(res.json() as { token: string }).token}` };
          for (const url of ['/agents/me/sign-in', '/agents/me/ready']) {
            const r = await runningCti.app.inject({ method: 'POST', url, headers, payload: {} });
            if (r.statusCode !== 200) return void signInFailures.push(`${url} ${a.extension}: ${r.statusCode} ${r.body.slice(0, 80)}`);
          }
        }),
      );
    }
    // on the emulator every agent must be ready; on a real switch the phones are outside (SIPp) and may be absent
    if (signInFailures.length && child) throw new Error(`agents not ready: ${signInFailures.slice(0, 5).join('; ')}`);
    if (signInFailures.length) process.stdout.write(`${signInFailures.length} agents not ready (first: ${signInFailures[0]})\n`);

    const runOne = async (name: string, spec: ScenarioSpec, note: string, report = true, extra: () => Row = () => ({})) => {
      process.stdout.write(`scenario ${name}: ${spec.rate} calls/s for ${spec.durationMs / 1000} s…\n`);
      const from = new Date(Date.now() - 1000);
      const sw0 = (await child!.ask({ cmd: 'stats' }, 'stats')).stats;
      probe!.begin();
      spawnTimer.reset();
      const result = (await child!.ask({ cmd: 'run', spec }, 'scenarioDone')).result;
      const w = probe!.end();
      w.spawnBlockMs = spawnTimer.reset();
      const sw1: SwitchStats = (await child!.ask({ cmd: 'stats' }, 'stats')).stats;
      const to = new Date();
      const cdrs = await settledCdrs(pool!, tenant, from, to, result.callersEnded);
      const emulatorCpu = ((sw1.cpuMs - sw0.cpuMs) / (w.seconds * 1000)) * 100;
      if (report) rows.push({ ...rowFor(name, result, w, cdrs, note), 'emulator CPU % (child)': fmt(emulatorCpu, 0), 'CTI scheduling': scheduling, 'Redis scheduling': redisScheduling, ...extra() });
      const { nMs, ...rest } = result;
      details[name] = {
        spec, switch: { ...rest, nP50: pct(nMs, 50), nP99: pct(nMs, 99), emulatorCpuPercent: emulatorCpu, emulatorRssMb: sw1.rssMb },
        cti: { ...w, decisionsEslMs: undefined, decisionsAfterWrapUpTimerMs: undefined, dtmfToCommandMs: undefined, triggerToEnqueueMs: undefined, enqueueToOriginateMs: undefined, spawnBlockMs: undefined, spawnBlockTotalMs: (w.spawnBlockMs ?? []).reduce((a, b) => a + b, 0) },
        cdrs,
      };
      // let wrap-ups finish so the next scenario starts with every agent ready; agents not ready then (missed
      // offers → not_ready) explain callers who waited with agents signed in
      await sleep(WRAP_S * 1000 + 1000);
      const states: Record<string, number> = {};
      for (const a of await cti!.acd.engine.signedInAgents(tenant)) states[`${a.state}${a.reason ? `:${a.reason}` : ''}`] = (states[`${a.state}${a.reason ? `:${a.reason}` : ''}`] ?? 0) + 1;
      (details[name] as Record<string, unknown>).agentStatesAfter = states;
    };

    if (!child) {
      probe.begin();
      await sleep(OBSERVE_S * 1000);
      const w = probe.end();
      const cdrs = await countCdrs(pool, tenant, started, new Date());
      rows.push(rowFor(`observe ${OBSERVE_S}s (real switch)`, undefined, w, cdrs, 'passive: outside load only; lost/double offers/N need the emulator or test/sipp'));
    } else {
      const common = { talkMinMs: TALK_MIN_S * 1000, talkMaxMs: TALK_MAX_S * 1000, maxWaitMs: MAX_WAIT_S * 1000, menuKey: '1' };
      // warm-up (not reported): lazily loaded modules, JIT, connection pools; the first calls otherwise show
      // one-off stalls of 100+ ms
      if (WARMUP_S > 0) await runOne('warm-up', { name: 'warm-up', rate: Math.min(RATE, 5), durationMs: WARMUP_S * 1000, callerPrefix: '13700', ...common }, 'not reported', false);
      if (SCENARIOS.includes('steady'))
        await runOne('steady', { name: 'steady', rate: RATE, durationMs: STEADY_S * 1000, callerPrefix: '13900', ...common }, `Poisson ${RATE}/s, IVR welcome+menu key 1, queue, talk ${TALK_MIN_S}-${TALK_MAX_S} s, wrap-up ${WRAP_S} s, ${AGENTS} agents`);
      if (SCENARIOS.includes('burst'))
        await runOne('burst', { name: 'burst', rate: RATE * BURST_FACTOR, durationMs: BURST_S * 1000, callerPrefix: '13800', ...common }, `${BURST_FACTOR}× arrivals (${RATE * BURST_FACTOR}/s) for ${BURST_S} s; callers abandon after ${MAX_WAIT_S} s in queue`);
      if (SCENARIOS.includes('threeway')) {
        // 30 calls within ~3 s, each talking 20-25 s: the agent adds an outside number ~0.5 s after answering, so
        // all 30 conferences are up together
        const driver = new ThreeWayDriver(cti, pino({ level: process.env.BENCH_LOG ?? 'silent' }), THREE_WAY_CALLS);
        try {
          await runOne('three-way', { name: 'three-way', rate: 10, durationMs: 30_000, maxCalls: THREE_WAY_CALLS, callerPrefix: '13600', talkMinMs: 20_000, talkMaxMs: 25_000, maxWaitMs: 30_000, menuKey: '1', hupallAfter: true },
            `${THREE_WAY_CALLS} calls, each agent adds an outside number (CallControl.threeWay) after answering; talk 20-25 s`, true, () => {
              const r = driver.result;
              return { 'three-way ok / tried (peak concurrent)': `${r.succeeded} / ${r.attempted} (${r.peakConcurrent})${Object.keys(r.failed).length ? ` failed ${JSON.stringify(r.failed)}` : ''}`, 'three-way setup p50/p99 ms': r.setupMs.length ? `${fmt(pct(r.setupMs, 50), 0)}/${fmt(pct(r.setupMs, 99), 0)}` : 'n/a' };
            });
        } finally {
          driver.stop();
        }
      }
    }
    if (child && SCENARIOS.includes('memory')) {
      // what live calls retain, apart from the garbage a busy run leaves: MEMORY_CALLS callers arrive at 100/s and
      // stay (agents talk 150 s; the rest wait in queue with music), then a full GC and the heap per live call
      const spec: ScenarioSpec = { name: 'memory', rate: 100, durationMs: (MEMORY_CALLS / 100) * 1000, maxCalls: MEMORY_CALLS, callerPrefix: '13500', talkMinMs: 150_000, talkMaxMs: 150_000, maxWaitMs: 150_000, menuKey: '1', hupallAfter: true };
      process.stdout.write(`scenario memory: ${MEMORY_CALLS} calls held…\n`);
      fullGc();
      const idle = process.memoryUsage();
      const idleCalls = cti.tracker.size;
      const done = child.ask({ cmd: 'run', spec }, 'scenarioDone');
      await sleep(spec.durationMs + 8000);
      fullGc();
      const held = process.memoryUsage();
      const live = cti.tracker.size - idleCalls;
      const kb = (bytes: number) => fmt(bytes / 1024 / Math.max(1, live), 1);
      rows.push({
        scenario: 'memory',
        'calls held (peak)': String(live),
        'heap per live call KB (after full GC)': kb(held.heapUsed - idle.heapUsed),
        'RSS per live call KB (after full GC)': kb(held.rss - idle.rss),
        'CTI RSS MB (idle→peak)': `${fmt(idle.rss / 1e6, 0)}→${fmt(held.rss / 1e6, 0)}`,
        note: `${MEMORY_CALLS} callers at 100/s, IVR then queue; ${AGENTS} agents talk 150 s, the rest wait; measured ${spec.durationMs / 1000 + 8} s in, after a full GC`,
      });
      details.memory = { idle, held, live };
      // not waited for (the calls would take 150 s more): the switch child is stopped with the held calls up
      void done.catch(() => {});
    }
    rows.push({ scenario: 'ACD engine (component)', note: 'not run here (≈1 min): npx tsx bench/acd.ts — 1,000 agents / 2,000 waiting, decision latency without ESL' });
    rows.push({ scenario: 'compression (component)', note: 'not run here (ffmpeg, ≈1 min): npx tsx bench/recording.ts — minutes of audio per CPU-second' });

    printTable(rows);
    const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', `${started.toISOString().replace(/[:.]/g, '-')}.json`);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify({ startedAt: started, settings: { REALTIME, RATE, STEADY_S, BURST_S, BURST_FACTOR, AGENTS, TALK_MIN_S, TALK_MAX_S, WRAP_S, MAX_WAIT_S, ANSWER_AFTER_MS, realSwitch: REAL_SWITCH || null, tenant }, rows, details }, null, 2));
    process.stdout.write(`written ${path.relative(process.cwd(), out)}\n`);
  } finally {
    probe?.close();
    await cti?.close().catch(() => {});
    cti = undefined;
    await child?.stop();
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
