// Real-switch load run: SIPp callers dial 12345 through FreeSWITCH's external profile, press a menu key (RFC 2833),
// queue, talk to SIPp agents (registered on hotline-agents, auto-answering) and hang up; the CTI (startCti, in this
// process, HTTP on PORT 8080 so the switch's xml_curl directory reaches it) drives the switch. Prints the table of
// `npm run bench` and writes it as JSON to bench/results/sipp-<timestamp>.json. See test/sipp/README.md.
//   npm run sipp -- --agents 20 --rate 2 --calls 100 --talk 10
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { pino } from 'pino';
import { eq } from 'drizzle-orm';
import { loadEnv } from '../../src/config/env.js';
import { startCti, type RunningCti } from '../../src/server.js';
import { Lifecycle } from '../../src/lifecycle.js';
import type { Db } from '../../src/db/client.js';
import { tenants } from '../../src/db/schema/index.js';
import { createUser, findSipUser, setUserPassword, updateUser } from '../../src/auth/users.js';
import { ensureDemoSkillGroups } from '../../src/acd/index.js';
import { listGroups, setMembers, updateGroup } from '../../src/acd/groups.js';
import { EslNode, type EslEvent } from '../../src/esl/index.js';
import type { TtsProvider } from '../../src/tts/index.js';
import { prepareDemoTenant, ALWAYS_OPEN } from '../ivr/demo-tenant.js';
import { CtiProbe } from '../../bench/lib/cti-probe.js';
import { openRunDatabase, dropRedisKeys } from '../../bench/lib/storage.js';
import type { SwitchScenarioResult } from '../../bench/lib/protocol.js';
import { fmt, pct, printTable, rowFor, type Row } from '../../bench/lib/table.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
process.chdir(ROOT); // prepareDemoTenant reads ivr-flows/ relative to the repository

const argv = process.argv.slice(2);
const flag = (name: string, envName: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : (process.env[envName] ?? dflt);
};
const AGENTS = Number(flag('agents', 'SIPP_AGENTS', '20'));
const RATE = Number(flag('rate', 'SIPP_RATE', '2'));
const CALLS = Number(flag('calls', 'SIPP_CALLS', '100'));
const TALK_S = Number(flag('talk', 'SIPP_TALK_S', '10'));
const WRAP_S = Number(flag('wrap', 'SIPP_WRAP_S', '2'));
const FIRST_EXT = Number(flag('first-extension', 'SIPP_FIRST_EXTENSION', '1001'));
const TENANT = flag('tenant', 'SIPP_TENANT', 'demo');
const MENU_KEY = '1'; // caller.xml plays dtmf_2833_1.pcap: 咨询 in the demo menu
const CTI_PORT = flag('port', 'PORT', '8080');
const UAS_PORT = Number(flag('uas-port', 'SIPP_UAS_PORT', '5090'));
const REG_PORT = Number(flag('register-port', 'SIPP_REGISTER_PORT', '5091'));
const CALLER_PORT = Number(flag('caller-port', 'SIPP_CALLER_PORT', '5092'));
const ESL = flag('esl', 'FREESWITCH_ESL', '127.0.0.1:8021').split(',')[0]!.trim();
const ESL_PASSWORD = process.env.FREESWITCH_ESL_PASSWORD ?? 'ClueCon';
const SIPP = flag('sipp', 'SIPP_BIN', 'sipp');
const DB_URL = process.env.SIPP_DATABASE_URL ?? 'postgres://hotline:hotline@127.0.0.1:5432/hotline_sipp';
const REDIS_URL = process.env.SIPP_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const CALLER_PREFIX = `139${String(Date.now() % 100_000).padStart(5, '0')}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fakeTts: TtsProvider = { id: 'sipp', render: async (text, out) => fs.writeFileSync(out, `RIFF${text}`) };
const say = (line: string) => process.stdout.write(`${line}\n`);

class Refusal extends Error {}

// ------------------------------------------------------------------------------------------- preconditions
function checkSipp(): void {
  const r = spawnSync(SIPP, ['-v'], { encoding: 'utf8' });
  if (r.error || !/SIPp v\d/.test(`${r.stdout}${r.stderr}`))
    throw new Refusal(`SIPp not found ("${SIPP} -v" failed). Install it (Debian/Ubuntu: apt-get install sip-tester) or set SIPP_BIN.`);
}

interface SwitchFacts {
  hostIp: string;
  externalPort: number;
  agentsPort: number;
}

/** the profiles bind to the host's address, not 127.0.0.1: read it from `sofia status profile <name>` */
async function switchFacts(esl: EslNode): Promise<SwitchFacts> {
  const urlOf = async (profile: string) => {
    const text = await esl.api(`sofia status profile ${profile}`);
    const m = /^URL\s+sip:mod_sofia@([\d.]+):(\d+)/m.exec(text);
    if (!m) throw new Refusal(`FreeSWITCH has no running SIP profile "${profile}" (sofia status profile ${profile}: ${text.trim().split('\n')[0]}). Install this repository's freeswitch-conf/ overlay.`);
    return { ip: m[1]!, port: Number(m[2]) };
  };
  const ext = await urlOf('external');
  const agents = await urlOf('hotline-agents');
  return { hostIp: flag('host-ip', 'SIPP_HOST_IP', ext.ip), externalPort: ext.port, agentsPort: agents.port };
}

async function connectEsl(): Promise<EslNode> {
  const [host = '', port = ''] = ESL.split(':');
  const node = new EslNode({ host, port: Number(port), password: ESL_PASSWORD, log: pino({ level: 'silent' }), reconnect: { initialMs: 200, maxMs: 1000 }, events: ['HEARTBEAT'], resyncOnConnect: false });
  node.start();
  try {
    await node.waitConnected(4000);
  } catch {
    await node.stop();
    throw new Refusal(`FreeSWITCH ESL at ${ESL} is not reachable or refuses the password (set FREESWITCH_ESL=host:port and FREESWITCH_ESL_PASSWORD).`);
  }
  return node;
}

// ------------------------------------------------------------------------------------------- storage and tenant
interface Agent {
  id: string;
  loginId: string;
  password: string;
  extension: string;
  sipPassword: string;
}

/** the tenant (its id is the agents' SIP domain, forced by the hotline-agents profile) and agents with fresh passwords */
async function prepareAgents(db: Db): Promise<Agent[]> {
  await db.insert(tenants).values({ id: TENANT, name: '示范热线中心', outboundCallerId: '12345' }).onConflictDoNothing();
  const agents: Agent[] = [];
  for (let i = 0; i < AGENTS; i++) {
    const extension = String(FIRST_EXT + i);
    const password = `Sipp${randomBytes(4).toString('hex')}9`;
    const sipPassword = randomBytes(8).toString('hex');
    const existing = await findSipUser(db, TENANT, extension);
    if (existing) {
      await setUserPassword(db, TENANT, existing.id, password);
      await updateUser(db, TENANT, existing.id, { sipPassword, disabled: false });
      agents.push({ id: existing.id, loginId: existing.loginId, password, extension, sipPassword });
    } else {
      const u = await createUser(db, TENANT, { loginId: `sipp${extension}`, displayName: `压测座席${extension}`, role: 'agent', password, extension, sipPassword });
      agents.push({ id: u.id, loginId: u.loginId, password, extension, sipPassword });
    }
  }
  // the demo groups (IVR keys → skill groups), every run agent in each, the run's wrap-up
  await ensureDemoSkillGroups(db, TENANT);
  for (const g of await listGroups(db, TENANT)) {
    await updateGroup(db, TENANT, g.id, { wrapUpMs: WRAP_S * 1000 });
    await setMembers(db, TENANT, g.id, agents.map((a, position) => ({ agentId: a.id, proficiency: 3, position })));
  }
  return agents;
}

/** the shipped demo flows, open around the clock; the real prompts (from the set-up's TTS) when present */
function prepareFlows(): { flows: string; prompts: string; recordings: string; welcomeS: number } {
  const dirs = prepareDemoTenant(TENANT, { calendar: ALWAYS_OPEN });
  const real = path.join(ROOT, 'var/prompts', TENANT === 'demo' ? 'demo' : TENANT);
  let welcomeS = 0;
  if (fs.existsSync(real)) {
    for (const f of fs.readdirSync(real).filter((n) => n.endsWith('.wav'))) fs.copyFileSync(path.join(real, f), path.join(dirs.prompts, 'demo', f));
    const welcome = path.join(dirs.prompts, 'demo', 'welcome.wav');
    if (fs.existsSync(welcome)) welcomeS = wavSeconds(welcome);
  }
  // the switch (another user) reads the prompts
  for (const d of [path.dirname(dirs.prompts), dirs.prompts, path.join(dirs.prompts, 'demo')]) fs.chmodSync(d, 0o755);
  return { ...dirs, welcomeS };
}

/** duration of a PCM WAV from its header (byte rate and data size) */
function wavSeconds(file: string): number {
  const b = fs.readFileSync(file);
  if (b.toString('ascii', 0, 4) !== 'RIFF') return 0;
  const byteRate = b.readUInt32LE(28);
  let off = 12;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'data') return byteRate ? size / byteRate : 0;
    off += 8 + size + (size % 2);
  }
  return 0;
}

// ------------------------------------------------------------------------------------------- SIPp
function runSipp(args: string[], cwd: string, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(SIPP, [...args, '-nostdin'], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => {
      if (code !== 0 && code !== 1) process.stderr.write(`sipp (${what}) exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}\n`);
      resolve(code ?? -1);
    });
  });
}

/** the last row of a SIPp -trace_stat file, as column → value */
function lastStats(file: string): Record<string, string> {
  if (!fs.existsSync(file)) return {};
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
  const heads = lines[0]!.split(';');
  const vals = lines[lines.length - 1]!.split(';');
  return Object.fromEntries(heads.map((h, i) => [h, vals[i] ?? '']));
}

// ------------------------------------------------------------------------------------------- what callers got
/**
 * Watches the CTI's own ESL stream: caller legs (from the SIPp caller, by number prefix), who ended them (the
 * caller's BYE or the switch), whether they heard the welcome, their key, the agent legs offered for them, and
 * double offers (an originate for an agent or a call while its earlier leg is still up).
 */
class CallWatcher {
  readonly callers = new Map<string, { ended: boolean; byCaller: boolean; cause?: string; welcomed: boolean; bridged: boolean; keyAt?: number; firstLegAt?: number }>();
  private readonly legAgent = new Map<string, { agent: string; call: string; at: number }>();
  /** the first double offers to an agent, for the JSON */
  readonly doubleAgentSamples: { agent: string; call: string; previousCall: string; previousLegCreated: boolean; msSincePrevious: number }[] = [];
  private readonly agentLeg = new Map<string, string>();
  private readonly callLeg = new Map<string, string>();
  private readonly liveLegs = new Set<string>();
  /** bgapi Job-UUID of an originate → its legs */
  private readonly jobLegs = new Map<string, string[]>();
  offers = 0;
  doubleAgent = 0;
  doubleCall = 0;
  private readonly detach: (() => void)[] = [];

  constructor(cti: RunningCti) {
    const onEvent = (ev: EslEvent) => this.onEvent(ev);
    cti.cluster.on('event', onEvent);
    this.detach.push(() => cti.cluster.off('event', onEvent));
    for (const node of cti.cluster.nodes) {
      const onCommand = (text: string, _kind: string, _at: number, id: string) => this.onCommand(text, id);
      node.on('command', onCommand);
      this.detach.push(() => node.off('command', onCommand));
    }
  }

  private onEvent(ev: EslEvent): void {
    if (ev.name === 'BACKGROUND_JOB') {
      // an originate that failed before creating its legs (USER_NOT_REGISTERED…) has no CHANNEL_DESTROY to end them
      const legs = this.jobLegs.get(ev.headers['Job-UUID'] ?? '');
      if (legs) {
        this.jobLegs.delete(ev.headers['Job-UUID']!);
        if (ev.body.startsWith('-ERR')) for (const leg of legs) if (!this.liveLegs.has(leg)) this.dropLeg(leg);
      }
      return;
    }
    const uuid = ev.uuid;
    if (!uuid) return;
    const h = ev.headers;
    if (ev.name === 'CHANNEL_CREATE' && h['Call-Direction'] === 'inbound' && (h['Caller-Caller-ID-Number'] ?? '').startsWith(CALLER_PREFIX))
      this.callers.set(uuid, { ended: false, byCaller: false, welcomed: false, bridged: false });
    const caller = this.callers.get(uuid);
    if (caller) {
      if (ev.name === 'PLAYBACK_START' && /welcome/.test(h['Playback-File-Path'] ?? '')) caller.welcomed = true;
      if (ev.name === 'CHANNEL_BRIDGE') caller.bridged = true;
      if (ev.name === 'DTMF' && caller.keyAt === undefined) caller.keyAt = Number(h['Event-Date-Timestamp']) / 1000;
      if (ev.name === 'CHANNEL_HANGUP' && !caller.ended) {
        caller.ended = true;
        caller.cause = h['Hangup-Cause'] ?? '?';
      }
      // who hung up: sofia sets the disposition by the time of CHANNEL_HANGUP_COMPLETE (recv_bye = the caller's BYE)
      const disposition = h['variable_sip_hangup_disposition'];
      if (disposition) caller.byCaller = disposition === 'recv_bye' || disposition === 'recv_cancel';
    }
    if (ev.name === 'CHANNEL_CREATE' && this.legAgent.has(uuid)) {
      this.liveLegs.add(uuid);
      const c = this.callers.get(this.legAgent.get(uuid)!.call);
      if (c && c.firstLegAt === undefined) c.firstLegAt = Number(h['Event-Date-Timestamp']) / 1000;
    }
    if (ev.name === 'CHANNEL_DESTROY' && this.legAgent.has(uuid)) this.dropLeg(uuid);
  }

  private dropLeg(leg: string): void {
    this.liveLegs.delete(leg);
    const { agent, call } = this.legAgent.get(leg)!;
    if (this.agentLeg.get(agent) === leg) this.agentLeg.delete(agent);
    if (this.callLeg.get(call) === leg) this.callLeg.delete(call);
    this.legAgent.delete(leg);
  }

  private onCommand(text: string, jobId: string): void {
    if (!text.startsWith('originate ')) return;
    const call = /hotline_queue_call=([0-9a-f-]{36})/.exec(text)?.[1];
    if (!call) return;
    this.offers++;
    this.jobLegs.set(jobId, [...text.matchAll(/origination_uuid=([0-9a-f-]{36})/g)].map((m) => m[1]!));
    const prevCall = this.callLeg.get(call);
    if (prevCall && this.legAlive(prevCall)) this.doubleCall++;
    for (const m of text.matchAll(/origination_uuid=([0-9a-f-]{36}),hotline_agent=([^,\]]+)/g)) {
      const [, leg, agent] = m as unknown as [string, string, string];
      const prev = this.agentLeg.get(agent);
      if (prev && this.legAlive(prev)) {
        this.doubleAgent++;
        const p = this.legAgent.get(prev)!;
        this.doubleAgentSamples.push({ agent, call, previousCall: p.call, previousLegCreated: this.liveLegs.has(prev), msSincePrevious: Math.round(performance.now() - p.at) });
      }
      this.legAgent.set(leg, { agent, call, at: performance.now() });
      this.agentLeg.set(agent, leg);
      this.callLeg.set(call, leg);
    }
  }

  /** an offered leg counts as up from its originate until its CHANNEL_DESTROY */
  private legAlive(leg: string): boolean {
    return this.legAgent.has(leg);
  }

  close(): void {
    for (const d of this.detach) d();
  }
}

/**
 * What FreeSWITCH's mod_xml_curl sees: the CTI's /freeswitch/directory answer time for one agent, asked every 250 ms
 * during the run (the overlay gives xml_curl 3 s; a slower answer makes the switch fail the offer SUBSCRIBER_ABSENT),
 * and the peak of queries waiting for a PostgreSQL connection in the CTI's pool.
 */
class DirectoryProbe {
  readonly answersMs: number[] = [];
  failures = 0;
  poolWaitingPeak = 0;
  poolOpenPeak = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;

  constructor(
    private readonly cti: RunningCti,
    private readonly extension: string,
  ) {}

  start(): void {
    const url = `http://127.0.0.1:${CTI_PORT}/freeswitch/directory`;
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (process.env.XML_CURL_SECRET) headers.authorization = `Basic ${Buffer.from(`freeswitch:${process.env.XML_CURL_SECRET}`).toString('base64')}`;
    const body = new URLSearchParams({ section: 'directory', user: this.extension, domain: TENANT, action: 'user_call' }).toString();
    this.timer = setInterval(() => {
      this.poolWaitingPeak = Math.max(this.poolWaitingPeak, this.cti.ctx.pool.waitingCount);
      this.poolOpenPeak = Math.max(this.poolOpenPeak, this.cti.ctx.pool.totalCount);
      if (this.inFlight > 20) return;
      this.inFlight++;
      const t = performance.now();
      fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(15_000) })
        .then(async (r) => {
          const text = await r.text();
          if (r.ok && text.includes(`id="${this.extension}"`)) this.answersMs.push(performance.now() - t);
          else this.failures++;
        }, () => this.failures++)
        .finally(() => this.inFlight--);
    }, 250);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

// ------------------------------------------------------------------------------------------- main
async function main(): Promise<void> {
  const started = new Date();
  checkSipp();
  const probeEsl = await connectEsl();
  let facts: SwitchFacts;
  try {
    facts = await switchFacts(probeEsl);
  } finally {
    await probeEsl.stop();
  }
  say(`switch ${ESL}: SIP profiles on ${facts.hostIp} (external ${facts.externalPort}, hotline-agents ${facts.agentsPort})`);

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sipp-run-'));
  const children = new Set<ReturnType<typeof spawn>>();
  let cti: RunningCti | undefined;
  let probe: CtiProbe | undefined;
  let watcher: CallWatcher | undefined;
  let pool: pg.Pool | undefined;
  let redisPrefix: string | undefined;
  const csv = path.join(work, 'agents.csv');
  const unregister = async () => {
    if (!fs.existsSync(csv)) return;
    await runSipp([`${facts.hostIp}:${facts.agentsPort}`, '-sf', path.join(HERE, 'agent-register.xml'), '-inf', csv, '-i', facts.hostIp, '-p', String(REG_PORT), '-key', 'uas_port', String(UAS_PORT), '-key', 'expires', '0', '-m', String(AGENTS), '-r', '20'], work, 'unregister').catch(() => -1);
  };
  const cleanup = async () => {
    watcher?.close();
    probe?.close();
    for (const c of children) c.kill('SIGTERM');
    await unregister();
    await cti?.close().catch(() => {});
    cti = undefined;
    await pool?.end().catch(() => {});
    pool = undefined;
    if (redisPrefix) await dropRedisKeys(REDIS_URL, redisPrefix).catch(() => {});
  };
  const onSignal = () => {
    process.stderr.write('sipp run: interrupted, stopping\n');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const opened = await openRunDatabase(DB_URL);
    pool = opened.pool;
    const db = opened.db;
    say(`preparing tenant ${TENANT} with ${AGENTS} agents (${FIRST_EXT}…${FIRST_EXT + AGENTS - 1}) in ${new URL(DB_URL).pathname.slice(1)}…`);
    const agents = await prepareAgents(db);
    const dirs = prepareFlows();
    const keyAfterMs = Number(flag('key-after', 'SIPP_KEY_AFTER_MS', String(Math.round(dirs.welcomeS * 1000) + 2000)));
    const tenantExists = (await db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, TENANT))).length === 1;
    if (!tenantExists) throw new Error(`tenant ${TENANT} missing after preparation`);

    const prefix = `sipp:${randomBytes(6).toString('hex')}`;
    redisPrefix = prefix;
    const env = loadEnv({
      NODE_ENV: 'production', HOST: '127.0.0.1', PORT: CTI_PORT, LOG_LEVEL: 'silent', DATABASE_URL: DB_URL, REDIS_URL, REDIS_PREFIX: prefix,
      FREESWITCH_ESL: ESL, FREESWITCH_ESL_PASSWORD: ESL_PASSWORD, SEED_DEMO_DATA: 'false', IVR_FLOWS_DIR: dirs.flows, PROMPTS_DIR: dirs.prompts,
      RECORDINGS_DIR: dirs.recordings, SIP_DEFAULT_TENANT: TENANT, LOGIN_RATE_LIMIT_PER_MINUTE: '10000', DRAIN_TIMEOUT_MS: '5000',
      ...(process.env.XML_CURL_SECRET ? { XML_CURL_SECRET: process.env.XML_CURL_SECRET } : {}),
    });
    say(`starting the CTI on 127.0.0.1:${CTI_PORT} (FreeSWITCH's xml_curl directory asks it for the agents)…`);
    cti = await startCti(env, { log: pino({ level: process.env.SIPP_LOG ?? 'silent' }), lifecycle: new Lifecycle(), ttsProvider: fakeTts, watchFlows: false, banner: false, printCredentials: false });
    const running = cti;
    await sleep(500);
    probe = new CtiProbe(cti.cluster, cti.acd.engine, () => running.tracker.size, WRAP_S * 1000);
    watcher = new CallWatcher(cti);

    // the agents' phones: one UAS for all, then one REGISTER per agent pointing at it
    fs.writeFileSync(csv, `SEQUENTIAL\n${agents.map((a) => `${a.extension};[authentication username=${a.extension} password=${a.sipPassword}]`).join('\n')}\n`);
    const uas = spawn(SIPP, ['-sf', path.join(HERE, 'agent-uas.xml'), '-i', facts.hostIp, '-p', String(UAS_PORT), '-mp', '16000', '-rtp_echo', '-nostdin', '-trace_stat', '-stf', path.join(work, 'uas-stats.csv'), '-fd', '2', '-trace_err', '-error_file', path.join(work, 'uas-errors.log')], { cwd: work, stdio: 'ignore' });
    children.add(uas);
    uas.on('exit', () => children.delete(uas));
    await sleep(500);
    if (uas.exitCode !== null) throw new Error(`the agent UAS (sipp -sf agent-uas.xml on ${facts.hostIp}:${UAS_PORT}) exited at once (port in use?)`);
    say(`registering ${AGENTS} agents on ${facts.hostIp}:${facts.agentsPort}…`);
    const regCode = await runSipp([`${facts.hostIp}:${facts.agentsPort}`, '-sf', path.join(HERE, 'agent-register.xml'), '-inf', csv, '-i', facts.hostIp, '-p', String(REG_PORT), '-key', 'uas_port', String(UAS_PORT), '-key', 'expires', '3600', '-m', String(AGENTS), '-r', '20', '-trace_stat', '-stf', path.join(work, 'register-stats.csv'), '-trace_err', '-error_file', path.join(work, 'register-errors.log'), '-trace_msg', '-message_file', path.join(work, 'register-messages.log')], work, 'register');
    const reg = lastStats(path.join(work, 'register-stats.csv'));
    if (regCode !== 0) throw new Error(`registration failed: ${reg['SuccessfulCall(C)'] ?? '?'} of ${AGENTS} agents registered (is the CTI reachable for xml_curl on port ${CTI_PORT}? see ${work})`);

    say(`signing in ${AGENTS} agents and setting them ready…`);
    for (const a of agents) {
      const res = await running.app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: a.loginId, password: a.password } });
      if (res.statusCode !== 200) throw new Error(`login ${a.extension}: ${res.statusCode} ${res.body.slice(0, 120)}`);
      const headers = { authorization: `Bearer ${(res.json() as { token: string }).token}` };
      for (const url of ['/agents/me/sign-in', '/agents/me/ready']) {
        const r = await running.app.inject({ method: 'POST', url, headers, payload: {} });
        if (r.statusCode !== 200) throw new Error(`${url} ${a.extension}: ${r.statusCode} ${r.body.slice(0, 120)}`);
      }
    }

    say(`calling: ${CALLS} calls at ${RATE}/s to 12345 on ${facts.hostIp}:${facts.externalPort}, key ${MENU_KEY} ${keyAfterMs} ms after the answer, ${TALK_S} s on the line after it…`);
    const from = new Date(Date.now() - 1000);
    const directory = new DirectoryProbe(cti, agents[0]!.extension);
    probe.begin();
    directory.start();
    const t0 = performance.now();
    const callerStats = path.join(work, 'caller-stats.csv');
    await runSipp([`${facts.hostIp}:${facts.externalPort}`, '-sf', path.join(HERE, 'caller.xml'), '-i', facts.hostIp, '-p', String(CALLER_PORT), '-mp', '12000', '-r', String(RATE), '-m', String(CALLS), '-l', String(Math.max(CALLS, 1)), '-d', String(TALK_S * 1000), '-set', 'key_after_ms', String(keyAfterMs), '-key', 'caller_prefix', CALLER_PREFIX, '-timeout', String(Math.ceil(CALLS / RATE + keyAfterMs / 1000 + TALK_S + 120)), '-trace_stat', '-stf', callerStats, '-fd', '5', '-trace_err', '-error_file', path.join(work, 'caller-errors.log')], work, 'callers');
    const arrivalS = CALLS / RATE;
    // the last hang-ups reach the CTI: CDRs, wrap-ups
    await sleep(2000);
    const w = probe.end();
    directory.stop();
    const caller = lastStats(callerStats);
    const to = new Date();
    const tracks = [...watcher.callers.values()];
    const ended = tracks.filter((t) => t.ended);
    const lost = ended.filter((t) => !t.byCaller);
    const lostCauses: Record<string, number> = {};
    for (const t of lost) lostCauses[t.cause ?? '?'] = (lostCauses[t.cause ?? '?'] ?? 0) + 1;
    const sipFailed = Number(caller['FailedCall(C)'] ?? NaN);
    const result: SwitchScenarioResult = {
      dialed: Number(caller['TotalCallCreated'] ?? caller['OutgoingCall(C)'] ?? CALLS),
      arrivalS: arrivalS || (performance.now() - t0) / 1000,
      callersEnded: ended.length,
      bridged: 0,
      abandonedByScript: 0,
      lost: lost.length,
      lostCauses,
      neverWelcomed: tracks.filter((t) => !t.welcomed).length,
      stuckAtEnd: tracks.filter((t) => !t.ended).length,
      offers: watcher.offers,
      doubleOffersAgent: watcher.doubleAgent,
      doubleOffersCall: watcher.doubleCall,
      nMs: tracks.flatMap((t) => (t.keyAt !== undefined && t.firstLegAt !== undefined ? [t.firstLegAt - t.keyAt] : [])),
      switchEvents: 0,
      peakChannels: 0,
      peakCallers: 0,
    };
    let cdrs = 0;
    for (let i = 0, last = -1, stable = 0; i < 40 && stable < 6; i++) {
      cdrs = Number((await pool.query<{ n: string }>('select count(*) as n from cdrs where tenant_id = $1 and start_at >= $2 and start_at < $3', [TENANT, from, to])).rows[0]!.n);
      stable = cdrs === last ? stable + 1 : 0;
      last = cdrs;
      if (cdrs >= ended.length) break;
      await sleep(500);
    }
    const agentStates: Record<string, number> = {};
    for (const a of await cti.acd.engine.signedInAgents(TENANT)) {
      const k = `${a.state}${a.reason ? `:${a.reason}` : ''}`;
      agentStates[k] = (agentStates[k] ?? 0) + 1;
    }
    const sipRow: Row = {
      'SIPp callers ok / failed': `${caller['SuccessfulCall(C)'] ?? '?'} / ${Number.isFinite(sipFailed) ? sipFailed : '?'}`,
      'callers bridged to an agent': `${tracks.filter((t) => t.bridged).length} / ${tracks.length}`,
      'callers still up at end': String(result.stuckAtEnd),
      'directory answer p50/p99/max ms': directory.answersMs.length ? `${fmt(pct(directory.answersMs, 50), 0)}/${fmt(pct(directory.answersMs, 99), 0)}/${fmt(Math.max(...directory.answersMs), 0)}${directory.failures ? ` (${directory.failures} failed)` : ''}` : 'n/a',
      'DB pool queries waiting / connections (peak)': `${directory.poolWaitingPeak} / ${directory.poolOpenPeak}`,
      'agent states after': Object.entries(agentStates).map(([k, v]) => `${k} ${v}`).join(', ') || 'none',
    };
    const name = `sipp ${RATE}/s`;
    const rows: Row[] = [
      { ...rowFor(name, result, w, cdrs, `real FreeSWITCH ${ESL}: ${CALLS} SIPp callers at ${RATE}/s, IVR welcome + key ${MENU_KEY} (RFC 2833) after ${keyAfterMs} ms, ${TALK_S} s queue+talk, wrap-up ${WRAP_S} s, ${AGENTS} SIPp agents`), ...sipRow },
    ];
    printTable(rows);
    const out = path.join(ROOT, 'bench', 'results', `sipp-${started.toISOString().replace(/[:.]/g, '-')}.json`);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify({
      startedAt: started, settings: { AGENTS, RATE, CALLS, TALK_S, WRAP_S, keyAfterMs, tenant: TENANT, esl: ESL, hostIp: facts.hostIp }, rows,
      details: { switch: { ...result, nMs: undefined, nP50: pct(result.nMs, 50), nP99: pct(result.nMs, 99) }, sipp: caller, agentStates, cti: { ...w, decisionsEslMs: undefined, decisionsAfterWrapUpTimerMs: undefined, dtmfToCommandMs: undefined, triggerToEnqueueMs: undefined, enqueueToOriginateMs: undefined, acdP50: fmt(pct(w.decisionsEslMs, 50), 2) }, cdrs, doubleOffersToAgents: watcher.doubleAgentSamples.slice(0, 50), directoryAnswersMs: { p50: pct(directory.answersMs, 50), p99: pct(directory.answersMs, 99), failures: directory.failures }, workDir: work },
    }, null, 2));
    say(`written ${path.relative(process.cwd(), out)} (SIPp logs in ${work})`);
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(err instanceof Refusal ? `sipp run: ${err.message}\n` : `sipp run failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(err instanceof Refusal ? 2 : 1);
  },
);
