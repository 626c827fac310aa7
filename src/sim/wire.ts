// ESL wire format (mod_event_socket, inbound mode): parsing client commands and writing server frames.

export interface ClientCommand {
  /** first line, e.g. "api status" or "sendmsg <uuid>" */
  line: string;
  /** header lines after the first (sendmsg, bgapi Job-UUID), names as sent */
  headers: Map<string, string>;
  body: string;
}

const LF = 0x0a;

/** Incremental parser for client commands: "line\n[Header: v\n]*\n" plus an optional Content-Length body. */
export class CommandReader {
  private buf: Buffer = Buffer.alloc(0);
  private pending: { line: string; headers: Map<string, string>; need: number } | undefined;

  /** feed raw bytes; returns every complete command */
  push(chunk: Buffer): ClientCommand[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: ClientCommand[] = [];
    for (;;) {
      if (this.pending) {
        if (this.buf.length < this.pending.need) break;
        const body = this.buf.subarray(0, this.pending.need).toString('utf8');
        this.buf = this.buf.subarray(this.pending.need);
        out.push({ line: this.pending.line, headers: this.pending.headers, body });
        this.pending = undefined;
        continue;
      }
      // skip blank lines between commands (clients sometimes send extra newlines)
      let start = 0;
      while (start < this.buf.length && (this.buf[start] === LF || this.buf[start] === 0x0d)) start++;
      if (start) this.buf = this.buf.subarray(start);
      const end = findBlankLine(this.buf);
      if (end < 0) {
        if (this.buf.length > 1 << 20) this.buf = Buffer.alloc(0); // garbage without a terminator: drop it
        break;
      }
      const text = this.buf.subarray(0, end.valueOf()).toString('utf8');
      this.buf = this.buf.subarray(end + blankLen(this.buf, end));
      const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
      const line = lines.shift() ?? '';
      const headers = new Map<string, string>();
      for (const l of lines) {
        const i = l.indexOf(':');
        if (i <= 0) continue;
        headers.set(l.slice(0, i).trim(), l.slice(i + 1).trim());
      }
      const cl = headerCI(headers, 'content-length');
      const need = cl === undefined ? 0 : Number.parseInt(cl, 10);
      if (need > 0 && Number.isFinite(need)) {
        this.pending = { line, headers, need };
        continue;
      }
      out.push({ line, headers, body: '' });
    }
    return out;
  }
}

function findBlankLine(b: Buffer): number {
  for (let i = 0; i + 1 < b.length; i++) {
    if (b[i] !== LF) continue;
    if (b[i + 1] === LF) return i;
    if (b[i + 1] === 0x0d && b[i + 2] === LF) return i;
  }
  return -1;
}
function blankLen(b: Buffer, at: number): number {
  return b[at + 1] === 0x0d ? 3 : 2;
}

export function headerCI(h: Map<string, string>, name: string): string | undefined {
  for (const [k, v] of h) if (k.toLowerCase() === name) return v;
  return undefined;
}

export const DISCONNECT_BODY = 'Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n';

export function authRequestFrame(): string {
  return 'Content-Type: auth/request\n\n';
}
export function commandReplyFrame(replyText: string, extra?: Record<string, string>): string {
  let s = `Content-Type: command/reply\nReply-Text: ${replyText}\n`;
  if (extra) for (const k in extra) s += `${k}: ${extra[k]}\n`;
  return s + '\n';
}
export function apiResponseFrame(body: string): string {
  return `Content-Type: api/response\nContent-Length: ${Buffer.byteLength(body, 'utf8')}\n\n${body}`;
}
export function disconnectFrame(): string {
  return `Content-Type: text/disconnect-notice\nContent-Length: ${Buffer.byteLength(DISCONNECT_BODY)}\n\n${DISCONNECT_BODY}`;
}
export function eventFrame(contentType: 'text/event-json' | 'text/event-plain' | 'text/event-xml', body: string): string {
  return `Content-Length: ${Buffer.byteLength(body, 'utf8')}\nContent-Type: ${contentType}\n\n${body}`;
}

// switch_url_encode: control chars, bytes > '~' and SWITCH_URL_UNSAFE are %XX-encoded; an existing %XX stays.
const UNSAFE = new Set('\r\n #%&+:;<=>?@[\\]^`{|}"'.split('').map((c) => c.charCodeAt(0)));
const HEX = '0123456789ABCDEF';
function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102));
}
export function urlEncode(s: string): string {
  // fast path: nothing to encode
  let plain = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c > 126 || UNSAFE.has(c)) {
      plain = false;
      break;
    }
  }
  if (plain) return s;
  const b = Buffer.from(s, 'utf8');
  let out = '';
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c === 0x25 && isHex(b[i + 1]) && isHex(b[i + 2])) {
      out += '%';
      continue;
    }
    if (c < 32 || c > 126 || UNSAFE.has(c)) out += '%' + HEX[c >> 4] + HEX[c & 15];
    else out += String.fromCharCode(c);
  }
  return out;
}
