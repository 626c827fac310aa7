// Per-call records in Redis, so a restarted CTI (kill -9 included) can re-adopt calls and still write their CDRs.
// Keys: `${prefix}:call:${uuid}` (the record, JSON, with a TTL) and `${prefix}:calls:${fsNode}` (the set of call
// uuids on that FreeSWITCH node, so a resync can find records whose channels vanished meanwhile).
import type { Redis } from 'ioredis';
import { parseRecord, type CallRecord } from './call-record.js';

const RECORD_TTL_S = 2 * 24 * 3600;

export class CallStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  key(uuid: string): string {
    return `${this.prefix}:call:${uuid}`;
  }

  indexKey(fsNode: string): string {
    return `${this.prefix}:calls:${fsNode}`;
  }

  async save(r: CallRecord): Promise<void> {
    await this.redis.multi().set(this.key(r.uuid), JSON.stringify(r), 'EX', RECORD_TTL_S).sadd(this.indexKey(r.node), r.uuid).exec();
  }

  /** Several records in one pipeline; `index` adds the uuid to its node's set (needed once per call). */
  async saveMany(entries: readonly { uuid: string; node: string; json: string; index: boolean }[]): Promise<void> {
    const p = this.redis.pipeline();
    for (const e of entries) {
      p.set(this.key(e.uuid), e.json, 'EX', RECORD_TTL_S);
      if (e.index) p.sadd(this.indexKey(e.node), e.uuid);
    }
    const results = (await p.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
  }

  async load(uuid: string): Promise<CallRecord | null> {
    const json = await this.redis.get(this.key(uuid));
    return json ? parseRecord(json) : null;
  }

  /** Every record indexed under a FreeSWITCH node (expired records are dropped from the index). */
  async listByNode(fsNode: string): Promise<CallRecord[]> {
    const uuids = await this.redis.smembers(this.indexKey(fsNode));
    if (uuids.length === 0) return [];
    const jsons = await this.redis.mget(uuids.map((u) => this.key(u)));
    const out: CallRecord[] = [];
    const stale: string[] = [];
    jsons.forEach((j, i) => {
      const r = j ? parseRecord(j) : null;
      if (r) out.push(r);
      else stale.push(uuids[i]!);
    });
    if (stale.length > 0) await this.redis.srem(this.indexKey(fsNode), ...stale);
    return out;
  }

  async remove(uuid: string, fsNode: string): Promise<void> {
    await this.redis.multi().del(this.key(uuid)).srem(this.indexKey(fsNode), uuid).exec();
  }
}
