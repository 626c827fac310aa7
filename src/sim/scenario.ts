// A small scenario DSL: steps at absolute times, after the previous step, or on an event.
import type { Emulator } from './emulator.js';
import type { EslEvent } from './event.js';

export interface ScenarioStep {
  /** ms from the scenario start */
  at?: number;
  /** ms after the previous step ran */
  after?: number;
  /** run when an event matching this predicate (or with this Event-Name) is fired */
  on?: string | ((e: EslEvent) => boolean);
  do: (emu: Emulator, e?: EslEvent) => void;
}

/** run steps in order; resolves when the last one ran */
export function runScenario(emu: Emulator, steps: ScenarioStep[]): Promise<void> {
  const core = emu.core;
  const t0 = core.now();
  return new Promise((resolve) => {
    let i = 0;
    const next = (): void => {
      const s = steps[i++];
      if (!s) {
        resolve();
        return;
      }
      if (s.on !== undefined) {
        const pred = typeof s.on === 'string' ? ((name: string) => (e: EslEvent) => e.name === name || e.subclass === name)(s.on) : s.on;
        const off = core.subscribe((e) => {
          if (!pred(e)) return;
          off();
          s.do(emu, e);
          next();
        });
        return;
      }
      const delay = s.at !== undefined ? Math.max(0, t0 + s.at - core.now()) : (s.after ?? 0);
      core.later(delay, () => {
        s.do(emu);
        next();
      });
    };
    next();
  });
}
