// A scripted FreeSWITCH stand-in over TCP for ESL-layer tests: speaks the inbound Event Socket framing exactly as the
// golden traces show (auth/request greeting, command/reply with Reply-Text, api/response with Content-Length,
// text/event-json events with Content-Length then Content-Type), records every command it receives, and lets a test
// decide how each command is answered.
import net from 'node:net';
import { randomUUID } from 'node:crypto';

export interface ReceivedCommand {
  conn: number;
  /** the first line, e.g. "bgapi status" */
  line: string;
  /** following "Name: value" lines */
  headers: Record<string, string>;
  raw: string;
}

export interface PeerConnection {
  id: number;
  socket: net.Socket;
  authed: boolean;
  subscribed: boolean;
}

/** What a test handler does with a command: answer it (default behaviour otherwise). */
export type CommandHandler = (cmd: ReceivedCommand, conn: PeerConnection, peer: ScriptedEslPeer) => boolean | void;

export class ScriptedEslPeer {
  readonly commands: ReceivedCommand[] = [];
  readonly connections: PeerConnection[] = [];
  password = 'ClueCon';
  /** rows returned by `api show channels as json` */
  channels: Record<string, string>[] = [];
  /** BACKGROUND_JOB body for a bgapi command (default "+OK\n"); return null to never send the job */
  jobResult: (command: string) => string | null = () => '+OK\n';
  /** delay before the BACKGROUND_JOB is sent (ms) */
  jobDelayMs: (command: string) => number = () => 0;
  /** api/response body for `api <command>` (default: status text; show channels uses `channels`) */
  apiResult: (command: string) => string | null = (command) => this.defaultApi(command);
  apiDelayMs: (command: string) => number = () => 0;
  private handlers: CommandHandler[] = [];
  private server: net.Server | null = null;
  private seq = 0;
  port = 0;

  async listen(port = 0): Promise<number> {
    this.server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = null;
  }

  /** Handle commands before the defaults; a handler returning true has answered the command. */
  onCommand(handler: CommandHandler): void {
    this.handlers.push(handler);
  }

  get live(): PeerConnection[] {
    return this.connections.filter((c) => !c.socket.destroyed);
  }

  /** Kill every live connection from the switch side (as a crash or network cut would). */
  dropAll(): void {
    for (const c of this.live) c.socket.destroy();
  }

  reply(conn: PeerConnection, text: string, extra: Record<string, string> = {}): void {
    let frame = `Content-Type: command/reply\nReply-Text: ${text}\n`;
    for (const [k, v] of Object.entries(extra)) frame += `${k}: ${v}\n`;
    conn.socket.write(frame + '\n');
  }

  apiResponse(conn: PeerConnection, body: string): void {
    conn.socket.write(`Content-Type: api/response\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}`);
  }

  /** A text/event-json event to one connection or every subscribed one. */
  sendEvent(fields: Record<string, unknown>, to?: PeerConnection): void {
    const body = JSON.stringify(fields);
    const frame = `Content-Length: ${Buffer.byteLength(body)}\nContent-Type: text/event-json\n\n${body}`;
    for (const c of to ? [to] : this.live.filter((x) => x.subscribed)) c.socket.write(frame);
  }

  sendRaw(data: string | Buffer, to?: PeerConnection): void {
    for (const c of to ? [to] : this.live) c.socket.write(data);
  }

  /** Resolves when `n` commands matching `pred` have been received. */
  async waitForCommands(pred: (c: ReceivedCommand) => boolean, n = 1, timeoutMs = 5000): Promise<ReceivedCommand[]> {
    const start = Date.now();
    for (;;) {
      const found = this.commands.filter(pred);
      if (found.length >= n) return found;
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${n} matching command(s)`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async waitForConnections(n: number, timeoutMs = 5000): Promise<void> {
    const start = Date.now();
    while (this.connections.filter((c) => c.subscribed).length < n) {
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${n} subscribed connection(s)`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private accept(socket: net.Socket): void {
    const conn: PeerConnection = { id: ++this.seq, socket, authed: false, subscribed: false };
    this.connections.push(conn);
    socket.on('error', () => {});
    socket.write('Content-Type: auth/request\n\n');
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end < 0) break;
        const raw = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        this.dispatch(conn, raw);
      }
    });
  }

  private dispatch(conn: PeerConnection, raw: string): void {
    const [line = '', ...rest] = raw.split('\n');
    const headers: Record<string, string> = {};
    for (const l of rest) {
      const i = l.indexOf(': ');
      if (i > 0) headers[l.slice(0, i)] = l.slice(i + 2);
    }
    const cmd: ReceivedCommand = { conn: conn.id, line, headers, raw };
    this.commands.push(cmd);
    for (const h of this.handlers) if (h(cmd, conn, this)) return;
    this.defaultHandle(cmd, conn);
  }

  private defaultHandle(cmd: ReceivedCommand, conn: PeerConnection): void {
    const { line } = cmd;
    if (line.startsWith('auth ')) {
      if (line.slice(5) === this.password) {
        conn.authed = true;
        this.reply(conn, '+OK accepted');
      } else {
        this.reply(conn, '-ERR invalid');
        const notice = 'Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n';
        conn.socket.write(`Content-Type: text/disconnect-notice\nContent-Length: ${notice.length}\n\n${notice}`);
        conn.socket.end();
      }
      return;
    }
    if (!conn.authed) {
      this.reply(conn, '-ERR command not found');
      return;
    }
    if (line.startsWith('event json')) {
      conn.subscribed = true;
      this.reply(conn, '+OK event listener enabled json');
      return;
    }
    if (line.startsWith('bgapi ')) {
      const command = line.slice(6);
      const jobUuid = cmd.headers['Job-UUID'] ?? randomUUID();
      this.reply(conn, `+OK Job-UUID: ${jobUuid}`, { 'Job-UUID': jobUuid });
      const result = this.jobResult(command);
      if (result === null) return;
      const send = (): void => {
        if (conn.socket.destroyed) return;
        const [name, ...args] = command.split(' ');
        this.sendEvent(
          {
            'Event-Name': 'BACKGROUND_JOB',
            'Core-UUID': 'peer-core',
            'Job-UUID': jobUuid,
            'Job-Command': name,
            'Job-Command-Arg': args.join(' '),
            'Content-Length': String(Buffer.byteLength(result)),
            _body: result,
          },
          conn,
        );
      };
      const delay = this.jobDelayMs(command);
      if (delay > 0) setTimeout(send, delay);
      else setImmediate(send);
      return;
    }
    if (line.startsWith('api ')) {
      const command = line.slice(4);
      const body = this.apiResult(command);
      if (body === null) return;
      const delay = this.apiDelayMs(command);
      if (delay > 0) setTimeout(() => !conn.socket.destroyed && this.apiResponse(conn, body), delay);
      else this.apiResponse(conn, body);
      return;
    }
    if (line.startsWith('sendmsg ')) {
      this.reply(conn, '+OK');
      return;
    }
    if (line === 'exit') {
      this.reply(conn, '+OK bye');
      conn.socket.end();
      return;
    }
    this.reply(conn, '-ERR command not found');
  }

  private defaultApi(command: string): string {
    if (command === 'show channels as json') {
      return this.channels.length === 0
        ? '{"row_count":0}'
        : JSON.stringify({ row_count: this.channels.length, rows: this.channels });
    }
    if (command === 'status') {
      return 'UP 0 years, 0 days, 0 hours, 1 minute, 0 seconds, 0 milliseconds, 0 microseconds\nFreeSWITCH (Version 1.11.3-dev scripted peer) is ready\n';
    }
    return `-ERR ${command.split(' ')[0]} Command not found!\n`;
  }
}
