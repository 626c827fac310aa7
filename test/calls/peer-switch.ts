// A tiny call model on top of the scripted ESL peer, for call-layer tests until the emulator lands: parked inbound
// legs, uuid_answer / uuid_kill / uuid_broadcast / uuid_break, and sendmsg execute with per-app scripted results,
// emitting the events in the order the golden traces show (CHANNEL_EXECUTE … CHANNEL_EXECUTE_COMPLETE with
// Application-UUID = the sendmsg's Event-UUID; CHANNEL_HANGUP before the running app's EXECUTE_COMPLETE).
import { randomUUID } from 'node:crypto';
import { ScriptedEslPeer, type PeerConnection } from '../helpers/scripted-esl-peer.js';

export interface AppScript {
  /** how long the app runs before completing (ms) */
  ms: number;
  /** variable_* headers on the EXECUTE_COMPLETE (without the prefix) */
  vars?: Record<string, string>;
  response?: string;
}

interface Leg {
  uuid: string;
  caller: string;
  dest: string;
  createdUs: number;
  answered: boolean;
  vars: Record<string, string>;
  running?: { app: string; appUuid: string; timer: NodeJS.Timeout; script: AppScript };
}

export class PeerSwitch {
  readonly peer = new ScriptedEslPeer();
  readonly legs = new Map<string, Leg>();
  /** what each app does; default: completes after 10 ms */
  apps: Record<string, (arg: string, leg: Leg) => AppScript> = {};
  readonly executed: { uuid: string; app: string; arg: string }[] = [];
  readonly api: string[] = [];

  async start(): Promise<number> {
    const port = await this.peer.listen();
    this.peer.onCommand((cmd, conn) => this.handle(cmd.line, cmd.headers, conn));
    this.peer.apiResult = (command) => {
      if (command === 'show channels as json') return this.showChannels();
      return '+OK\n';
    };
    return port;
  }

  async close(): Promise<void> {
    for (const l of this.legs.values()) if (l.running) clearTimeout(l.running.timer);
    await this.peer.close();
  }

  private base(leg: Leg, name: string): Record<string, string> {
    return {
      'Event-Name': name,
      'Core-UUID': 'peer-core',
      'Event-Date-Timestamp': String(Date.now() * 1000),
      'Unique-ID': leg.uuid,
      'Call-Direction': 'inbound',
      'Channel-Name': `sofia/internal/${leg.caller}@127.0.0.1`,
      'Caller-Caller-ID-Number': leg.caller,
      'Caller-Destination-Number': leg.dest,
      'Caller-Channel-Created-Time': String(leg.createdUs),
      'Answer-State': leg.answered ? 'answered' : 'ringing',
      ...Object.fromEntries(Object.entries(leg.vars).map(([k, v]) => [`variable_${k}`, v])),
    };
  }

  event(leg: Leg, name: string, extra: Record<string, string> = {}): void {
    this.peer.sendEvent({ ...this.base(leg, name), ...extra });
  }

  /** A citizen dials the hotline: the dialplan parks the leg. */
  park(opts: { caller?: string; dest?: string; uuid?: string } = {}): string {
    const leg: Leg = {
      uuid: opts.uuid ?? randomUUID(),
      caller: opts.caller ?? '13800000001',
      dest: opts.dest ?? '12345',
      createdUs: Date.now() * 1000,
      answered: false,
      vars: {},
    };
    this.legs.set(leg.uuid, leg);
    this.event(leg, 'CHANNEL_CREATE');
    this.event(leg, 'CHANNEL_EXECUTE', { Application: 'park' });
    this.event(leg, 'CHANNEL_PARK');
    return leg.uuid;
  }

  /** The far end hangs up (or the switch kills the leg). */
  hangup(uuid: string, cause = 'NORMAL_CLEARING', disposition = 'recv_bye'): void {
    const leg = this.legs.get(uuid);
    if (!leg) return;
    this.legs.delete(uuid);
    this.event(leg, 'CHANNEL_HANGUP', { 'Hangup-Cause': cause, variable_sip_hangup_disposition: disposition });
    if (leg.running) {
      clearTimeout(leg.running.timer);
      this.completeApp(leg, true);
    }
    this.event(leg, 'CHANNEL_HANGUP_COMPLETE', { 'Hangup-Cause': cause, variable_sip_hangup_disposition: disposition });
    this.event(leg, 'CHANNEL_DESTROY');
  }

  /** Forget a leg without any event (it vanished while the CTI was away). */
  vanish(uuid: string): void {
    this.legs.delete(uuid);
  }

  dtmf(uuid: string, digit: string): void {
    const leg = this.legs.get(uuid);
    if (leg) this.event(leg, 'DTMF', { 'DTMF-Digit': digit, 'DTMF-Duration': '2080', 'DTMF-Source': 'RTP' });
  }

  private completeApp(leg: Leg, hungUp = false): void {
    const run = leg.running;
    if (!run) return;
    leg.running = undefined;
    for (const [k, v] of Object.entries(run.script.vars ?? {})) leg.vars[k] = v;
    const extra: Record<string, string> = {
      Application: run.app,
      'Application-UUID': run.appUuid,
      'Application-Response': run.script.response ?? (hungUp ? '_none_' : 'FILE PLAYED'),
    };
    this.event(leg, 'CHANNEL_EXECUTE_COMPLETE', extra);
  }

  private handle(line: string, headers: Record<string, string>, conn: PeerConnection): boolean {
    if (line.startsWith('sendmsg ')) {
      const uuid = line.slice(8);
      const leg = this.legs.get(uuid);
      if (!leg) {
        this.peer.reply(conn, `-ERR invalid session id [${uuid}]`);
        return true;
      }
      this.peer.reply(conn, '+OK');
      const app = headers['execute-app-name'] ?? '';
      const arg = headers['execute-app-arg'] ?? '';
      const appUuid = headers['Event-UUID'] ?? randomUUID();
      this.executed.push({ uuid, app, arg });
      if (app === 'set') {
        const i = arg.indexOf('=');
        leg.vars[arg.slice(0, i)] = arg.slice(i + 1);
      }
      const script = this.apps[app]?.(arg, leg) ?? { ms: app === 'set' ? 0 : 10 };
      this.event(leg, 'CHANNEL_EXECUTE', { Application: app, 'Application-UUID': appUuid, 'Application-Data': arg });
      leg.running = { app, appUuid, script, timer: setTimeout(() => this.completeApp(leg), script.ms) };
      return true;
    }
    if (!line.startsWith('bgapi ')) return false;
    const command = line.slice(6);
    this.api.push(command);
    const [verb, uuid = '', ...rest] = command.split(' ');
    const leg = this.legs.get(uuid);
    const result = ((): string => {
      switch (verb) {
        case 'uuid_answer':
          if (!leg) return '-ERR No such channel!\n';
          leg.answered = true;
          setImmediate(() => this.event(leg, 'CHANNEL_ANSWER'));
          return '+OK\n';
        case 'uuid_kill':
          if (!leg) return '-ERR No such channel!\n';
          setImmediate(() => this.hangup(uuid, rest[0] ?? 'NORMAL_CLEARING', leg.answered ? 'send_bye' : 'send_refuse'));
          return '+OK\n';
        case 'uuid_broadcast':
          return leg ? '+OK Message sent\n' : '-ERR invalid uuid\n';
        case 'uuid_break':
        case 'uuid_setvar':
          return leg ? '+OK\n' : '-ERR No such channel!\n';
        default:
          return '+OK\n';
      }
    })();
    const jobUuid = headers['Job-UUID'] ?? randomUUID();
    this.peer.reply(conn, `+OK Job-UUID: ${jobUuid}`, { 'Job-UUID': jobUuid });
    setImmediate(() =>
      this.peer.sendEvent({ 'Event-Name': 'BACKGROUND_JOB', 'Job-UUID': jobUuid, 'Job-Command': verb, _body: result }, conn),
    );
    return true;
  }

  showChannels(): string {
    const rows = [...this.legs.values()].map((l) => ({
      uuid: l.uuid,
      direction: 'inbound',
      created: new Date(l.createdUs / 1000).toISOString(),
      created_epoch: String(Math.floor(l.createdUs / 1e6)),
      name: `sofia/internal/${l.caller}@127.0.0.1`,
      state: 'CS_EXECUTE',
      cid_name: l.caller,
      cid_num: l.caller,
      dest: l.dest,
      application: 'park',
      application_data: '',
      callstate: l.answered ? 'ACTIVE' : 'RINGING',
      callee_name: '',
      callee_num: '',
      call_uuid: '',
      hostname: 'peer',
    }));
    return rows.length === 0 ? '{"row_count":0}' : JSON.stringify({ row_count: rows.length, rows });
  }
}
