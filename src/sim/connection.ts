// One inbound ESL client connection: auth, subscriptions, filters, api/bgapi, sendmsg, exit.
import { randomUUID } from 'node:crypto';
import type { EslEvent } from './event.js';
import { EslEvent as Ev } from './event.js';
import { CommandReader, authRequestFrame, commandReplyFrame, apiResponseFrame, disconnectFrame, eventFrame, headerCI } from './wire.js';
import type { ClientCommand } from './wire.js';
import type { SwitchCore } from './core.js';
import type { ApiCommands } from './api.js';
import type { Channel } from './channel.js';

/** byte sink for a connection (a socket, or an in-process test harness) */
export interface Transport {
  write(data: string): void;
  close(): void;
  /** hard cut (no FIN handshake), optional */
  destroy?(): void;
}

export interface ReceivedCommand {
  at: number;
  conn: number;
  line: string;
  headers: Record<string, string>;
  body: string;
}

export interface ConnectionHost {
  core: SwitchCore;
  api: ApiCommands;
  password: string;
  /** every command received, for tests */
  log(c: ReceivedCommand): void;
  /** sendmsg execute/hangup/unicast */
  sendmsg(uuid: string, headers: Map<string, string>, body: string): string;
  closed(conn: EslConnection): void;
}

const ALL_EVENTS = 'ALL';

export class EslConnection {
  private readonly reader = new CommandReader();
  private authed = false;
  private format: 'json' | 'plain' | 'xml' = 'plain';
  private readonly events = new Set<string>();
  private readonly customs = new Set<string>();
  private allEvents = false;
  private readonly filters: Array<[string, string]> = [];
  private myUuid?: string;
  private unsubscribe?: () => void;
  private open = true;

  constructor(
    readonly id: number,
    private readonly host: ConnectionHost,
    private readonly transport: Transport,
  ) {
    transport.write(authRequestFrame());
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** raw bytes from the client */
  receive(chunk: Buffer): void {
    if (!this.open) return;
    let cmds: ClientCommand[];
    try {
      cmds = this.reader.push(chunk);
    } catch {
      return;
    }
    for (const c of cmds) {
      if (!this.open) return;
      try {
        this.handle(c);
      } catch (e) {
        // a malformed frame must never take the switch down
        this.reply(`-ERR ${(e as Error).message}`);
      }
    }
  }

  private write(s: string): void {
    if (this.open) this.transport.write(s);
  }
  private reply(text: string, extra?: Record<string, string>): void {
    this.write(commandReplyFrame(text, extra));
  }

  /** close from our side: disconnect notice, then the socket */
  disconnect(): void {
    if (!this.open) return;
    this.write(disconnectFrame());
    this.shutdown();
  }
  /** the peer went away (the switch still writes its disconnect notice into the half-closed socket) */
  peerClosed(): void {
    if (!this.open) return;
    this.write(disconnectFrame());
    this.shutdown();
  }
  /** cut the connection without a goodbye (simulated switch/network failure) */
  abort(hard = false): void {
    if (hard && this.open) {
      this.open = false;
      this.unsubscribe?.();
      this.unsubscribe = undefined;
      (this.transport.destroy ?? this.transport.close).call(this.transport);
      this.host.closed(this);
      return;
    }
    this.shutdown();
  }
  private shutdown(): void {
    if (!this.open) return;
    this.open = false;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    try {
      this.transport.close();
    } catch {
      // already gone
    }
    this.host.closed(this);
  }

  private handle(c: ClientCommand): void {
    const line = c.line.trim();
    const hdrs: Record<string, string> = {};
    for (const [k, v] of c.headers) hdrs[k] = v;
    this.host.log({ at: this.host.core.now(), conn: this.id, line, headers: hdrs, body: c.body });
    if (!this.authed) {
      if (/^auth\s/i.test(line) || line === 'auth') {
        const pw = line.slice(4).trim();
        if (pw === this.host.password) {
          this.authed = true;
          this.reply('+OK accepted');
        } else {
          this.reply('-ERR invalid');
          this.disconnect();
        }
        return;
      }
      this.reply('-ERR command not found');
      return;
    }
    const sp = line.indexOf(' ');
    const verb = (sp < 0 ? line : line.slice(0, sp)).toLowerCase();
    const rest = sp < 0 ? '' : line.slice(sp + 1).trim();
    switch (verb) {
      case 'api':
        this.host.api.run(rest, (body) => this.write(apiResponseFrame(body)));
        return;
      case 'bgapi': {
        const jobUuid = headerCI(c.headers, 'job-uuid') || randomUUID();
        this.reply(`+OK Job-UUID: ${jobUuid}`, { 'Job-UUID': jobUuid });
        const core = this.host.core;
        const sp2 = rest.indexOf(' ');
        const cmd = sp2 < 0 ? rest : rest.slice(0, sp2);
        const arg = sp2 < 0 ? '' : rest.slice(sp2 + 1);
        // the job runs in its own thread: its events come after the reply
        core.later(0, () =>
          this.host.api.run(rest, (body) => {
            const h = core.events.core('BACKGROUND_JOB', ['mod_event_socket.c', 'api_exec', 1580]);
            h['Job-UUID'] = jobUuid;
            h['Job-Command'] = cmd;
            if (arg) h['Job-Command-Arg'] = arg;
            core.emit(new Ev('BACKGROUND_JOB', h, body));
          }),
        );
        return;
      }
      case 'event':
        this.subscribe(rest);
        return;
      case 'nixevent':
        for (const w of rest.split(/\s+/).filter(Boolean)) {
          if (w === ALL_EVENTS) {
            this.allEvents = false;
            this.events.clear();
          } else if (w.includes('::')) this.customs.delete(w);
          else this.events.delete(w.toUpperCase());
        }
        this.reply('+OK events nixed');
        return;
      case 'noevents':
        this.events.clear();
        this.customs.clear();
        this.allEvents = false;
        this.unsubscribe?.();
        this.unsubscribe = undefined;
        this.reply('+OK no longer listening for events');
        return;
      case 'filter': {
        const m = /^(delete\s+)?(\S+)(?:\s+(.*))?$/.exec(rest);
        if (!m) {
          this.reply('-ERR invalid syntax');
          return;
        }
        if (m[1]) {
          const i = this.filters.findIndex(([k, v]) => k === m[2] && (m[3] === undefined || v === m[3]));
          if (i >= 0) this.filters.splice(i, 1);
          this.reply(`+OK filter deleted. [${m[2]}]=[${m[3] ?? ''}]`);
          return;
        }
        this.filters.push([m[2]!, m[3] ?? '']);
        this.reply(`+OK filter added. [${m[2]}]=[${m[3] ?? ''}]`);
        return;
      }
      case 'myevents': {
        const u = rest.split(/\s+/).filter((w) => w !== 'json' && w !== 'plain' && w !== 'xml')[0];
        if (!u) {
          this.reply('-ERR invalid uuid');
          return;
        }
        this.myUuid = u;
        if (/\bjson\b/.test(rest)) this.format = 'json';
        this.allEvents = true;
        this.ensureListening();
        this.reply('+OK Events Enabled');
        return;
      }
      case 'linger':
      case 'nolinger':
        // inbound connections control no session
        this.reply('-ERR not controlling a session');
        return;
      case 'divert_events':
        this.reply('-ERR not controlling a session.');
        return;
      case 'log':
        this.reply(`+OK log level ${rest || 'debug'} [7]`);
        return;
      case 'nolog':
        this.reply('+OK no longer logging');
        return;
      case 'exit':
        this.reply('+OK bye');
        this.disconnect();
        return;
      case 'sendmsg': {
        const uuid = rest.split(/\s+/)[0] || headerCI(c.headers, 'unique-id') || '';
        this.reply(this.host.sendmsg(uuid, c.headers, c.body));
        return;
      }
      case 'sendevent':
        this.reply('+OK');
        return;
      default:
        this.reply('-ERR command not found');
    }
  }

  private subscribe(rest: string): void {
    const words = rest.split(/\s+/).filter(Boolean);
    let fmt = words[0]?.toLowerCase();
    if (fmt === 'json' || fmt === 'plain' || fmt === 'xml') words.shift();
    else fmt = 'plain';
    this.format = fmt as 'json' | 'plain' | 'xml';
    let custom = false;
    for (const w of words) {
      const up = w.toUpperCase();
      if (up === ALL_EVENTS) {
        this.allEvents = true;
        custom = false;
      } else if (up === 'CUSTOM') custom = true;
      else if (custom || w.includes('::')) this.customs.add(w);
      else this.events.add(up);
    }
    this.ensureListening();
    this.reply(`+OK event listener enabled ${this.format}`);
  }

  private ensureListening(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.host.core.subscribe((e) => this.deliver(e));
  }

  private wants(e: EslEvent): boolean {
    if (this.allEvents) {
      if (this.myUuid) {
        const u = e.headers['Unique-ID'];
        if (u !== this.myUuid && e.headers['Other-Leg-Unique-ID'] !== this.myUuid && e.name !== 'BACKGROUND_JOB') return false;
      }
    } else if (e.name === 'CUSTOM') {
      if (!e.subclass || !this.customs.has(e.subclass)) return false;
    } else if (!this.events.has(e.name)) return false;
    if (this.filters.length) {
      // filters are ORed: an event passes if any header matches one filter
      let pass = false;
      for (const [k, v] of this.filters) {
        if (e.headers[k] === v) {
          pass = true;
          break;
        }
      }
      if (!pass) return false;
    }
    return true;
  }

  private deliver(e: EslEvent): void {
    if (!this.open || !this.wants(e)) return;
    if (this.format === 'json') this.write(eventFrame('text/event-json', e.toJson()));
    else if (this.format === 'xml') this.write(eventFrame('text/event-xml', e.toXml()));
    else this.write(eventFrame('text/event-plain', e.toPlain()));
  }

  /** channel helper for myevents-style introspection */
  followsChannel(ch: Channel): boolean {
    return this.myUuid === ch.uuid;
  }
}
