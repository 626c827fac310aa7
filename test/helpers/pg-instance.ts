// A private PostgreSQL for tests that stop and start the database (CDR buffering, fault tests) without touching the
// shared test database: initdb into a temp dir, run as the `postgres` OS user (PostgreSQL refuses to run as root),
// listen on a random free port on 127.0.0.1, trust auth, migrations applied.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createPool, applyMigrations } from '../../src/db/client.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function pgBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const bin = path.join(root, v, 'bin');
    if (fs.existsSync(path.join(bin, 'postgres'))) return bin;
  }
  throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql)');
}

/** Run a PostgreSQL binary as the postgres user when we are root (the server refuses root). */
function asPostgres(bin: string, args: string[], opts: { allowFail?: boolean } = {}): void {
  const isRoot = process.getuid?.() === 0;
  const [cmd, argv] = isRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(`${path.basename(bin)} failed (${r.status}): ${r.stderr || r.stdout}`);
  }
}

export class PgInstance {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
  ) {}

  /** postgres://postgres@127.0.0.1:<port>/postgres */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async create(opts: { migrate?: boolean } = {}): Promise<PgInstance> {
    const bin = pgBinDir();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hotline-pg-'));
    if (process.getuid?.() === 0) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
    fs.chmodSync(dir, 0o700);
    const data = path.join(dir, 'data');
    asPostgres(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    const pg = new PgInstance(dir, await freePort(), bin);
    await pg.start();
    if (opts.migrate ?? true) {
      const pool = createPool(pg.url, 1);
      try {
        await applyMigrations(pool);
      } finally {
        await pool.end();
      }
    }
    return pg;
  }

  async start(): Promise<void> {
    const data = path.join(this.dir, 'data');
    const opts = `-p ${this.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${this.dir} -c fsync=off -c full_page_writes=off`;
    asPostgres(path.join(this.bin, 'pg_ctl'), ['-D', data, '-o', opts, '-l', path.join(this.dir, 'log'), '-w', '-t', '30', 'start']);
  }

  /** Fast shutdown: clients are disconnected, new connections are refused until start(). */
  async stop(): Promise<void> {
    asPostgres(path.join(this.bin, 'pg_ctl'), ['-D', path.join(this.dir, 'data'), '-m', 'fast', '-w', '-t', '30', 'stop'], { allowFail: true });
  }

  /** Stop and delete everything. */
  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
