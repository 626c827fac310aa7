// IPC between bench/run.ts (the CTI side) and bench/lib/emulator-child.ts (the switch side).

export interface ScenarioSpec {
  name: string;
  /** mean new calls per second (Poisson) */
  rate: number;
  durationMs: number;
  talkMinMs: number;
  talkMaxMs: number;
  /** a caller not bridged after this long hangs up (scripted abandon) */
  maxWaitMs: number;
  menuKey: string;
  /** caller numbers are <prefix><6 digits>, unique per scenario */
  callerPrefix: string;
  /** stop after this many calls even if durationMs has not passed */
  maxCalls?: number;
  /** after the drain, hang up every channel left (conference legs of three-way calls) */
  hupallAfter?: boolean;
}

export interface SwitchScenarioResult {
  dialed: number;
  arrivalS: number;
  callersEnded: number;
  bridged: number;
  abandonedByScript: number;
  /** ended by the system (not by the caller script) */
  lost: number;
  lostCauses: Record<string, number>;
  neverWelcomed: number;
  /** still up when the drain window closed (forced down, not counted as lost) */
  stuckAtEnd: number;
  offers: number;
  doubleOffersAgent: number;
  doubleOffersCall: number;
  /** menu key DTMF → first agent leg CHANNEL_CREATE, by Event-Date-Timestamp (ms) */
  nMs: number[];
  switchEvents: number;
  peakChannels: number;
  peakCallers: number;
}

export interface SwitchStats {
  channels: number;
  cpuMs: number;
  rssMb: number;
}

export type ChildRequest =
  | { cmd: 'start'; mediaDurations: Record<string, number> }
  | { cmd: 'agents'; extensions: string[]; answerAfterMs: number }
  | { cmd: 'run'; spec: ScenarioSpec }
  | { cmd: 'stats' }
  | { cmd: 'stop' };

export type ChildReply =
  | { kind: 'started'; port: number; password: string }
  | { kind: 'agentsReady' }
  | { kind: 'scenarioDone'; result: SwitchScenarioResult }
  | { kind: 'stats'; stats: SwitchStats }
  | { kind: 'error'; message: string };
