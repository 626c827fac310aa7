// Shared pieces of the real-FreeSWITCH tests: the skip check, an independent ESL observer (what the switch did),
// a recorder of the commands the CTI sent, real WAV prompts (the switch cannot play the fixture's stub files) and
// the CTI started against the real switch on PORT 8080, where the overlay's mod_xml_curl looks agents up.
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import pino from 'pino';
import { EslNode, HOTLINE_EVENTS, type EslEvent } from '../../src/esl/index.js';
import { tenants } from '../../src/db/schema/core.js';
import { createGroup, setMembers } from '../../src/acd/groups.js';
import { startTestCti, sleep, type E2eTenant, type StartedCti } from '../e2e/cti-fixture.js';
import { makeTestContext, createTestUser, type TestUser } from '../http/fixture.js';
import { randomPrefix } from '../helpers/env.js';
import { prepareDemoTenant, ALWAYS_OPEN } from '../ivr/demo-tenant.js';
export { until, sleep } from '../e2e/cti-fixture.js';
import { until } from '../e2e/cti-fixture.js';

const target = (process.env.FREESWITCH_ESL ?? '').split(',')[0]?.trim() ?? '';
const [host = '', portText = ''] = target.split(':');
export const eslHost = host;
export const eslPort = Number(portText);
export const eslPassword = process.env.FREESWITCH_ESL_PASSWORD ?? 'hotline_esl_password';
/** the overlay's xml_curl secret placeholder (vars_hotline.xml); override when the switch uses another */
export const xmlCurlSecret = process.env.XML_CURL_SECRET ?? 'CHANGE-ME-xml-curl-secret';
/** the address the switch's SIP profiles listen on (local_ip_v4 of the switch) */
export const sipHost = process.env.FREESWITCH_SIP_HOST ?? '192.0.2.2';

async function reachable(): Promise<boolean> {
  if (!host || !Number.isInteger(eslPort) || eslPort <= 0) return false;
  return new Promise((resolve) => {
    const s = net.connect({ host, port: eslPort, timeout: 1500 }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.on('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** true when a switch answers at FREESWITCH_ESL; otherwise prints why the file is skipped */
export async function realSwitchUp(file: string): Promise<boolean> {
  const up = await reachable();
  if (!up) {
    console.warn(
      `[real-fs] ${file} skipped: ${target ? `FreeSWITCH ESL at ${target} is not reachable` : 'FREESWITCH_ESL is not set'} ` +
        '(set FREESWITCH_ESL=host:port and FREESWITCH_ESL_PASSWORD to run it against a real switch; see test/real-fs/README.md)',
    );
  }
  if (up) await holdSwitch(file);
  return up;
}

// One switch, one CTI on :8080 (the overlay's xml_curl target) and `hupall` at the end of each file: two files at
// once would steal each other's calls. vitest runs files in parallel forks, so the files queue on a lock file.
const LOCK_FILE = path.join(os.tmpdir(), 'hotline-real-fs.lock');

function lockHolderAlive(): boolean {
  try {
    const pid = Number(fs.readFileSync(LOCK_FILE, 'utf8'));
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function holdSwitch(file: string): Promise<void> {
  const started = Date.now();
  for (;;) {
    try {
      fs.writeFileSync(LOCK_FILE, String(process.pid), { flag: 'wx' });
      break;
    } catch {
      // a holder that died (killed run) leaves its file behind: take it over
      if (!lockHolderAlive()) fs.rmSync(LOCK_FILE, { force: true });
      else if (Date.now() - started > 10 * 60_000) throw new Error(`[real-fs] ${file}: the switch stayed busy 10 min (${LOCK_FILE})`);
      else await sleep(200);
    }
  }
  afterAll(() => fs.rmSync(LOCK_FILE, { force: true }));
}

export const realSwitchName = target || '(FREESWITCH_ESL unset)';

/** An ESL connection of the test's own: the switch's events (more than the CTI subscribes to), and api commands. */
export class SwitchObserver {
  readonly node: EslNode;
  readonly events: EslEvent[] = [];

  constructor() {
    // the CTI's subscription plus what a test reads to see what the switch really did (apps run, files played)
    // before the CTI's list: everything after CUSTOM in an `event` command is taken as a CUSTOM subclass
    const events = ['CHANNEL_EXECUTE', 'PLAYBACK_START', 'PLAYBACK_STOP', ...HOTLINE_EVENTS];
    this.node = new EslNode({ host, port: eslPort, password: eslPassword, events, log: pino({ level: 'silent' }), reconnect: { initialMs: 50, maxMs: 500 } });
    this.node.on('event', (ev) => this.events.push(ev));
  }

  async start(): Promise<void> {
    this.node.start();
    await this.node.waitConnected(5000);
  }

  /** an api command's reply without the trailing newline some commands add */
  async api(cmd: string): Promise<string> {
    return (await this.node.api(cmd, { timeoutMs: 10_000 })).trimEnd();
  }

  /** events of one channel with this Event-Name */
  of(uuid: string, name: string): EslEvent[] {
    return this.events.filter((e) => e.name === name && e.uuid === uuid);
  }

  /** the applications the switch ran on a channel (CHANNEL_EXECUTE), as "app data" */
  apps(uuid: string): string[] {
    return this.of(uuid, 'CHANNEL_EXECUTE').map((e) => `${e.headers['Application'] ?? ''} ${e.headers['Application-Data'] ?? ''}`.trim());
  }

  async channels(): Promise<Record<string, string>[]> {
    const body = await this.api('show channels as json');
    const parsed = JSON.parse(body) as { rows?: Record<string, string>[] };
    return parsed.rows ?? [];
  }

  /** hang up whatever the test left on the switch */
  async hangupAll(): Promise<void> {
    await this.api('hupall NORMAL_CLEARING').catch(() => {});
  }

  async stop(): Promise<void> {
    await this.node.stop();
  }
}

/** Every command the CTI wrote to the switch, as text (api/bgapi lines; sendmsg as "sendmsg <uuid> app arg"). */
export function recordCtiCommands(cti: StartedCti): string[] {
  const lines: string[] = [];
  for (const n of cti.cluster.nodes) n.on('command', (text) => lines.push(text));
  return lines;
}

/** Replace the fixture's stub prompts ("RIFF") by real 8 kHz WAVs of `seconds`, which the switch can play. */
export function realPrompts(e: E2eTenant, seconds = 1): void {
  const walk = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(path.join(dir, d.name)) : [path.join(dir, d.name)]));
  for (const f of walk(e.dirs.prompts).filter((f) => f.endsWith('.wav'))) {
    execFileSync('sox', ['-n', '-r', '8000', '-c', '1', '-b', '16', f, 'synth', String(seconds), 'sine', '440', 'vol', '0.1']);
  }
  fs.mkdirSync(e.dirs.recordings, { recursive: true });
  // the switch runs as another user on some installs: let it write the recordings
  fs.chmodSync(e.dirs.recordings, 0o777);
}

/** The CTI as `npm start` composes it, on the real switch, HTTP on 8080 for the overlay's xml_curl. */
export function startCtiOnRealSwitch(e: E2eTenant, env: Record<string, string> = {}): Promise<StartedCti> {
  return startTestCti(e, {
    env: {
      FREESWITCH_ESL: target,
      FREESWITCH_ESL_PASSWORD: eslPassword,
      XML_CURL_SECRET: xmlCurlSecret,
      PORT: process.env.REAL_FS_CTI_PORT ?? '8080',
      ...env,
    },
  });
}

/**
 * The hotline-agents profile forces every phone into the SIP domain `demo` (vars_hotline.xml hotline_sip_domain), and
 * the CTI's directory maps that domain to the tenant `demo`. So the agents of these tests live in tenant `demo` of the
 * test database, with random extensions (no clash with the seeded 1001…), in a skill group of their own that the
 * main flow's key 1 (咨询) is pointed at in this test's copy of the flows.
 */
export async function prepareSipTenant(opts: { agentCount: number }): Promise<E2eTenant> {
  const t = await makeTestContext();
  await t.ctx.db.insert(tenants).values({ id: 'demo', name: '示范热线中心' }).onConflictDoNothing();
  const agents: TestUser[] = [];
  const base = 60_000 + Math.floor(Math.random() * 39_000);
  for (let i = 0; i < opts.agentCount; i++) agents.push(await createTestUser(t.ctx, 'demo', 'agent', { extension: String(base + i) }));
  const code = `rf${randomBytes(4).toString('hex')}`;
  const group = await createGroup(t.ctx.db, 'demo', {
    name: `实网测试组 ${code}`, code, strategy: 'longest_idle', musicOnHold: 'local_stream://moh', noAnswerTimeoutMs: 15_000, wrapUpMs: 2000,
    overflowOnWait: { kind: 'voicemail' }, overflowOnLength: { kind: 'voicemail' },
  });
  await setMembers(t.ctx.db, 'demo', group.id, agents.map((a, i) => ({ agentId: a.id, proficiency: 5, position: i })));
  const dirs = prepareDemoTenant('demo', { calendar: ALWAYS_OPEN });
  const main = path.join(dirs.flows, 'demo', 'main.yaml');
  fs.writeFileSync(main, fs.readFileSync(main, 'utf8').replace('skillGroup: consult', `skillGroup: ${code}`));
  return { tenant: 'demo', dirs, agents, groups: new Map([[code, group.id]]), prefix: randomPrefix('rfs'), close: () => t.close() };
}

const SIPP = process.env.SIPP_BIN ?? 'sipp';
const SCENARIOS = path.resolve('test/sipp');
const HERE = path.dirname(fileURLToPath(import.meta.url));

/** why SIPp agents cannot run here, or null */
export function sippMissing(): string | null {
  if (spawnSync(SIPP, ['-v']).error) return `${SIPP} not found (Debian package sip-tester)`;
  if (!fs.existsSync(path.join(SCENARIOS, 'agent-uas.xml'))) return 'test/sipp/agent-uas.xml is missing';
  return null;
}

/**
 * Agent phones: one SIPp UAS (test/sipp/agent-uas.xml) answering every INVITE after `ringMs`, and the given agents
 * registered on hotline-agents (digest auth against the CTI's directory) with their contact at that UAS.
 */
export async function startSippAgents(agents: TestUser[], opts: { uasPort?: number; ringMs?: number } = {}): Promise<{ stop(): Promise<void> }> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'real-fs-sipp-'));
  const uasPort = opts.uasPort ?? 5190;
  const uas = spawn(SIPP, ['-sf', path.join(SCENARIOS, 'agent-uas.xml'), '-i', sipHost, '-p', String(uasPort), '-mp', String(uasPort + 12_000), '-rtp_echo', '-d', String(opts.ringMs ?? 300), '-nostdin', '-trace_err', '-error_file', path.join(work, 'uas-errors.log')], { cwd: work, stdio: 'ignore' });
  await sleep(300);
  if (uas.exitCode !== null) throw new Error(`sipp agent UAS on ${sipHost}:${uasPort} exited at once (${uas.exitCode})`);
  // one REGISTER run per agent (see sipp/agent-register.xml for why); never spawnSync: the CTI in this process must
  // answer the switch's directory lookups meanwhile
  const registerOne = (a: TestUser, expires: number) =>
    new Promise<number | null>((resolve) => {
      const p = spawn(SIPP, [`${sipHost}:5070`, '-sf', path.join(HERE, 'sipp', 'agent-register.xml'), '-i', sipHost, '-p', String(uasPort + 1), '-au', a.extension!, '-ap', a.sipPassword!, '-s', a.extension!, '-key', 'uas_port', String(uasPort), '-key', 'expires', String(expires), '-m', '1', '-nostdin', '-timeout', '10', '-timeout_error', '-trace_msg', '-message_file', path.join(work, `register-${a.extension}.log`)], { cwd: work, stdio: 'ignore' });
      p.once('exit', (code) => resolve(code));
    });
  const register = async (expires: number) => {
    for (const a of agents) {
      const code = await registerOne(a, expires);
      if (code !== 0) return code;
    }
    return 0;
  };
  const status = await register(300);
  if (status !== 0) {
    uas.kill('SIGTERM');
    throw new Error(`sipp REGISTER of ${agents.map((a) => a.extension).join(',')} on ${sipHost}:5070 failed (exit ${status}); is the CTI's directory on :8080 reachable?`);
  }
  return {
    async stop() {
      await register(0);
      uas.kill('SIGTERM');
      await new Promise((r) => (uas.exitCode !== null ? r(null) : uas.once('exit', r)));
    },
  };
}

/**
 * A citizen dials 12345: a loopback call into the overlay's context `hotline`. Returns the caller's own leg (-a, parked
 * here; DTMF sent on it reaches the hotline leg as RFC 2833) and the hotline leg (-b) the CTI takes, which is the call's id.
 */
export async function dial12345(fs: SwitchObserver, callerNumber = '13800138000'): Promise<{ callerLeg: string; hotlineLeg: string }> {
  const callerLeg = randomUUID();
  // in the background: a plain `originate` would wait for the hotline leg to answer, which only the CTI (or, 8 s
  // later, the overlay's fallback) does
  const job = await fs.api(
    `bgapi originate {origination_uuid=${callerLeg},origination_caller_id_number=${callerNumber},loopback_bowout=false,ignore_early_media=true}loopback/12345/hotline &park()`,
  );
  if (!job.startsWith('+OK')) throw new Error(`originate into context hotline failed: ${job}`);
  let hotlineLeg = '';
  await until(async () => {
    hotlineLeg = await fs.api(`uuid_getvar ${callerLeg} other_loopback_leg_uuid`).catch(() => '');
    return /^[0-9a-f-]{36}$/.test(hotlineLeg);
  }, 5000, 'loopback legs created');
  return { callerLeg, hotlineLeg };
}
