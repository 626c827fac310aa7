// The real composition (startCti on its emulator) for tests of call control through the ACD, REST and the agent
// WebSocket: one CTI per test file, and a citizen who dials 12345 and presses 1 to reach the agents' queue.
import { afterAll, beforeAll } from 'vitest';
import { prepareE2eTenant, startTestCti, until, hasHeard, type E2eTenant, type StartedCti } from '../e2e/cti-fixture.js';
import type { SimCaller } from '../../src/sim/world.js';

export interface Composed {
  readonly e: E2eTenant;
  readonly cti: StartedCti;
}

/** beforeAll/afterAll of a test file: a tenant with `agentCount` agents and the CTI serving it. */
export function useComposedCti(agentCount = 2): Composed {
  const state: { e?: E2eTenant; cti?: StartedCti } = {};
  beforeAll(async () => {
    state.e = await prepareE2eTenant({ agentCount });
    state.cti = await startTestCti(state.e);
  }, 90_000); // a full CTI start; slow when the 2 shared cores are loaded
  afterAll(async () => {
    await state.cti?.close();
    await state.e?.close();
  });
  return {
    get e() {
      return state.e!;
    },
    get cti() {
      return state.cti!;
    },
  };
}

/** A citizen calls 12345 and presses 1 after the main menu: they join the agents' queue. */
export async function queueCaller(cti: StartedCti, from: string): Promise<SimCaller> {
  const caller = cti.emulator!.world.dial({ from, to: '12345' });
  await until(() => hasHeard(caller, 'main-menu.wav'), 10_000, 'main menu');
  caller.press('1');
  return caller;
}
