import { describe, it, expect } from 'vitest';
import pino from 'pino';
import { CallSession, canTransition, CallGoneError, type CallMedia, type CallTask, type StateChange } from '../../src/calls/index.js';

const media = { uuid: 'u1' } as unknown as CallMedia;

function session(): CallSession {
  return new CallSession({ uuid: 'u1', tenantId: 't', node: 'fs1', log: pino({ level: 'silent' }), media, startAt: 1000 });
}

describe('call state machine', () => {
  it('follows ringing → ivr → queued → offering → talking → held → talking → wrap-up → ended and records times', () => {
    const s = session();
    const seen: StateChange[] = [];
    s.on('state', (c) => seen.push(c));
    expect(s.transition('ivr', undefined, 2000)).toBe(true);
    expect(s.transition('queued', undefined, 3000)).toBe(true);
    expect(s.transition('offering', undefined, 8000)).toBe(true);
    expect(s.transition('talking', undefined, 9000)).toBe(true);
    expect(s.transition('held', undefined, 10_000)).toBe(true);
    expect(s.transition('talking', undefined, 14_000)).toBe(true);
    expect(s.transition('conferenced', undefined, 15_000)).toBe(true);
    expect(s.transition('wrap-up', undefined, 20_000)).toBe(true);
    expect(s.transition('ended', undefined, 30_000)).toBe(true);
    expect(seen.map((c) => c.to)).toEqual(['ivr', 'queued', 'offering', 'talking', 'held', 'talking', 'conferenced', 'wrap-up', 'ended']);
    expect(s.times).toMatchObject({ startAt: 1000, queueEnterAt: 3000, queueLeaveAt: 8000, agentAnswerAt: 9000, endAt: 20_000 });
    expect(s.holdMs).toBe(4000);
  });

  it('refuses illegal transitions and stays put', () => {
    const s = session();
    expect(s.transition('held')).toBe(false);
    expect(s.transition('wrap-up')).toBe(false);
    expect(s.state).toBe('ringing');
    s.transition('ended');
    expect(s.transition('ivr')).toBe(false);
    expect(canTransition('queued', 'talking')).toBe(false);
    expect(canTransition('offering', 'queued')).toBe(true);
  });

  it('legs map to roles; the leg event log keeps order', () => {
    const s = session();
    s.addLeg({ uuid: 'u1', role: 'caller', node: 'fs1' });
    s.addLeg({ uuid: 'a1', role: 'agent', node: 'fs1', agentId: 'agent-1' });
    s.addLeg({ uuid: 'sv', role: 'supervisor', node: 'fs1' });
    s.logLegEvent('u1', 'CHANNEL_PARK', 1);
    s.logLegEvent('a1', 'CHANNEL_ANSWER', 2);
    expect(s.callerLeg?.role).toBe('caller');
    expect(s.legsByRole('agent').map((l) => l.agentId)).toEqual(['agent-1']);
    expect(s.legEvents.map((e) => `${e.role}:${e.event}`)).toEqual(['caller:CHANNEL_PARK', 'agent:CHANNEL_ANSWER']);
    expect(s.allLegsDown).toBe(false);
  });
});

describe('task list', () => {
  it('runs tasks in order; stop drops the rest', async () => {
    const s = session();
    const ran: string[] = [];
    const task = (name: string, next?: 'stop'): CallTask => ({
      name,
      async exec() {
        ran.push(name);
        return next ? { next } : undefined;
      },
      kill() {},
    });
    s.addTasks(task('a'), task('b', 'stop'), task('c'));
    await s.runTasks();
    expect(ran).toEqual(['a', 'b']);
  });

  it('killTasks kills the running task and drops the queued ones; CallGoneError ends quietly', async () => {
    const s = session();
    let killed = '';
    let release: (e: Error) => void = () => {};
    const blocking: CallTask = {
      name: 'ivr',
      exec: () => new Promise((_, reject) => (release = reject)),
      kill: (reason) => {
        killed = reason;
        release(new CallGoneError('u1'));
      },
    };
    let laterRan = false;
    s.addTasks(blocking, { name: 'queue', exec: async () => void (laterRan = true), kill() {} });
    const run = s.runTasks();
    await new Promise((r) => setTimeout(r, 5));
    expect(s.currentTask?.name).toBe('ivr');
    s.killTasks('hangup');
    await run;
    expect(killed).toBe('hangup');
    expect(laterRan).toBe(false);
    expect(s.currentTask).toBeNull();
  });
});
