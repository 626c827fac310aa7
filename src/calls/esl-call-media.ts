// CallMedia over ESL: dialplan apps run with sendmsg execute + event-lock, each awaited by its Application-UUID's
// CHANNEL_EXECUTE_COMPLETE, results read from the variable_* headers of that event (see fs-traces README 16).
import type { Logger } from 'pino';
import type { EslNode } from '../esl/esl-node.js';
import { EslCommandError } from '../esl/errors.js';
import type { EslEvent } from '../esl/event.js';
import {
  CallGoneError,
  type CallMedia,
  type CollectDigitsOptions,
  type CollectDigitsResult,
  type PlayOptions,
  type PlayResult,
  type RecordOptions,
  type RecordResult,
} from './media.js';

/** Replies that mean "that channel does not exist (any more)". */
const GONE_REPLY = /No such channel|invalid session id|Cannot locate session|invalid uuid|^-ERROR/i;

export interface EslCallMediaOptions {
  /** the node the leg lives on, looked up per command (the cluster may learn it late; reconnects keep the object) */
  node: () => EslNode | undefined;
  log: Logger;
  /** after a hangup, how long a running `record` may take to report its file (ms) */
  recordAfterHangupMs?: number;
  /** bound on any single app (a prompt, a menu, a recording); generous, apps end by themselves */
  appTimeoutMs?: number;
  /** told when the CTI itself hangs up or rejects the leg (the CDR then says hangup side "system") */
  onHangupRequested?: () => void;
}

interface RunningOp {
  appUuid?: string;
  /** record keeps waiting after a hangup: the file is the voicemail */
  survivesHangup: boolean;
  reject(err: Error): void;
}

export class EslCallMedia implements CallMedia {
  private gone = false;
  private answered = false;
  private musicOn = false;
  /** playback_terminators value last set on the channel, to skip redundant `set`s */
  private terminators: string | undefined;
  private readonly ops = new Set<RunningOp>();
  private dtmfLog: { digit: string; at: number }[] = [];

  constructor(
    readonly uuid: string,
    private readonly opts: EslCallMediaOptions,
  ) {}

  get isGone(): boolean {
    return this.gone;
  }

  /** The tracker saw CHANNEL_ANSWER on this leg. */
  noteAnswered(): void {
    this.answered = true;
  }

  /** The tracker saw a DTMF event on this leg. */
  noteDtmf(digit: string): void {
    this.dtmfLog.push({ digit, at: Date.now() });
    if (this.dtmfLog.length > 64) this.dtmfLog.shift();
  }

  /** The leg hung up: every op in progress rejects with CallGoneError (a running record finishes first). */
  markGone(): void {
    if (this.gone) return;
    this.gone = true;
    for (const op of [...this.ops]) {
      if (op.survivesHangup) {
        setTimeout(() => this.abort(op), this.opts.recordAfterHangupMs ?? 5000).unref();
      } else {
        this.abort(op);
      }
    }
  }

  private abort(op: RunningOp): void {
    if (!this.ops.delete(op)) return;
    const err = new CallGoneError(this.uuid);
    if (op.appUuid) this.opts.node()?.cancelExecuteWait(op.appUuid, err);
    op.reject(err);
  }

  private nodeOrGone(): EslNode {
    const node = this.opts.node();
    if (!node) throw new CallGoneError(this.uuid);
    return node;
  }

  private mapError(err: unknown): unknown {
    if (err instanceof EslCommandError && GONE_REPLY.test(err.reply)) {
      this.gone = true;
      return new CallGoneError(this.uuid);
    }
    return err;
  }

  /** Run one app on the leg and resolve with its CHANNEL_EXECUTE_COMPLETE. */
  private runApp(app: string, arg: string, survivesHangup = false): Promise<EslEvent> {
    if (this.gone) return Promise.reject(new CallGoneError(this.uuid));
    return new Promise<EslEvent>((resolve, reject) => {
      const op: RunningOp = { survivesHangup, reject };
      this.ops.add(op);
      const finish = (fn: () => void): void => {
        if (this.ops.delete(op)) fn();
      };
      (async () => {
        const node = this.nodeOrGone();
        const appUuid = await node.execute(this.uuid, app, arg, { eventLock: true });
        op.appUuid = appUuid;
        if (!this.ops.has(op)) {
          node.cancelExecuteWait(appUuid, new CallGoneError(this.uuid));
          return;
        }
        const done = await node.waitForExecuteComplete(appUuid, { timeoutMs: this.opts.appTimeoutMs ?? 3_600_000 });
        finish(() => resolve(done));
      })().catch((err: unknown) => finish(() => reject(this.mapError(err))));
    });
  }

  private async api(command: string): Promise<string> {
    if (this.gone) throw new CallGoneError(this.uuid);
    try {
      return await this.nodeOrGone().bgapi(command);
    } catch (err) {
      throw this.mapError(err);
    }
  }

  private async setTerminators(keys: string): Promise<void> {
    if (this.terminators === keys) return;
    await this.runApp('set', `playback_terminators=${keys}`);
    this.terminators = keys;
  }

  private async beforeMediaOp(): Promise<void> {
    if (this.musicOn) await this.stopMusic();
  }

  private dtmfSince(t: number): string[] {
    return this.dtmfLog.filter((d) => d.at >= t).map((d) => d.digit);
  }

  async answer(): Promise<void> {
    if (this.answered) return;
    await this.api(`uuid_answer ${this.uuid}`);
    this.answered = true;
  }

  async play(file: string, opts: PlayOptions = {}): Promise<PlayResult> {
    await this.beforeMediaOp();
    await this.setTerminators(opts.interruptKeys ? opts.interruptKeys : 'none');
    const started = Date.now();
    const done = await this.runApp('playback', file);
    const response = done.headers['Application-Response'] ?? '';
    const used = done.headers['variable_playback_terminator_used'];
    // the variable outlives the op; only believe it if that key was pressed during this prompt
    const interruptedBy =
      opts.interruptKeys && used && opts.interruptKeys.includes(used) && this.dtmfSince(started).includes(used)
        ? used
        : undefined;
    const ok = !/ERROR|NOT FOUND|FAIL/i.test(response);
    return interruptedBy ? { ok, interruptedBy } : { ok };
  }

  async collectDigits(o: CollectDigitsOptions): Promise<CollectDigitsResult> {
    await this.beforeMediaOp();
    const variable = o.variableName ?? 'hotline_digits';
    const regex = o.validDigitsRegex ?? '\\d+';
    const args = [
      o.minDigits,
      o.maxDigits,
      o.tries,
      o.timeoutMs,
      o.terminators === undefined || o.terminators === '' ? (o.terminators === '' ? 'none' : '#') : o.terminators,
      o.prompt,
      o.invalidPrompt ?? 'silence_stream://250',
      variable,
      regex,
      o.digitTimeoutMs ?? o.timeoutMs,
    ];
    const done = await this.runApp('play_and_get_digits', args.join(' '));
    const h = done.headers;
    const result = h['variable_read_result'];
    const value = h[`variable_${variable}`];
    const invalid = h[`variable_${variable}_invalid`];
    const digits = result === 'success' && value ? value : null;
    return invalid ? { digits, invalid } : { digits };
  }

  async record(o: RecordOptions): Promise<RecordResult> {
    await this.beforeMediaOp();
    const terminators = o.terminators ?? '*#';
    await this.setTerminators(terminators === '' ? 'none' : terminators);
    if (o.beep) await this.runApp('playback', 'tone_stream://%(500,0,800)');
    const started = Date.now();
    const arg = [o.path, o.maxSeconds, o.silenceThreshold ?? 200, o.silenceSeconds ?? 3].join(' ');
    const done = await this.runApp('record', arg, true);
    const h = done.headers;
    const durationMs = Number(h['variable_record_ms'] ?? 0) || 0;
    const sizeBytes = Number(h['variable_record_file_size'] ?? 0) || 0;
    const used = h['variable_playback_terminator_used'];
    const pressed = this.dtmfSince(started);
    let endedBy: RecordResult['endedBy'];
    let terminator: string | undefined;
    if (this.gone) endedBy = 'hangup';
    else if (used && terminators.includes(used) && pressed.includes(used)) {
      endedBy = 'terminator';
      terminator = used;
    } else if (h['variable_silence_hits_exhausted'] === 'true' && Date.now() - started < o.maxSeconds * 1000 - 250) {
      endedBy = 'silence';
    } else endedBy = 'max-length';
    return { path: o.path, durationMs, sizeBytes, endedBy, ...(terminator ? { terminator } : {}) };
  }

  async startMusic(source: string): Promise<void> {
    if (this.musicOn) await this.stopMusic();
    // local_stream:// loops by itself; a plain file is looped with endless_playback
    const what = source.includes('://') ? source : `endless_playback::${source}`;
    await this.api(`uuid_broadcast ${this.uuid} ${what} aleg`);
    this.musicOn = true;
  }

  async stopMusic(): Promise<void> {
    if (!this.musicOn) return;
    this.musicOn = false;
    await this.api(`uuid_break ${this.uuid} all`);
  }

  async setVariable(name: string, value: string): Promise<void> {
    await this.api(`uuid_setvar ${this.uuid} ${name} ${value}`);
  }

  async hangup(cause = 'NORMAL_CLEARING'): Promise<void> {
    if (!this.gone) this.opts.onHangupRequested?.();
    try {
      await this.api(`uuid_kill ${this.uuid} ${cause}`);
    } catch (err) {
      if (!(err instanceof CallGoneError)) throw err; // already gone: the goal is met
    }
  }

  async reject(cause: 'CALL_REJECTED' | 'USER_BUSY' = 'CALL_REJECTED'): Promise<void> {
    // never answer first: uuid_kill on the ringing leg sends 603/486, the caller is not charged
    await this.hangup(cause);
  }
}
