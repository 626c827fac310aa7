// Real-switch load run: SIPp callers dial 12345 through FreeSWITCH's external profile, press a menu key (RFC 2833),
// queue, talk to SIPp agents (registered on hotline-agents, auto-answering) and hang up; the CTI (startCti, in this
// process, HTTP on PORT 8080 so the switch's xml_curl directory reaches it) drives the switch. Prints the table of
// `npm run bench` and writes it as JSON to bench/results/sipp-<timestamp>.json. See test/sipp/README.md.
//   npm run sipp -- --agents 20 --rate 2 --calls 100 --talk 10
//   npm run sipp -- --preset 2        (PERFORMANCE.md's loads: direct queue entry, agents ring 200 ms and hang up)
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
/**
 * PERFORMANCE.md's four loads, as mod_callcenter was measured: each caller answered and queued at once (the direct
 * entry), agents ringing 200 ms, talking a fixed time and hanging up, wrap-up 0. Talk times set the busy level:
 * agent busy share = rate × (ring + talk) / agents, so 80 % of 50 agents at 10/s is 4.0 s per call = 0.2 + 3.8 s.
 */
interface Preset {
  load: string;
  agents: number;
  rate: number;
  talkS: number;
  /** N p99 target, ms */
  targetP99Ms: number;
  /** mod_callcenter's N p50 / p99 on the same load (PERFORMANCE.md) */
  modCallcenter: string;
}
const PRESETS: Record<string, Preset> = {
  '1': { load: '1 call/s, 50 agents', agents: 50, rate: 1, talkS: 10, targetP99Ms: 30, modCallcenter: '54 / 104' },
  '2': { load: '10 calls/s, 50 agents, 80% busy', agents: 50, rate: 10, talkS: 3.8, targetP99Ms: 30, modCallcenter: '59 / 123' },
  '3': { load: '15 calls/s, 75 agents, 80% busy', agents: 75, rate: 15, talkS: 3.8, targetP99Ms: 30, modCallcenter: '57 / 209' },
  '4': { load: '20 calls/s, 50 agents, 1.7 s talk', agents: 50, rate: 20, talkS: 1.7, targetP99Ms: 1000, modCallcenter: 'unbounded queue (p50 3.5 s)' },
};
const PRESET_ID = flag('preset', 'SIPP_PRESET', '');
const PRESET = PRESET_ID ? PRESETS[PRESET_ID] : undefined;
if (PRESET_ID && !PRESET) throw new Error(`--preset ${PRESET_ID}: one of ${Object.keys(PRESETS).join(', ')}`);
/** ivr: 12345, welcome + menu key 1; direct: DID 96199 → test/sipp/direct-queue.yaml, answered and queued at once */
const ENTRY = flag('entry', 'SIPP_ENTRY', PRESET ? 'direct' : 'ivr');
if (ENTRY !== 'ivr' && ENTRY !== 'direct') throw new Error(`--entry ${ENTRY}: ivr or direct`);
const DIRECT = ENTRY === 'direct';
const DIRECT_DID = '96199';
const AGENTS = Number(flag('agents', 'SIPP_AGENTS', String(PRESET?.agents ?? 20)));
const RATE = Number(flag('rate', 'SIPP_RATE', String(PRESET?.rate ?? 2)));
const DURATION_S = Number(flag('duration', 'SIPP_DURATION_S', '60'));
const CALLS = Number(flag('calls', 'SIPP_CALLS', PRESET ? String(Math.round(RATE * DURATION_S)) : '100'));
/** ivr: seconds from the key to the caller's BYE (queue + talk); direct: the agent's talk time before its BYE */
const TALK_S = Number(flag('talk', 'SIPP_TALK_S', String(PRESET?.talkS ?? 10)));
const WRAP_S = Number(flag('wrap', 'SIPP_WRAP_S', PRESET ? '0' : '2'));
/** XML_CURL_USER_CACHE_MS for the run's CTI: FreeSWITCH caches the agents' directory entries (0: xml_curl per offer) */
const SWITCH_USER_CACHE_MS = flag('switch-user-cache-ms', 'XML_CURL_USER_CACHE_MS', '1800000');
/** direct: the agent phone rings this long before answering */
const RING_MS = Number(flag('ring-ms', 'SIPP_RING_MS', '200'));
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
    // direct (PERFORMANCE.md's set-up): no length limit or announcements, so the queue shows what the ACD keeps up with
    await updateGroup(db, TENANT, g.id, { wrapUpMs: WRAP_S * 1000, ...(DIRECT ? { maxQueueLength: null, announceIntervalMs: 0, maxWaitMs: 300_000 } : {}) });
    await setMembers(db, TENANT, g.id, agents.map((a, position) => ({ agentId: a.id, proficiency: 3, position })));
  }
  return agents;
}

/** the shipped demo flows, open around the clock; the real prompts (from the set-up's TTS) when present */
function prepareFlows(): { flows: string; prompts: string; recordings: string; welcomeS: number } {
  const dirs = prepareDemoTenant(TENANT, { calendar: ALWAYS_OPEN });
  if (DIRECT) {
    // the run's own copy only: the DID of the direct entry, no post-call survey (callers stay until the agent's BYE)
    fs.copyFileSync(path.join(HERE, 'direct-queue.yaml'), path.join(dirs.flows, TENANT, 'sipp-direct.yaml'));
    fs.writeFileSync(path.join(dirs.flows, 'entry-points.yaml'), `routes:\n  - did: "${DIRECT_DID}"\n    tenant: ${TENANT}\n    flow: sipp-direct\n`);
  }
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
interface CallerTrack {
  ended: boolean;
  byCaller: boolean;
  cause?: string;
  welcomed: boolean;
  bridged: boolean;
  /** switch clock (Event-Date-Timestamp), ms since the epoch */
  answerAt?: number;
  keyAt?: number;
  firstLegAt?: number;
  /** this process's clock (performance.timeOrigin + performance.now()), ms since the epoch */
  answerSeenAt?: number;
  /** the commands the CTI wrote for this call from its answer to its first originate (name, epoch ms) */
  steps: { cmd: string; at: number }[];
  originateAt?: number;
}

/** performance.now() → the wall clock the switch stamps its events with (timeOrigin alone drifts from it) */
const clockOffsetMs = Date.now() - (performance.timeOrigin + performance.now());
const epochNow = (perfAt: number) => performance.timeOrigin + perfAt + clockOffsetMs;

class CallWatcher {
  readonly callers = new Map<string, CallerTrack>();
  /** callers answered (direct) or past their key (ivr) with no agent leg yet: the queue as the switch shows it */
  private readonly waiting = new Set<string>();
  /** bgapi Job-UUID of a command before a caller's first originate → the caller and the command */
  private readonly stepJobs = new Map<string, { call: string; cmd: string }>();
  queueMax = 0;
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
      const onCommand = (text: string, kind: string, at: number, id: string) => {
        this.noteStep(text, kind, at, id);
        this.onCommand(text, id);
      };
      node.on('command', onCommand);
      this.detach.push(() => node.off('command', onCommand));
    }
  }

  private onEvent(ev: EslEvent): void {
    if (ev.name === 'BACKGROUND_JOB') {
      const step = this.stepJobs.get(ev.headers['Job-UUID'] ?? '');
      if (step) {
        this.stepJobs.delete(ev.headers['Job-UUID']!);
        const c = this.callers.get(step.call);
        if (c && c.originateAt === undefined) c.steps.push({ cmd: `reply to ${step.cmd}`, at: epochNow(ev.receivedAt) });
      }
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
      this.callers.set(uuid, { ended: false, byCaller: false, welcomed: false, bridged: false, steps: [] });
    const caller = this.callers.get(uuid);
    if (caller) {
      // the CTI subscribes to no PLAYBACK_* events: its playback of the welcome ending is the proof it was played
      if (ev.name === 'CHANNEL_EXECUTE_COMPLETE' && h['Application'] === 'playback' && /welcome/.test(h['Application-Data'] ?? '')) caller.welcomed = true;
      if (ev.name === 'CHANNEL_BRIDGE') caller.bridged = true;
      if (ev.name === 'CHANNEL_ANSWER' && caller.answerAt === undefined) {
        caller.answerAt = Number(h['Event-Date-Timestamp']) / 1000;
        caller.answerSeenAt = epochNow(ev.receivedAt);
        if (DIRECT) this.wait(uuid);
      }
      if (ev.name === 'DTMF' && caller.keyAt === undefined) {
        caller.keyAt = Number(h['Event-Date-Timestamp']) / 1000;
        if (!DIRECT) this.wait(uuid);
      }
      if ((ev.name === 'CHANNEL_EXECUTE' || ev.name === 'CHANNEL_EXECUTE_COMPLETE') && caller.answerSeenAt !== undefined && caller.originateAt === undefined)
        caller.steps.push({ cmd: `${ev.name === 'CHANNEL_EXECUTE' ? 'switch runs' : 'switch done'} ${h['Application'] ?? '?'}`, at: epochNow(ev.receivedAt) });
      if (ev.name === 'CHANNEL_HANGUP' && !caller.ended) {
        caller.ended = true;
        caller.cause = h['Hangup-Cause'] ?? '?';
        this.waiting.delete(uuid);
      }
      // who hung up: sofia sets the disposition by the time of CHANNEL_HANGUP_COMPLETE (recv_bye = the caller's BYE)
      const disposition = h['variable_sip_hangup_disposition'];
      if (disposition) caller.byCaller = disposition === 'recv_bye' || disposition === 'recv_cancel';
    }
    if (ev.name === 'CHANNEL_CREATE' && this.legAgent.has(uuid)) {
      this.liveLegs.add(uuid);
      const call = this.legAgent.get(uuid)!.call;
      const c = this.callers.get(call);
      if (c && c.firstLegAt === undefined) c.firstLegAt = Number(h['Event-Date-Timestamp']) / 1000;
      this.waiting.delete(call);
    }
    // the phone is free from the leg's hang-up: with wrap-up 0 the next offer may come before its CHANNEL_DESTROY
    if ((ev.name === 'CHANNEL_HANGUP' || ev.name === 'CHANNEL_DESTROY') && this.legAgent.has(uuid)) this.dropLeg(uuid);
  }

  private wait(uuid: string): void {
    this.waiting.add(uuid);
    this.queueMax = Math.max(this.queueMax, this.waiting.size);
  }

  private dropLeg(leg: string): void {
    this.liveLegs.delete(leg);
    const offered = this.legAgent.get(leg);
    if (!offered) return; // hung up, then its originate's -ERR
    const { agent, call } = offered;
    if (this.agentLeg.get(agent) === leg) this.agentLeg.delete(agent);
    if (this.callLeg.get(call) === leg) this.callLeg.delete(call);
    this.legAgent.delete(leg);
  }

  /** the commands naming a caller between its answer and its first originate: what the CTI did before offering */
  private noteStep(text: string, kind: string, perfAt: number, jobId: string): void {
    const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(text.startsWith('originate ') ? (/hotline_queue_call=([0-9a-f-]{36})/.exec(text)?.[1] ?? '') : text)?.[0];
    const c = uuid ? this.callers.get(uuid) : undefined;
    if (!c || c.answerSeenAt === undefined || c.originateAt !== undefined) return;
    const at = epochNow(perfAt);
    const words = text.split(/\s+/);
    const cmd = words[0] === 'originate' || kind === 'sendmsg' ? words[0]! : `${kind} ${words[0]}${words[0] === 'uuid_setvar' ? ` ${words[2]}` : ''}`;
    c.steps.push({ cmd, at });
    if (cmd === 'originate') c.originateAt = at;
    else if (kind === 'bgapi') this.stepJobs.set(jobId, { call: uuid!, cmd });
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

  /** an offered leg counts as up from its originate until its CHANNEL_HANGUP */
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

/**
 * N split at the CTI's socket (one host, one clock): the switch's CHANNEL_ANSWER → its arrival here (mod_event_socket's
 * delivery), → the first originate written (the CTI: flow, queue, ACD), → the agent leg's CHANNEL_CREATE (the switch:
 * bgapi thread, user/ directory lookup over xml_curl, sofia).
 */
function nSplit(tracks: CallerTrack[]): { deliveryMs: number[]; ctiMs: number[]; switchMs: number[] } {
  const out = { deliveryMs: [] as number[], ctiMs: [] as number[], switchMs: [] as number[] };
  for (const t of tracks) {
    if (t.answerAt === undefined || t.answerSeenAt === undefined || t.originateAt === undefined || t.firstLegAt === undefined) continue;
    out.deliveryMs.push(t.answerSeenAt - t.answerAt);
    out.ctiMs.push(t.originateAt - t.answerSeenAt);
    out.switchMs.push(t.firstLegAt - t.originateAt);
  }
  return out;
}

/** per step between CHANNEL_ANSWER and the first originate: the time since the step before it, over all calls */
function stepGaps(tracks: CallerTrack[]): { step: string; n: number; p50: number; p99: number }[] {
  const byStep = new Map<string, number[]>();
  for (const t of tracks) {
    if (t.answerSeenAt === undefined || t.originateAt === undefined) continue;
    let prev = { cmd: 'CHANNEL_ANSWER seen', at: t.answerSeenAt };
    for (const step of t.steps) {
      const key = `${prev.cmd} → ${step.cmd}`;
      const xs = byStep.get(key) ?? [];
      xs.push(step.at - prev.at);
      byStep.set(key, xs);
      prev = step;
    }
  }
  return [...byStep].map(([step, xs]) => ({ step, n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99) })).sort((a, b) => b.n - a.n || b.p50 - a.p50);
}

/**
 * The CTI's PostgreSQL statements during the calls: count and time from pool.query() to its result, which includes
 * the wait for a free connection (the pool is the first limit at 10 calls/s, see below).
 */
class QueryProbe {
  private readonly byStatement = new Map<string, number[]>();
  private active = false;

  constructor(pool: pg.Pool) {
    const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const result = query(...args);
      if (!this.active || !(result instanceof Promise)) return result;
      const first = args[0] as string | { text?: string };
      const text = (typeof first === 'string' ? first : (first?.text ?? '?')).replace(/\s+/g, ' ').slice(0, 70);
      const t = performance.now();
      const done = () => {
        const xs = this.byStatement.get(text) ?? [];
        xs.push(performance.now() - t);
        this.byStatement.set(text, xs);
      };
      result.then(done, done);
      return result;
    };
  }

  begin(): void {
    this.active = true;
  }

  end(): { statement: string; n: number; p50: number; p99: number; totalMs: number }[] {
    this.active = false;
    return [...this.byStatement]
      .map(([statement, xs]) => ({ statement, n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99), totalMs: xs.reduce((a, b) => a + b, 0) }))
      .sort((a, b) => b.n - a.n);
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
    // each call creates two sessions (caller, agent leg): past the switch's sessions-per-second limit (switch.conf
    // max-sessions-per-second, 30 by default) it refuses the agent legs ("Throttle Error!", DESTINATION_OUT_OF_ORDER)
    // and the ACD takes those agents out of service (话机离线)
    const sps = Number(/per Sec out of max (\d+)/.exec(await probeEsl.api('status'))?.[1] ?? NaN);
    if (sps < RATE * 3) say(`WARNING: FreeSWITCH allows ${sps} new sessions/s and ${RATE} calls/s need ${RATE * 2} plus re-offers: agent legs will be refused. Raise it (fs_cli -x 'fsctl sps ${Math.max(100, RATE * 5)}', or max-sessions-per-second in switch.conf).`);
    // the switch's user cache (XML_CURL_USER_CACHE_MS) may hold the previous run's SIP passwords: this run sets new ones
    for (let i = 0; i < AGENTS; i++) await probeEsl.api(`xml_flush_cache id ${FIRST_EXT + i} ${TENANT}`);
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
      XML_CURL_USER_CACHE_MS: SWITCH_USER_CACHE_MS,
    });
    say(`starting the CTI on 127.0.0.1:${CTI_PORT} (FreeSWITCH's xml_curl directory asks it for the agents)…`);
    cti = await startCti(env, { log: pino({ level: process.env.SIPP_LOG ?? 'silent' }), lifecycle: new Lifecycle(), ttsProvider: fakeTts, watchFlows: false, banner: false, printCredentials: false });
    const running = cti;
    await sleep(500);
    probe = new CtiProbe(cti.cluster, cti.acd.engine, () => running.tracker.size, WRAP_S * 1000);
    watcher = new CallWatcher(cti);

    // the agents' phones: one UAS for all, then one REGISTER per agent pointing at it
    fs.writeFileSync(csv, `SEQUENTIAL\n${agents.map((a) => `${a.extension};[authentication username=${a.extension} password=${a.sipPassword}]`).join('\n')}\n`);
    const uasScenario = DIRECT ? ['-sf', path.join(HERE, 'agent-talk.xml'), '-set', 'ring_ms', String(RING_MS), '-set', 'talk_ms', String(Math.round(TALK_S * 1000))] : ['-sf', path.join(HERE, 'agent-uas.xml')];
    const uas = spawn(SIPP, [...uasScenario, '-i', facts.hostIp, '-p', String(UAS_PORT), '-mp', '16000', '-rtp_echo', '-nostdin', '-trace_stat', '-stf', path.join(work, 'uas-stats.csv'), '-fd', '2', '-trace_err', '-error_file', path.join(work, 'uas-errors.log')], { cwd: work, stdio: 'ignore' });
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

    say(DIRECT
      ? `calling: ${CALLS} calls at ${RATE}/s to ${DIRECT_DID} (direct queue) on ${facts.hostIp}:${facts.externalPort}; agents ring ${RING_MS} ms, talk ${TALK_S} s and hang up, wrap-up ${WRAP_S} s…`
      : `calling: ${CALLS} calls at ${RATE}/s to 12345 on ${facts.hostIp}:${facts.externalPort}, key ${MENU_KEY} ${keyAfterMs} ms after the answer, ${TALK_S} s on the line after it…`);
    const from = new Date(Date.now() - 1000);
    const directory = new DirectoryProbe(cti, agents[0]!.extension);
    const queries = new QueryProbe(cti.ctx.pool);
    queries.begin();
    probe.begin();
    directory.start();
    const t0 = performance.now();
    const callerStats = path.join(work, 'caller-stats.csv');
    const callerScenario = DIRECT ? ['-sf', path.join(HERE, 'caller-direct.xml'), '-s', DIRECT_DID] : ['-sf', path.join(HERE, 'caller.xml'), '-d', String(TALK_S * 1000), '-set', 'key_after_ms', String(keyAfterMs)];
    await runSipp([`${facts.hostIp}:${facts.externalPort}`, ...callerScenario, '-i', facts.hostIp, '-p', String(CALLER_PORT), '-mp', '12000', '-r', String(RATE), '-m', String(CALLS), '-l', String(Math.max(CALLS, 1)), '-key', 'caller_prefix', CALLER_PREFIX, '-timeout', String(Math.ceil(CALLS / RATE + keyAfterMs / 1000 + TALK_S + 120)), '-trace_stat', '-stf', callerStats, '-fd', '5', '-trace_err', '-error_file', path.join(work, 'caller-errors.log')], work, 'callers');
    const arrivalS = CALLS / RATE;
    // the last hang-ups reach the CTI: CDRs, wrap-ups
    await sleep(2000);
    const w = probe.end();
    const statements = queries.end();
    directory.stop();
    const caller = lastStats(callerStats);
    const to = new Date();
    const tracks = [...watcher.callers.values()];
    const ended = tracks.filter((t) => t.ended);
    // direct: the switch ends every call after the agent's BYE, so a lost caller is one never bridged to an agent
    const lost = DIRECT ? ended.filter((t) => !t.bridged) : ended.filter((t) => !t.byCaller);
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
      neverWelcomed: DIRECT ? 0 : tracks.filter((t) => !t.welcomed).length,
      stuckAtEnd: tracks.filter((t) => !t.ended).length,
      offers: watcher.offers,
      doubleOffersAgent: watcher.doubleAgent,
      doubleOffersCall: watcher.doubleCall,
      nMs: tracks.flatMap((t) => {
        const from = DIRECT ? t.answerAt : t.keyAt;
        return from !== undefined && t.firstLegAt !== undefined ? [t.firstLegAt - from] : [];
      }),
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
    const split = nSplit(tracks);
    const nMs = result.nMs;
    const met = nMs.length > 0 && pct(nMs, 99) <= (PRESET?.targetP99Ms ?? Infinity) && lost.length === 0 && result.stuckAtEnd === 0 && watcher.doubleAgent + watcher.doubleCall === 0;
    const p3 = (xs: number[]) => (xs.length ? `${fmt(pct(xs, 50), 1)}/${fmt(pct(xs, 99), 1)}/${fmt(Math.max(...xs), 1)}` : 'n/a');
    const nRows: Row = DIRECT
      ? {
          'N answer→agent leg p50/p99/max ms': `${p3(nMs)} (n=${nMs.length})`,
          '  ESL delivery of CHANNEL_ANSWER p50/p99/max ms': p3(split.deliveryMs),
          '  CTI: CHANNEL_ANSWER seen→originate written p50/p99/max ms': p3(split.ctiMs),
          '  switch: originate→agent CHANNEL_CREATE p50/p99/max ms': p3(split.switchMs),
          'queue length max (answered, no agent leg yet)': watcher.queueMax,
        }
      : { 'N key→agent leg p50/p99/max ms': `${p3(nMs)} (n=${nMs.length})`, 'queue length max (past the key, no agent leg yet)': watcher.queueMax };
    const sipRow: Row = {
      ...nRows,
      'SIPp callers ok / failed': `${caller['SuccessfulCall(C)'] ?? '?'} / ${Number.isFinite(sipFailed) ? sipFailed : '?'}`,
      'callers bridged to an agent': `${tracks.filter((t) => t.bridged).length} / ${tracks.length}`,
      'callers still up at end': String(result.stuckAtEnd),
      'directory answer p50/p99/max ms': directory.answersMs.length ? `${fmt(pct(directory.answersMs, 50), 0)}/${fmt(pct(directory.answersMs, 99), 0)}/${fmt(Math.max(...directory.answersMs), 0)}${directory.failures ? ` (${directory.failures} failed)` : ''}` : 'n/a',
      'DB pool queries waiting / connections (peak)': `${directory.poolWaitingPeak} / ${directory.poolOpenPeak}`,
      'agent states after': Object.entries(agentStates).map(([k, v]) => `${k} ${v}`).join(', ') || 'none',
    };
    const name = `sipp ${RATE}/s`;
    const rows: Row[] = [
      {
        ...rowFor(name, result, w, cdrs, DIRECT
          ? `real FreeSWITCH ${ESL}: ${CALLS} SIPp callers at ${RATE}/s to ${DIRECT_DID}, answered and queued at once; ${AGENTS} SIPp agents ring ${RING_MS} ms, talk ${TALK_S} s, hang up; wrap-up ${WRAP_S} s`
          : `real FreeSWITCH ${ESL}: ${CALLS} SIPp callers at ${RATE}/s, IVR welcome + key ${MENU_KEY} (RFC 2833) after ${keyAfterMs} ms, ${TALK_S} s queue+talk, wrap-up ${WRAP_S} s, ${AGENTS} SIPp agents`),
        ...sipRow,
      },
    ];
    printTable(rows);
    const gaps = stepGaps(tracks);
    say(`host load average (1/5 min) at the end: ${os.loadavg().slice(0, 2).map((l) => l.toFixed(1)).join(' / ')} on ${os.cpus().length} cores`);
    say('what the CTI did between the caller\'s CHANNEL_ANSWER and its first originate (gap before each step, ms; median over calls):');
    for (const g of gaps.slice(0, 12)) say(`  ${g.step.padEnd(58)} n=${String(g.n).padStart(5)}  p50 ${fmt(g.p50, 1).padStart(7)}  p99 ${fmt(g.p99, 1).padStart(7)}`);
    const queryTotal = statements.reduce((a, q) => a + q.n, 0);
    say(`CTI PostgreSQL statements during the calls: ${queryTotal} (${fmt(queryTotal / Math.max(1, tracks.length), 1)} per caller); the most frequent (time incl. the pool wait, ms):`);
    for (const q of statements.slice(0, 10)) say(`  ${String(q.n).padStart(6)}  p50 ${fmt(q.p50, 1).padStart(7)}  p99 ${fmt(q.p99, 1).padStart(7)}  ${q.statement}`);
    if (PRESET) say(`\nPERFORMANCE.md row: | ${PRESET.load} | ${fmt(pct(nMs, 50), 0)} / ${fmt(pct(nMs, 99), 0)} | ${PRESET.modCallcenter} | p99 ≤ ${PRESET.targetP99Ms}${PRESET_ID === '4' ? ', bounded queue' : ''} | ${met ? 'met' : 'NOT met'} | queue max ${watcher.queueMax}, lost ${lost.length}, double offers ${watcher.doubleAgent}/${watcher.doubleCall} |`);
    const out = path.join(ROOT, 'bench', 'results', `sipp-${started.toISOString().replace(/[:.]/g, '-')}.json`);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify({
      startedAt: started, preset: PRESET ? { id: PRESET_ID, ...PRESET, met } : undefined, nSplit: { deliveryP50: pct(split.deliveryMs, 50), deliveryP99: pct(split.deliveryMs, 99), ctiP50: pct(split.ctiMs, 50), ctiP99: pct(split.ctiMs, 99), switchP50: pct(split.switchMs, 50), switchP99: pct(split.switchMs, 99) }, stepGaps: gaps, statements: statements.slice(0, 30), queueMax: watcher.queueMax, settings: { ENTRY, RING_MS, SWITCH_USER_CACHE_MS, AGENTS, RATE, CALLS, TALK_S, WRAP_S, keyAfterMs, tenant: TENANT, esl: ESL, hostIp: facts.hostIp }, rows,
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
