// Public entry point of the ESL-level FreeSWITCH emulator.
import { Emulator } from './emulator.js';
import type { EmulatorOptions } from './emulator.js';

export { Emulator, TRACE_SOUNDS } from './emulator.js';
export type { EmulatorOptions, ChannelInfo } from './emulator.js';
export { RealClock, VirtualClock } from './clock.js';
export type { Clock, TimerHandle } from './clock.js';
export { World, SimCaller, SimPhone, SimEndpoint, SimIncoming, SimLeg, DTMF_DELAY_MS } from './world.js';
export type { RingBehaviour, HeardSegment } from './world.js';
export type { DialplanRule, DialplanAction, ParkFallback } from './dialplan.js';
export { defaultRules, TRACE_RULES, DEFAULT_BUSY_PROMPT, DEFAULT_FALLBACK_SEC } from './dialplan.js';
export { EslEvent } from './event.js';
export { wavDurationMs, writeWav } from './media.js';
export type { ReceivedCommand } from './connection.js';
export { runScenario } from './scenario.js';
export type { ScenarioStep } from './scenario.js';

export interface RunningEmulator {
  host: string;
  port: number;
  password: string;
  emulator: Emulator;
  world: Emulator['world'];
  close(): Promise<void>;
}

/** start an emulator listening for ESL clients (port 0 = any free port) */
export async function startEmulator(opts: EmulatorOptions = {}): Promise<RunningEmulator> {
  const emu = await new Emulator({ port: 0, ...opts }).start();
  return { host: emu.host, port: emu.port, password: emu.password, emulator: emu, world: emu.world, close: () => emu.close() };
}
