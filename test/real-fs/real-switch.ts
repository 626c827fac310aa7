// Shared pieces of the real-FreeSWITCH tests: the skip check, an independent ESL observer (what the switch did),
// a recorder of the commands the CTI sent, real WAV prompts (the switch cannot play the fixture's stub files) and
// the CTI started against the real switch on PORT 8080, where the overlay's mod_xml_curl looks agents up.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import pino from 'pino';
import { EslNode, type EslEvent } from '../../src/esl/index.js';
export { until, sleep } from '../e2e/cti-fixture.js';
import { startTestCti, type E2eTenant, type StartedCti } from '../e2e/cti-fixture.js';

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
  return up;
}

export const realSwitchName = target || '(FREESWITCH_ESL unset)';

/** An ESL connection of the test's own: every event the switch emits, and api commands. */
export class SwitchObserver {
  readonly node: EslNode;
  readonly events: EslEvent[] = [];

  constructor() {
    this.node = new EslNode({ host, port: eslPort, password: eslPassword, log: pino({ level: 'silent' }), reconnect: { initialMs: 50, maxMs: 500 } });
    this.node.on('event', (ev) => this.events.push(ev));
  }

  async start(): Promise<void> {
    this.node.start();
    await this.node.waitConnected(5000);
  }

  api(cmd: string): Promise<string> {
    return this.node.api(cmd, { timeoutMs: 10_000 });
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
