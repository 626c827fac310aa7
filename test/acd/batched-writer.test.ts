import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { BatchedWriter } from '../../src/acd/batched-writer.js';
import { TEST_REDIS_URL } from '../helpers/env.js';
import { dropPrefix, newPrefix, sleep } from './helpers.js';

const prefix = newPrefix();
const redis = new Redis(TEST_REDIS_URL);
afterEach(async () => {
  await dropPrefix(prefix);
});

interface Row {
  n: number;
  at: Date;
}

describe('batched writer', () => {
  it('batches rows off the caller’s path', async () => {
    const batches: Row[][] = [];
    const w = new BatchedWriter<Row>({ name: 't', flushIntervalMs: 20, write: async (rows) => void batches.push(rows) });
    for (let n = 0; n < 10; n++) w.push({ n, at: new Date() });
    expect(batches).toHaveLength(0);
    await sleep(60);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.map((r) => r.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('spills batches the database refuses to Redis and writes them once it is back — also from another process', async () => {
    let down = true;
    const written: Row[] = [];
    const write = async (rows: Row[]) => {
      if (down) throw new Error('database down');
      written.push(...rows);
    };
    const spill = { redis, key: `${prefix}:spill:t`, revive: (r: Row) => ({ ...r, at: new Date(r.at) }) };
    const w1 = new BatchedWriter<Row>({ name: 't', flushIntervalMs: 5, write, spill, maxRetryDelayMs: 50 });
    w1.push({ n: 1, at: new Date(1000) });
    w1.push({ n: 2, at: new Date(2000) });
    await sleep(40);
    expect(await redis.llen(spill.key)).toBe(1);
    await w1.close(100); // the process ends while the database is down
    down = false;
    const w2 = new BatchedWriter<Row>({ name: 't', write, spill });
    expect(await w2.drainSpill()).toBe(1);
    expect(written).toEqual([{ n: 1, at: new Date(1000) }, { n: 2, at: new Date(2000) }]);
    expect(written[0]!.at).toBeInstanceOf(Date);
    expect(await redis.llen(spill.key)).toBe(0);
    redis.disconnect();
  });
});
