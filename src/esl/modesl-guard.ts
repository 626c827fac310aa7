// Guards around modesl's frame parser. Unpatched, a single bad frame from the switch can kill the process or the
// connection: decodeURIComponent throws URIError on a stray "%" inside the socket's data handler (uncaught), and a
// garbage Content-Length desynchronises the stream. Also adds a fast path for JSON events: modesl's Event.addHeader
// searches the header list on every insert (quadratic in ~200 headers per channel event).
// Frames are handled in arrival order but within a time budget per turn of the event loop: libuv reads a backlog
// of up to 32 × 64 KB in one go, and handling all of it at once kept other sockets (the ACD's Redis replies) waiting.
import { performance } from 'node:perf_hooks';
import esl, { type Event as ModeslEvent, type FrameHeaders } from 'modesl';
import { parseEventJson } from './lazy-event-json.js';

/** A frame that could not be parsed; it is skipped and the connection keeps going. */
export class EslFrameError extends Error {
  override name = 'EslFrameError';
}

/** Fast event shape carried alongside the modesl Event: the parsed JSON object, keyed by header name. */
export interface ParsedEventFields {
  readonly fields: Record<string, unknown>;
}

/** How long frames are handled in one turn of the event loop before the rest waits for the next turn (ms). */
export const FRAME_BUDGET_MS = 1;

/** Set on the JSON events the parser emits: when the frame was read off the socket (performance.now()). */
export interface FrameReadAt {
  readAt?: number;
}

interface FrameQueue {
  items: ({ headers: FrameHeaders; body: string | undefined; at: number } | undefined)[];
  head: number;
  /** until when frames may be handled in this turn of the event loop (performance.now()) */
  deadline: number;
  /** a setImmediate is due: the turn is open (its deadline holds) until it runs */
  scheduled: boolean;
  /** handling frames now (a listener that makes more data be parsed must not re-enter) */
  draining: boolean;
}

type ParserInternals = {
  socket: NodeJS.EventEmitter | null;
  frames?: FrameQueue;
  buffer: Buffer;
  bodyLen: number;
  headers: FrameHeaders;
  emit(event: string, ...args: unknown[]): boolean;
  _parseHeaderText(txt: string): FrameHeaders;
  _parseEvent(headers: FrameHeaders, body?: string): void;
  _handleFrame(headers: FrameHeaders, body: string | undefined, at: number): void;
  _onData(data: Buffer): void;
};

let installed = false;

function safeDecode(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * modesl Events for JSON frames, backed by the parsed object: header lookups are property reads, and the
 * name/value list modesl keeps is only built if somebody asks for it.
 */
let fastEventProto: object | null = null;
function fastProto(): object {
  fastEventProto ??= Object.create(esl.Event.prototype, {
    headers: {
      get(this: ParsedEventFields & { _headers?: { name: string; value: string }[] }) {
        this._headers ??= Object.keys(this.fields).map((name) => ({ name, value: this.fields[name] as string }));
        return this._headers;
      },
      set(this: { _headers?: unknown }, v: unknown) {
        this._headers = v;
      },
    },
    _findHeader: {
      value(this: ParsedEventFields, name: string) {
        return Object.prototype.hasOwnProperty.call(this.fields, name) ? { name, value: this.fields[name] } : null;
      },
    },
  }) as object;
  return fastEventProto;
}

function frameQueue(parser: ParserInternals): FrameQueue {
  if (parser.frames) return parser.frames;
  const q: FrameQueue = { items: [], head: 0, deadline: 0, scheduled: false, draining: false };
  parser.frames = q;
  // the connection's end/close handlers must see every frame read before it: handle the rest first
  const flush = (): void => {
    if (!q.draining) drainFrames(parser, q, Infinity);
  };
  parser.socket?.prependListener('end', flush);
  parser.socket?.prependListener('close', flush);
  return q;
}

/** A frame is complete: handle it now if this turn's budget allows, else in a later turn (in order). */
function frameArrived(parser: ParserInternals, frame: { headers: FrameHeaders; body: string | undefined; at: number }): void {
  const q = frameQueue(parser);
  q.items.push(frame);
  if (q.draining) return;
  if (!q.scheduled) openTurn(parser, q, frame.at);
  if (frame.at < q.deadline) drainFrames(parser, q, q.deadline);
}

function openTurn(parser: ParserInternals, q: FrameQueue, now: number): void {
  q.deadline = now + FRAME_BUDGET_MS;
  q.scheduled = true;
  setImmediate(() => {
    q.scheduled = false;
    if (q.head < q.items.length && !q.draining) {
      openTurn(parser, q, performance.now());
      drainFrames(parser, q, q.deadline);
    }
  });
}

/** Handle queued frames in order until `deadline`. */
function drainFrames(parser: ParserInternals, q: FrameQueue, deadline: number): void {
  q.draining = true;
  try {
    while (q.head < q.items.length) {
      const f = q.items[q.head]!;
      q.items[q.head++] = undefined;
      try {
        parser._handleFrame(f.headers, f.body, f.at);
      } catch (err) {
        // a throwing listener must not lose the frames behind it
        parser.emit('error', err instanceof Error ? err : new Error(String(err)));
      }
      if (performance.now() >= deadline) break;
    }
  } finally {
    if (q.head === q.items.length) {
      q.items = [];
      q.head = 0;
    } else if (q.head > 1024) {
      q.items = q.items.slice(q.head);
      q.head = 0;
    }
    q.draining = false;
  }
}

function fastJsonEvent(data: Record<string, unknown>): ModeslEvent & ParsedEventFields & FrameReadAt {
  const body = data._body;
  if (body !== undefined) delete data._body;
  const ev = Object.create(fastProto()) as ModeslEvent & { fields: Record<string, unknown> } & FrameReadAt;
  ev.fields = data;
  ev.type = data['Event-Name'] as string | undefined;
  ev.subclass = data['Event-Subclass'] as string | undefined;
  ev.body = typeof body === 'string' ? body : '';
  return ev;
}

/** Patch modesl's Parser once per process. Idempotent. */
export function installModeslGuards(): void {
  if (installed) return;
  installed = true;
  const proto = esl.Parser.prototype as unknown as ParserInternals;
  const originalParseEvent = proto._parseEvent;
  const originalOnData = proto._onData;

  proto._parseHeaderText = function (this: ParserInternals, txt: string): FrameHeaders {
    const headers: FrameHeaders = {};
    for (const line of txt.split('\n')) {
      if (line === '') continue;
      const sep = line.indexOf(': ');
      if (sep <= 0) {
        this.emit('error', new EslFrameError(`malformed ESL header line skipped: ${JSON.stringify(line.slice(0, 80))}`));
        continue;
      }
      let key = line.slice(0, sep);
      if (!/^[\x21-\x7e]+$/.test(key) || /[{}"]/.test(key)) {
        // the tail of a body read short (a Content-Length that lied) runs into the next frame's first header: keep
        // the header, or the lost Content-Length desynchronises every frame after it
        const header = /(Content-Length|Content-Type)$/.exec(key)?.[1];
        this.emit('error', new EslFrameError(`junk before an ESL header skipped: ${JSON.stringify(key.slice(0, 80))}`));
        if (!header) continue;
        key = header;
      }
      const value = safeDecode(line.slice(sep + 2));
      if (key === 'Content-Length') {
        const n = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
        if (Number.isNaN(n)) {
          this.emit('error', new EslFrameError(`malformed Content-Length ${JSON.stringify(value)} ignored`));
          continue;
        }
        headers[key] = n;
      } else {
        headers[key] = value;
      }
    }
    return headers;
  };

  // modesl calls this once per complete frame; the frame is queued and handled in order, within the budget
  proto._parseEvent = function (this: ParserInternals, headers: FrameHeaders, body?: string): void {
    frameArrived(this, { headers, body, at: performance.now() });
  };

  proto._handleFrame = function (this: ParserInternals, headers: FrameHeaders, body: string | undefined, at: number): void {
    if (headers['Content-Type'] === 'text/event-json') {
      let data: unknown;
      try {
        data = parseEventJson(body ?? '');
      } catch (err) {
        this.emit('error', new EslFrameError(`malformed JSON event skipped: ${(err as Error).message}`));
        return;
      }
      if (!data || typeof data !== 'object' || Array.isArray(data)) {
        this.emit('error', new EslFrameError('JSON event is not an object; skipped'));
        return;
      }
      const ev = fastJsonEvent(data as Record<string, unknown>);
      ev.readAt = at;
      this.emit('esl::event', ev, headers, body);
      return;
    }
    // replies, auth, plain events: modesl's own path (only JSON events carry the read time)
    originalParseEvent.call(this, headers, body);
  };

  // Last resort: anything that still throws while parsing must not escape into the socket's 'data' handler.
  proto._onData = function (this: ParserInternals, data: Buffer): void {
    try {
      originalOnData.call(this, data);
    } catch (err) {
      this.buffer = Buffer.alloc(0);
      this.bodyLen = 0;
      this.emit('error', new EslFrameError(`ESL parser reset after: ${(err as Error).message}`));
    }
  };
}
