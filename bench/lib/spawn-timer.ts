// Diagnostic: how long each child_process.spawn() call blocks the CTI's event loop. spawn is synchronous up to
// the child's exec (fork of a ~200 MB process, then a wait on the exec pipe); the recording compressor spawns
// ffmpeg + 2 ffprobe per recorded call from the CTI's own thread. Patches the builtin and syncs its ESM exports,
// so `import { spawn } from 'node:child_process'` in src/ sees the wrapper too.
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import { performance } from 'node:perf_hooks';

export class SpawnTimer {
  samplesMs: number[] = [];
  private readonly original = childProcess.spawn;

  install(): this {
    const original = this.original;
    const samples = () => this.samplesMs;
    const timed = function (this: unknown, ...args: unknown[]) {
      const t0 = performance.now();
      try {
        return (original as (...a: unknown[]) => childProcess.ChildProcess).apply(this, args);
      } finally {
        samples().push(performance.now() - t0);
      }
    };
    (childProcess as { spawn: unknown }).spawn = timed;
    syncBuiltinESMExports();
    return this;
  }

  reset(): number[] {
    const s = this.samplesMs;
    this.samplesMs = [];
    return s;
  }

  uninstall(): void {
    (childProcess as { spawn: unknown }).spawn = this.original;
    syncBuiltinESMExports();
  }
}
