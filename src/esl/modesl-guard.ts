// Guards around modesl's frame parser. Unpatched, a single bad frame from the switch can kill the process or the
// connection: decodeURIComponent throws URIError on a stray "%" inside the socket's data handler (uncaught), and a
// garbage Content-Length desynchronises the stream. Also adds a fast path for JSON events: modesl's Event.addHeader
// searches the header list on every insert (quadratic in ~200 headers per channel event).
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

type ParserInternals = {
  buffer: Buffer;
  bodyLen: number;
  headers: FrameHeaders;
  emit(event: string, ...args: unknown[]): boolean;
  _parseHeaderText(txt: string): FrameHeaders;
  _parseEvent(headers: FrameHeaders, body?: string): void;
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

function fastJsonEvent(data: Record<string, unknown>): ModeslEvent & ParsedEventFields {
  const body = data._body;
  if (body !== undefined) delete data._body;
  const ev = Object.create(fastProto()) as ModeslEvent & { fields: Record<string, unknown> };
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

  proto._parseEvent = function (this: ParserInternals, headers: FrameHeaders, body?: string): void {
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
      this.emit('esl::event', fastJsonEvent(data as Record<string, unknown>), headers, body);
      return;
    }
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
