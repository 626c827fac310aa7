// Command latency over the last N commands, for health() (Prometheus gets the full histogram via EslMetrics).

export class LatencyWindow {
  private readonly samples: number[] = [];
  private next = 0;
  constructor(private readonly size: number) {}

  add(ms: number): void {
    if (this.samples.length < this.size) this.samples.push(ms);
    else this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.size;
  }

  summary(): { avg: number | null; p95: number | null; max: number | null } {
    const n = this.samples.length;
    if (n === 0) return { avg: null, p95: null, max: null };
    const sorted = [...this.samples].sort((a, b) => a - b);
    const sum = sorted.reduce((a, b) => a + b, 0);
    const round = (v: number): number => Math.round(v * 1000) / 1000;
    return {
      avg: round(sum / n),
      p95: round(sorted[Math.min(n - 1, Math.floor(n * 0.95))]!),
      max: round(sorted[n - 1]!),
    };
  }
}
