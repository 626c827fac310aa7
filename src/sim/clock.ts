// Time source for everything the emulator schedules (prompts, timeouts, ring times, DTMF delay, heartbeat).
// RealClock for demos/benchmarks; VirtualClock for fast deterministic tests.

export interface TimerHandle {
  readonly id: number;
}

export interface Clock {
  /** milliseconds since the epoch (may be fractional) */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

export class RealClock implements Clock {
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private seq = 0;
  private readonly t0 = Date.now();
  /** speed > 1 makes emulated time run faster (e.g. 10 = ten times real speed); now() follows it */
  constructor(private readonly speed = 1) {}
  now(): number {
    return this.speed === 1 ? Date.now() : this.t0 + (Date.now() - this.t0) * this.speed;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    const t = setTimeout(() => {
      this.timers.delete(id);
      try {
        fn();
      } catch (e) {
        // a bug in one call must not take the whole switch down
        console.error('[sim] scheduled task failed:', e);
      }
    }, Math.max(0, ms / this.speed));
    this.timers.set(id, t);
    return { id };
  }
  /** cancel everything still scheduled (emulator shutdown) */
  clearAll(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const t = this.timers.get(handle.id);
    if (t) {
      clearTimeout(t);
      this.timers.delete(handle.id);
    }
  }
}

interface VirtualTimer {
  id: number;
  at: number;
  fn: () => void;
}

/** A clock that only moves when told to. Timers due at the same instant run in scheduling order. */
export class VirtualClock implements Clock {
  private t: number;
  private seq = 0;
  // binary min-heap on (at, id)
  private heap: VirtualTimer[] = [];
  private readonly cancelled = new Set<number>();

  constructor(startMs = Date.UTC(2026, 10, 23, 13, 0, 0)) {
    this.t = startMs;
  }
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.push({ id, at: this.t + Math.max(0, ms), fn });
    return { id };
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) this.cancelled.add(handle.id);
  }
  /** run every timer due up to now+ms (including timers those timers schedule), leaving the clock at now+ms */
  advance(ms: number): void {
    this.advanceTo(this.t + ms);
  }
  advanceTo(target: number): void {
    for (;;) {
      const top = this.heap[0];
      if (!top || top.at > target) break;
      this.pop();
      if (this.cancelled.delete(top.id)) continue;
      if (top.at > this.t) this.t = top.at;
      top.fn();
    }
    if (target > this.t) this.t = target;
  }
  /** run timers until none is pending or limitMs has elapsed */
  runAll(limitMs = 3_600_000): void {
    const end = this.t + limitMs;
    while (this.heap.length && (this.heap[0]?.at ?? Infinity) <= end) this.advanceTo(this.heap[0]!.at);
  }
  pending(): number {
    return this.heap.length - this.cancelled.size;
  }

  private less(a: VirtualTimer, b: VirtualTimer): boolean {
    return a.at < b.at || (a.at === b.at && a.id < b.id);
  }
  private push(x: VirtualTimer): void {
    const h = this.heap;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (!h.length) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
