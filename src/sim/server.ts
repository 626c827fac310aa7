// TCP listener for inbound ESL connections.
import net from 'node:net';
import { EslConnection } from './connection.js';
import type { ConnectionHost, Transport } from './connection.js';

export class EslServer {
  private server?: net.Server;
  private seq = 0;
  readonly connections = new Set<EslConnection>();
  constructor(private readonly host: Omit<ConnectionHost, 'closed'>) {}

  /** attach a connection to any transport (TCP socket or in-process) */
  attach(transport: Transport): EslConnection {
    const conn = new EslConnection(++this.seq, { ...this.host, closed: (c) => this.connections.delete(c) }, transport);
    this.connections.add(conn);
    return conn;
  }

  listen(port: number, bindHost: string): Promise<number> {
    this.server = net.createServer((sock) => {
      sock.setNoDelay(true);
      const conn = this.attach({
        write: (s) => {
          if (!sock.destroyed) sock.write(s);
        },
        close: () => sock.end(),
        destroy: () => sock.destroy(),
      });
      sock.on('data', (b) => conn.receive(b));
      sock.on('end', () => conn.peerClosed());
      sock.on('error', () => conn.abort());
      sock.on('close', () => conn.abort());
    });
    return new Promise((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, bindHost, () => {
        const a = this.server!.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  /** cut every client (reconnect tests) */
  dropAll(): void {
    for (const c of [...this.connections]) c.abort(true);
  }

  async close(): Promise<void> {
    this.dropAll();
    const s = this.server;
    if (!s) return;
    await new Promise<void>((r) => s.close(() => r()));
  }
}
