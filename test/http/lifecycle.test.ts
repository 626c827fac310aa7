import { describe, expect, it } from 'vitest';
import { Lifecycle } from '../../src/lifecycle.js';

describe('Lifecycle drain', () => {
  it('sets draining, waits for drain hooks, then closes in reverse order', async () => {
    const lc = new Lifecycle();
    const order: string[] = [];
    let liveCalls = 2;
    lc.onDrainStart(() => order.push('drain-start'));
    lc.onDrain('calls', async () => {
      while (liveCalls > 0) await new Promise((r) => setTimeout(r, 5));
      order.push('calls-done');
    });
    lc.onClose('postgres', () => void order.push('close-postgres'));
    lc.onClose('http', () => void order.push('close-http'));

    expect(lc.draining).toBe(false);
    const done = lc.drainAndClose({ timeoutMs: 5000 });
    expect(lc.draining).toBe(true);
    setTimeout(() => (liveCalls = 0), 30);
    await done;
    expect(order).toEqual(['drain-start', 'calls-done', 'close-http', 'close-postgres']);
    expect(lc.drainAndClose({ timeoutMs: 5000 })).toBe(done); // idempotent
  });

  it('stops waiting at the drain timeout and tells hooks through the abort signal', async () => {
    const lc = new Lifecycle();
    let aborted = false;
    let closed = false;
    lc.onDrain('stuck call', ({ signal }) => new Promise<void>((resolve) => signal.addEventListener('abort', () => ((aborted = true), resolve()))));
    lc.onDrain('throws', () => {
      throw new Error('bad hook');
    });
    lc.onClose('redis', () => void (closed = true));
    const started = Date.now();
    await lc.drainAndClose({ timeoutMs: 80 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(70);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(aborted).toBe(true);
    expect(closed).toBe(true);
  });

  it('exits 0 after draining on SIGTERM, and at once on a second signal', async () => {
    const lc = new Lifecycle();
    const exits: number[] = [];
    lc.onDrain('slow', () => new Promise((r) => setTimeout(r, 50)));
    const remove = lc.installSignalHandlers({ timeoutMs: 1000, exit: (code) => exits.push(code) });
    try {
      process.emit('SIGTERM', 'SIGTERM');
      expect(lc.draining).toBe(true);
      process.emit('SIGTERM', 'SIGTERM');
      expect(exits).toEqual([1]);
      await new Promise((r) => setTimeout(r, 100));
      expect(exits).toEqual([1, 0]);
    } finally {
      remove();
    }
  });
});
