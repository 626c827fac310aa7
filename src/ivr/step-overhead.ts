// Per-step overhead of the flow engine (a key's media result → the next media command the engine issues), as the
// benchmark and /metrics read it: pass `recorder.record` as FlowEngineDeps.onStep / IvrRuntimeOptions.onStep.
import type { StepSample } from './engine.js';

export interface OverheadSummary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export class StepOverheadRecorder {
  private samples: number[] = [];

  constructor(
    /** keep the last N samples */
    private readonly capacity = 100_000,
    /** 'dtmf' (default): only steps triggered by a key; 'all': every media result */
    private readonly which: 'dtmf' | 'all' = 'dtmf',
  ) {}

  readonly record = (s: StepSample): void => {
    if (this.which === 'dtmf' && s.trigger !== 'dtmf') return;
    this.samples.push(s.overheadMs);
    if (this.samples.length > this.capacity) this.samples.splice(0, this.samples.length - this.capacity);
  };

  reset(): void {
    this.samples = [];
  }

  summary(): OverheadSummary {
    const s = [...this.samples].sort((a, b) => a - b);
    const q = (p: number) => (s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(p * s.length))]!);
    return { n: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: s.at(-1) ?? 0, mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : 0 };
  }
}
