// Minimal raw ESL client for tests: exact frames, in order.
import net from 'node:net';

export interface RawFrame {
  headers: Record<string, string>;
  body: string;
}

export class RawEsl {
  readonly frames: RawFrame[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  private waiters: Array<{ pred: (f: RawFrame) => boolean; resolve: (f: RawFrame) => void; from: number }> = [];
  private readonly sock: net.Socket;

  constructor(port: number, host = '127.0.0.1') {
    this.sock = net.connect(port, host);
    this.sock.on('data', (d) => this.onData(d));
    this.sock.on('close', () => {
      this.closed = true;
    });
    this.sock.on('error', () => undefined);
  }
  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      const i = this.buf.indexOf('\n\n');
      if (i < 0) return;
      const headers: Record<string, string> = {};
      for (const l of this.buf.subarray(0, i).toString('utf8').split('\n')) {
        const k = l.indexOf(': ');
        if (k > 0) headers[l.slice(0, k)] = l.slice(k + 2);
      }
      const len = headers['Content-Length'] ? Number(headers['Content-Length']) : 0;
      if (this.buf.length < i + 2 + len) return;
      const body = this.buf.subarray(i + 2, i + 2 + len).toString('utf8');
      this.buf = this.buf.subarray(i + 2 + len);
      const f = { headers, body };
      this.frames.push(f);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(f)) return true;
        w.resolve(f);
        return false;
      });
    }
  }
  write(s: string | Buffer): void {
    this.sock.write(s);
  }
  /** frames up to here have been consumed by next() */
  private cursor = 0;
  /** the next not yet consumed frame matching pred (frames skipped over are consumed) */
  next(pred: (f: RawFrame) => boolean = () => true, timeoutMs = 5000): Promise<RawFrame> {
    for (let i = this.cursor; i < this.frames.length; i++) {
      if (pred(this.frames[i]!)) {
        this.cursor = i + 1;
        return Promise.resolve(this.frames[i]!);
      }
    }
    const from = this.frames.length;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timeout waiting for a frame; got ${JSON.stringify(this.frames.slice(from)).slice(0, 500)}`)), timeoutMs);
      this.waiters.push({
        pred,
        from,
        resolve: (f) => {
          clearTimeout(t);
          this.cursor = this.frames.indexOf(f) + 1;
          resolve(f);
        },
      });
    });
  }
  /** consume everything received so far */
  drain(): void {
    this.cursor = this.frames.length;
  }
  /** send a command and return its reply (command/reply or api/response) */
  async cmd(s: string): Promise<RawFrame> {
    const p = this.next((f) => f.headers['Content-Type'] === 'command/reply' || f.headers['Content-Type'] === 'api/response');
    this.write(s.endsWith('\n\n') ? s : `${s}\n\n`);
    return p;
  }
  event(name: string, extra: (e: Record<string, string>) => boolean = () => true, timeoutMs = 5000): Promise<Record<string, string>> {
    return this.next((f) => {
      if (f.headers['Content-Type'] !== 'text/event-json') return false;
      const e = JSON.parse(f.body) as Record<string, string>;
      return e['Event-Name'] === name && extra(e);
    }, timeoutMs).then((f) => JSON.parse(f.body) as Record<string, string>);
  }
  close(): void {
    this.sock.end();
  }
}
