// Which CTI node handles a call when several listen to the same switch: the first to SET NX the call's key.
// The key outlives any call (TTL), and a node re-claiming a call it already owns (after a restart with the same
// NODE_ID) wins again, so re-adoption after a restart keeps working.
import type { Redis } from 'ioredis';

/** longer than any call: the key only has to outlive the call's life on the switch */
const CLAIM_TTL_MS = 12 * 3_600_000;

export class CallClaims {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly nodeId: string,
    private readonly ttlMs = CLAIM_TTL_MS,
  ) {}

  private key(callUuid: string): string {
    return `${this.prefix}:claim:${callUuid}`;
  }

  /** true when this node owns the call (now or already); false when another node has it. */
  async claim(callUuid: string): Promise<boolean> {
    const key = this.key(callUuid);
    const set = await this.redis.set(key, this.nodeId, 'PX', this.ttlMs, 'NX');
    if (set === 'OK') return true;
    return (await this.redis.get(key)) === this.nodeId;
  }

  /** this node took the call over from a dead node: the key names this node from now on */
  async takeOver(callUuids: string[]): Promise<void> {
    if (callUuids.length === 0) return;
    const pipe = this.redis.pipeline();
    for (const uuid of callUuids) pipe.set(this.key(uuid), this.nodeId, 'PX', this.ttlMs);
    await pipe.exec();
  }

  async owner(callUuid: string): Promise<string | null> {
    return this.redis.get(this.key(callUuid));
  }

  /** the call ended: its key can go at once (the TTL would remove it anyway) */
  async release(callUuid: string): Promise<void> {
    await this.redis.del(this.key(callUuid));
  }
}
