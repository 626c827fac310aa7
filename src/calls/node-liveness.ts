// Dead-node detection for several CTI nodes on one switch. Each node refreshes `${prefix}:node:alive:<id>` (TTL)
// every second and is a member of `${prefix}:nodes`. Every tick a node also looks at its peers: a member whose key
// has expired is dead (SIGKILL, power loss: nothing said goodbye). The takeover claim is one Lua script — the key is
// still absent and SREM removes the member — so exactly one survivor wins and adopts the dead node's calls. A node
// that comes back with the same NODE_ID before its key expires is never taken over; after a takeover it rejoins.
// Keyspace notifications are not relied on (often disabled; lost on a reconnect): the check is a cheap poll.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

export interface NodeLivenessOptions {
  redis: Redis;
  prefix: string;
  nodeId: string;
  log: Logger;
  /** adopt the dead node's calls; a failure puts the node back in the set, so the next tick retries */
  onNodeDead: (deadNodeId: string) => Promise<unknown>;
  /** refresh + check period (ms), default 1000 */
  heartbeatMs?: number;
  /** a node is dead when its key is this old (ms), default 5000 */
  ttlMs?: number;
}

/** KEYS: alive key of the dead node, the nodes set; ARGV: dead node id. 1 = this caller won the takeover. */
const CLAIM_DEAD_NODE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
return redis.call('SREM', KEYS[2], ARGV[1])
`;

export class NodeLiveness {
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private readonly heartbeatMs: number;
  private readonly ttlMs: number;
  private readonly log: Logger;

  constructor(private readonly opts: NodeLivenessOptions) {
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    this.ttlMs = opts.ttlMs ?? 5000;
    this.log = opts.log.child({ module: 'node-liveness' });
  }

  private aliveKey(nodeId: string): string {
    return `${this.opts.prefix}:node:alive:${nodeId}`;
  }

  private get setKey(): string {
    return `${this.opts.prefix}:nodes`;
  }

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.tick(), this.heartbeatMs);
    this.timer.unref();
  }

  /**
   * Stop beating. `leave`: the node closed with no call left, so its peers have nothing to take over; otherwise the
   * key is dropped at once and a survivor adopts what the node leaves behind on its next tick.
   */
  async stop(opts: { leave: boolean }): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const { redis, nodeId } = this.opts;
    await redis.del(this.aliveKey(nodeId)).catch(() => 0);
    if (opts.leave) await redis.srem(this.setKey, nodeId).catch(() => 0);
  }

  private async beat(): Promise<void> {
    const { redis, nodeId } = this.opts;
    await redis.multi().set(this.aliveKey(nodeId), String(Date.now()), 'PX', this.ttlMs).sadd(this.setKey, nodeId).exec();
  }

  private async tick(): Promise<void> {
    // the beat never waits for a takeover: a long one must not make this node look dead to the others
    await this.beat().catch((err: unknown) => this.log.error({ err: (err as Error).message }, 'liveness beat failed'));
    if (this.checking) return;
    this.checking = true;
    try {
      const peers = (await this.opts.redis.smembers(this.setKey)).filter((n) => n !== this.opts.nodeId);
      for (const peer of peers) {
        const won = (await this.opts.redis.eval(CLAIM_DEAD_NODE, 2, this.aliveKey(peer), this.setKey, peer)) as number;
        if (won !== 1) continue;
        const t0 = Date.now();
        this.log.warn({ deadNode: peer }, 'peer CTI node is dead (liveness key expired): taking over its calls');
        try {
          const taken = await this.opts.onNodeDead(peer);
          this.log.warn({ deadNode: peer, taken, ms: Date.now() - t0 }, 'took over a dead node');
        } catch (err) {
          this.log.error({ err, deadNode: peer }, 'takeover failed; retried on the next tick');
          await this.opts.redis.sadd(this.setKey, peer).catch(() => 0);
        }
      }
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'liveness check failed');
    } finally {
      this.checking = false;
    }
  }
}
