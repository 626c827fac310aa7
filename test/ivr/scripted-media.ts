// A scripted caller behind the CallMedia contract: each media operation consumes the next caller action, the way
// FreeSWITCH's play_and_get_digits / playback / record would react (see fs-traces 04, 04b, 05*).
import fs from 'node:fs';
import {
  CallGoneError,
  type CallMedia,
  type CollectDigitsOptions,
  type CollectDigitsResult,
  type PlayOptions,
  type PlayResult,
  type RecordOptions,
  type RecordResult,
} from '../../src/calls/media.js';

export type CallerAction =
  /** keys pressed while the next collectDigits runs (typed during its prompt or after) */
  | { keys: string }
  /** nothing pressed: collectDigits times out */
  | { silence: true }
  /** a key pressed during the next interruptible play (barge-in) */
  | { barge: string }
  /** the caller hangs up during the next media operation */
  | { hangup: true }
  /** the caller speaks for this long into the next record, then does `end` */
  | { speak: number; end: 'terminator' | 'hangup' | 'silence' };

export interface MediaOp {
  op: string;
  arg?: string;
  opts?: unknown;
}

export class ScriptedMedia implements CallMedia {
  readonly ops: MediaOp[] = [];
  private gone = false;
  answered = false;

  constructor(
    private readonly script: CallerAction[],
    readonly uuid = 'call-1',
  ) {}

  /** actions not yet consumed (a test asserts the script was used up) */
  get remaining(): CallerAction[] {
    return this.script;
  }

  private check(): void {
    if (this.gone) throw new CallGoneError(this.uuid);
  }

  private hangupNext(): boolean {
    const a = this.script[0];
    if (a && 'hangup' in a) {
      this.script.shift();
      this.gone = true;
      return true;
    }
    return false;
  }

  async answer(): Promise<void> {
    this.check();
    this.ops.push({ op: 'answer' });
    this.answered = true;
  }

  async play(file: string, opts?: PlayOptions): Promise<PlayResult> {
    this.check();
    this.ops.push({ op: 'play', arg: file, opts });
    if (this.hangupNext()) throw new CallGoneError(this.uuid);
    const a = this.script[0];
    if (a && 'barge' in a && opts?.interruptKeys?.includes(a.barge)) {
      this.script.shift();
      return { ok: true, interruptedBy: a.barge };
    }
    return { ok: true };
  }

  async collectDigits(opts: CollectDigitsOptions): Promise<CollectDigitsResult> {
    this.check();
    this.ops.push({ op: 'collect', arg: opts.prompt, opts });
    if (this.hangupNext()) throw new CallGoneError(this.uuid);
    const a = this.script.shift();
    if (!a || 'silence' in a) return { digits: null };
    if (!('keys' in a)) throw new Error(`script expected keys for collect, got ${JSON.stringify(a)}`);
    let keys = a.keys;
    if (opts.terminators && opts.terminators.includes(keys.slice(-1))) keys = keys.slice(0, -1);
    const ok = keys.length >= opts.minDigits && keys.length <= opts.maxDigits && (!opts.validDigitsRegex || new RegExp(opts.validDigitsRegex).test(keys));
    return ok ? { digits: keys } : { digits: null, invalid: keys };
  }

  async record(opts: RecordOptions): Promise<RecordResult> {
    this.check();
    this.ops.push({ op: 'record', arg: opts.path, opts });
    const a = this.script.shift();
    const speak = a && 'speak' in a ? a : { speak: 0, end: 'silence' as const };
    const bytes = 44 + speak.speak * 16;
    fs.writeFileSync(opts.path, Buffer.alloc(bytes));
    if (speak.end === 'hangup') {
      this.gone = true;
      throw new CallGoneError(this.uuid);
    }
    return {
      path: opts.path,
      durationMs: speak.speak,
      sizeBytes: bytes,
      endedBy: speak.end === 'terminator' ? 'terminator' : 'silence',
      terminator: speak.end === 'terminator' ? opts.terminators : undefined,
    };
  }

  async startMusic(source: string): Promise<void> {
    this.check();
    this.ops.push({ op: 'music', arg: source });
  }

  async stopMusic(): Promise<void> {
    this.check();
    this.ops.push({ op: 'stopMusic' });
  }

  async setVariable(name: string, value: string): Promise<void> {
    this.check();
    this.ops.push({ op: 'setvar', arg: `${name}=${value}` });
  }

  async hangup(cause?: string): Promise<void> {
    this.ops.push({ op: 'hangup', arg: cause });
    this.gone = true;
  }

  async reject(cause?: 'CALL_REJECTED' | 'USER_BUSY'): Promise<void> {
    this.ops.push({ op: 'reject', arg: cause });
    this.gone = true;
  }

  /** the prompt files played or used as collect prompts, in order, as paths relative to `base` */
  prompts(base: string): string[] {
    return this.ops.filter((o) => o.op === 'play' || o.op === 'collect').map((o) => (o.arg ?? '').replace(base + '/', ''));
  }
}
