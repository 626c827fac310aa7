// Replays a golden FreeSWITCH trace (shared/fs-traces/*.jsonl) against the emulator on a virtual clock and
// compares what the emulator sent with what the real switch sent.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { Emulator } from '../../src/sim/emulator.js';
import { TRACE_RULES } from '../../src/sim/dialplan.js';
import type { VirtualClock } from '../../src/sim/clock.js';
import type { SimLeg } from '../../src/sim/world.js';
import { toneMs } from '../../src/sim/media.js';

// shared/ sits beside the repository (developers' checkouts and CI's fresh clone alike)
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TRACE_DIR = process.env.FS_TRACES_DIR ?? path.resolve(REPO_ROOT, '../shared/fs-traces');

type Line =
  | { kind: 'meta'; scenario: string; subscribed: string }
  | { kind: 'stimulus'; t: number; actor: string; action: string; args: Record<string, unknown> }
  | { kind: 'send'; t: number; conn: number; raw: string }
  | { kind: 'recv'; t: number; conn: number; headers: Record<string, string>; body: string; event?: Record<string, string> }
  | { kind: 'conn'; t: number; conn: number; state: 'open' | 'closed'; by?: string };

/** a frame as a client sees it */
export interface Frame {
  t: number;
  conn: number;
  headers: Record<string, string>;
  body: string;
  event?: Record<string, string>;
}

const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** parse server→client bytes into frames */
class FrameParser {
  private buf = Buffer.alloc(0);
  push(s: string): Array<{ headers: Record<string, string>; body: string }> {
    this.buf = Buffer.concat([this.buf, Buffer.from(s, 'utf8')]);
    const out: Array<{ headers: Record<string, string>; body: string }> = [];
    for (;;) {
      const i = this.buf.indexOf('\n\n');
      if (i < 0) break;
      const head = this.buf.subarray(0, i).toString('utf8');
      const headers: Record<string, string> = {};
      for (const l of head.split('\n')) {
        const k = l.indexOf(': ');
        if (k > 0) headers[l.slice(0, k)] = l.slice(k + 2);
      }
      const len = headers['Content-Length'] ? Number(headers['Content-Length']) : 0;
      if (this.buf.length < i + 2 + len) break;
      const body = this.buf.subarray(i + 2, i + 2 + len).toString('utf8');
      this.buf = this.buf.subarray(i + 2 + len);
      out.push({ headers, body });
    }
    return out;
  }
}

function parsePlainEvent(body: string): Record<string, string> {
  const ev: Record<string, string> = {};
  const i = body.indexOf('\n\n');
  const head = i >= 0 ? body.slice(0, i) : body;
  for (const l of head.split('\n')) {
    const k = l.indexOf(': ');
    if (k > 0) ev[l.slice(0, k)] = decodeURIComponent(l.slice(k + 2));
  }
  if (i >= 0 && ev['Content-Length']) ev._body = body.slice(i + 2);
  return ev;
}

export function eventOf(f: { headers: Record<string, string>; body: string; event?: Record<string, string> }): Record<string, string> | undefined {
  if (f.event) return f.event;
  const ct = f.headers['Content-Type'];
  if (ct === 'text/event-json') return JSON.parse(f.body) as Record<string, string>;
  if (ct === 'text/event-plain') return parsePlainEvent(f.body);
  return undefined;
}

export interface ReplayResult {
  scenario: string;
  expected: Frame[];
  actual: Frame[];
  /** trace uuid -> emulator uuid */
  map: Map<string, string>;
  emu: Emulator;
  closedByServer: Map<number, boolean>;
}

export function loadTrace(file: string): Line[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
}

/** replay one trace on a fresh emulator with a virtual clock */
export function replay(file: string): ReplayResult {
  const lines = loadTrace(file);
  const meta = lines[0] as Extract<Line, { kind: 'meta' }>;
  // the recording rig's dialplan (recorder/conf-switch): a plain park, no sched_transfer fallback
  const emu = new Emulator({ clock: 'virtual', listen: false, heartbeatSec: 3, holdMusic: '/opt/fs-switch/sounds/moh.wav', dialplan: TRACE_RULES });
  const clock = emu.clock as VirtualClock;
  const t0 = clock.now();
  const world = emu.world;
  for (const p of ['1001', '1002', '1003', '1004', '1005']) world.phone(p).set({ kind: 'manual' });
  world.defaultOutside = { kind: 'manual' };

  const actual: Frame[] = [];
  const expected: Frame[] = [];
  const conns = new Map<number, ReturnType<Emulator['connect']>>();
  const closedByServer = new Map<number, boolean>();
  const legs = new Map<string, SimLeg>();
  const claimed = new Set<SimLeg>();

  // uuid pairing by first appearance (trace events seen so far vs emulator events so far)
  const traceOrder: string[] = [];
  const emuOrder: string[] = [];
  const traceSeen = new Set<string>();
  const emuSeen = new Set<string>();
  const map = new Map<string, string>();
  const rev = new Map<string, string>();
  const noteTrace = (u: string | undefined): void => {
    if (u && !traceSeen.has(u)) {
      traceSeen.add(u);
      traceOrder.push(u);
    }
  };
  const noteEmu = (u: string | undefined): void => {
    if (u && !emuSeen.has(u)) {
      emuSeen.add(u);
      emuOrder.push(u);
    }
  };
  const sync = (): void => {
    const freeT = traceOrder.filter((u) => !map.has(u));
    const freeE = emuOrder.filter((u) => !rev.has(u));
    for (let i = 0; i < Math.min(freeT.length, freeE.length); i++) {
      map.set(freeT[i]!, freeE[i]!);
      rev.set(freeE[i]!, freeT[i]!);
    }
  };
  const premap = (traceUuid: string): string => {
    const u = randomUUID();
    map.set(traceUuid, u);
    rev.set(u, traceUuid);
    return u;
  };

  const openConn = (id: number): void => {
    const parser = new FrameParser();
    const c = emu.connect(
      (s) => {
        for (const f of parser.push(s)) {
          const fr: Frame = { t: clock.now() - t0, conn: id, headers: f.headers, body: f.body };
          const ev = eventOf(fr);
          if (ev) {
            fr.event = ev;
            noteEmu(ev['Unique-ID']);
          }
          actual.push(fr);
        }
      },
      () => closedByServer.set(id, true),
    );
    conns.set(id, c);
  };

  const endpointFor = (actor: string): SimLeg | undefined => {
    const [kind, id] = actor.split(':');
    if (kind === 'agent' || kind === 'supervisor') {
      if (id && /^\d{4}$/.test(id)) return world.phone(id).current();
      if (id) return world.number(id).current();
    }
    if (kind === 'outside' && id) return world.number(id).current();
    // a citizen reached through the gateway (click-to-call): the newest unclaimed outside call
    for (const ep of world.outside.values()) {
      const c = ep.current();
      if (c && !claimed.has(c)) return c;
    }
    return undefined;
  };
  const legFor = (actor: string, worldUuid: unknown): SimLeg | undefined => {
    const w = typeof worldUuid === 'string' ? worldUuid : undefined;
    if (w && legs.has(w)) return legs.get(w);
    const leg = endpointFor(actor);
    if (leg && w) {
      legs.set(w, leg);
      claimed.add(leg);
    }
    return leg;
  };

  for (const line of lines.slice(1)) {
    if (line.kind === 'meta') continue;
    clock.advanceTo(t0 + line.t);
    switch (line.kind) {
      case 'conn':
        if (line.state === 'open') openConn(line.conn);
        else if (line.by === 'client') conns.get(line.conn)?.peerClosed();
        break;
      case 'recv': {
        const ev = eventOf(line);
        if (ev) noteTrace(ev['Unique-ID']);
        expected.push({ t: line.t, conn: line.conn, headers: line.headers, body: line.body, event: ev });
        break;
      }
      case 'send': {
        sync();
        // the client only sends after it saw the events it reacts to: let the emulator catch up first
        const needed = [...line.raw.matchAll(UUID_RE)].map((m) => m[0]).filter((u) => traceSeen.has(u));
        for (let waited = 0; waited < 2000 && needed.some((u) => !map.has(u)); waited += 5) {
          clock.advance(5);
          sync();
        }
        let raw = line.raw;
        for (const m of raw.matchAll(/origination_uuid=([0-9a-f-]{36})/g)) if (!map.has(m[1]!)) premap(m[1]!);
        raw = raw.replace(UUID_RE, (u) => map.get(u) ?? u);
        conns.get(line.conn)?.receive(Buffer.from(raw, 'utf8'));
        break;
      }
      case 'stimulus': {
        const a = line.args;
        const leg = line.action === 'dial' ? undefined : legFor(line.actor, a.world_uuid);
        switch (line.action) {
          case 'dial': {
            const c = world.dial({ from: String(a.from), to: String(a.to ?? '12345') });
            if (typeof a.world_uuid === 'string') legs.set(a.world_uuid, c);
            claimed.add(c);
            break;
          }
          case 'dtmf':
            leg?.press(String(a.digits));
            break;
          case 'hangup':
            leg?.hangup(String(a.cause ?? 'NORMAL_CLEARING'));
            break;
          case 'answer':
            (leg as { answer?: () => void } | undefined)?.answer?.();
            break;
          case 'reject':
            (leg as { reject?: (c: string) => void } | undefined)?.reject?.(String(a.cause ?? 'CALL_REJECTED'));
            break;
          case 'speak': {
            const stream = String(a.stream);
            const hz = Number(/,(\d+)\)/.exec(stream)?.[1] ?? 440);
            leg?.speak(toneMs(stream), hz);
            break;
          }
          case 'register': {
            const id = line.actor.split(':')[1]!;
            if (a.ua === 'sipp') world.phone(id).register({ expires: Number(a.expires ?? 3600), contactUser: id, port: 5077, agent: 'SIPp fs-traces' });
            else world.phone(id).register({ delayMs: 40 });
            break;
          }
          case 'unregister':
            world.phone(line.actor.split(':')[1]!).unregister();
            break;
          case 'noanswer':
            break;
        }
        break;
      }
    }
  }
  // let anything already scheduled within the last frame's tolerance finish
  clock.advance(600);
  sync();
  return { scenario: meta.scenario, expected, actual, map, emu, closedByServer };
}
