// Contract between the call layer (which owns ESL) and what runs on a call (IVR flow engine, ACD queue task).
// Implemented over ESL by src/calls; the IVR and ACD only see this interface.

export interface PlayOptions {
  /** stop the prompt when the caller presses one of these keys (barge-in); the key is then returned */
  interruptKeys?: string;
}

export interface PlayResult {
  /** the key that interrupted the prompt, if any */
  interruptedBy?: string;
  /** false when the file could not be played (missing, unreadable) */
  ok: boolean;
}

export interface CollectDigitsOptions {
  /** prompt(s) played before collecting; typed-ahead digits during the prompt count */
  prompt: string;
  invalidPrompt?: string;
  minDigits: number;
  maxDigits: number;
  /** how many times the prompt is played before giving up (play_and_get_digits "tries") */
  tries: number;
  /** ms to wait for the first digit after the prompt ends */
  timeoutMs: number;
  /** ms allowed between digits */
  digitTimeoutMs?: number;
  terminators?: string;
  /** a regex the whole input must match, e.g. "^[0-9*#]$" */
  validDigitsRegex?: string;
  /** the channel variable play_and_get_digits stores the result in */
  variableName?: string;
}

export interface CollectDigitsResult {
  /** null when the caller entered nothing valid within the tries */
  digits: string | null;
  /** the last invalid input, if any */
  invalid?: string;
}

export interface RecordOptions {
  path: string;
  maxSeconds: number;
  /** energy threshold and number of silent 1/10 s... as the record app takes them */
  silenceThreshold?: number;
  silenceSeconds?: number;
  /** keys that stop the recording (default "*#") */
  terminators?: string;
  /** a beep before recording */
  beep?: boolean;
}

export interface RecordResult {
  path: string;
  durationMs: number;
  sizeBytes: number;
  endedBy: 'terminator' | 'silence' | 'max-length' | 'hangup';
  terminator?: string;
}

/** Media operations on one live call leg. Every method rejects with CallGoneError if the leg hangs up meanwhile. */
export interface CallMedia {
  readonly uuid: string;
  answer(): Promise<void>;
  play(file: string, opts?: PlayOptions): Promise<PlayResult>;
  collectDigits(opts: CollectDigitsOptions): Promise<CollectDigitsResult>;
  record(opts: RecordOptions): Promise<RecordResult>;
  /** start looping music (hold music / queue music) until stopMusic() or another media op */
  startMusic(source: string): Promise<void>;
  stopMusic(): Promise<void>;
  setVariable(name: string, value: string): Promise<void>;
  /** hang up; cause defaults to NORMAL_CLEARING */
  hangup(cause?: string): Promise<void>;
  /** refuse an unanswered call without answering it (no charge to the caller) */
  reject(cause?: 'CALL_REJECTED' | 'USER_BUSY'): Promise<void>;
}

export class CallGoneError extends Error {
  override name = 'CallGoneError';
  constructor(readonly uuid: string) {
    super(`call leg ${uuid} is gone`);
  }
}
