// The IVR's `queue` node hands the caller to this task: enqueue, hold music, position / estimated-wait
// announcements every N seconds, the node's own timeout, and the outcome back to the flow.
// The call layer must also call AcdEngine.abandon(uuid) when a queued caller hangs up: with only music
// playing no media operation is pending here to notice it.
import type { CallMedia } from '../calls/media.js';
import { CallGoneError } from '../calls/media.js';
import type { QueueHandler, QueueOutcome, QueueRequest } from '../ivr/engine.js';
import type { AcdEngine } from './engine.js';
import type { CallOutcome, QueuePosition, ScreenPop } from './types.js';
import { queueAnnouncement } from './estimate.js';

export interface QueueTaskOptions {
  engine: AcdEngine;
  /** a flow names its skill group by id, code or name; non-ids are resolved here (groupRefResolver; null: none) */
  resolveGroup?: (tenantId: string, ref: string) => Promise<string | null>;
  /** play the announcement (e.g. TTS of `text`); without it there are no announcements */
  announce?: (media: CallMedia, position: QueuePosition, text: string) => Promise<void>;
  /** music when the group has none */
  defaultMusic?: string;
  /** VIP callers (a flag on the caller's record) get the group's priority boost */
  isVip?: (tenantId: string, callerNumber: string) => Promise<boolean>;
  /** caller directory lookup for the screen pop (name, address, previous calls) */
  screenPop?: (req: QueueRequest) => Promise<ScreenPop>;
  /** the caller is in the group's queue: the call layer notes the group, so even an abandoned call's CDR has it */
  onEnqueued?: (callUuid: string, groupId: string) => void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toQueueOutcome(o: CallOutcome): QueueOutcome {
  switch (o.outcome) {
    case 'answered':
      return { kind: 'connected', agentId: o.agentId };
    case 'abandoned':
      return { kind: 'caller-gone' };
    case 'left':
      return { kind: 'timeout' };
    case 'overflow':
      return { kind: 'overflow', reason: `${o.reason}:${o.target.kind}` };
  }
}

export function createQueueHandler(opts: QueueTaskOptions): QueueHandler {
  const { engine } = opts;
  return async (req: QueueRequest, media: CallMedia): Promise<QueueOutcome> => {
    const plainPop: ScreenPop = { callerNumber: req.callerNumber, ivrPath: [req.flowId, req.nodeId], vars: req.vars };
    // the lookups before the enqueue run side by side: each is a PostgreSQL or Redis round trip the caller waits on.
    // The caller directory lives in PostgreSQL: while it is down the caller is still queued, with a plain screen pop
    const popping = opts.screenPop ? opts.screenPop(req).catch(() => plainPop) : Promise.resolve(plainPop);
    const vipChecking = opts.isVip ? opts.isVip(req.tenantId, req.callerNumber).catch(() => false) : Promise.resolve(false);
    const groupId = UUID.test(req.skillGroup) ? req.skillGroup : ((await opts.resolveGroup?.(req.tenantId, req.skillGroup)) ?? null);
    if (!groupId) return { kind: 'overflow', reason: 'no_group' };
    const [cfg, screenPop, vip] = await Promise.all([engine.groupConfig(groupId), popping, vipChecking]);
    const outcome = engine.outcome(req.callUuid);
    const res = await engine.enqueue({ callUuid: req.callUuid, tenantId: req.tenantId, groupId, callerNumber: req.callerNumber, priority: req.priority, vip, screenPop });
    if (res.status === 'rejected') return { kind: 'overflow', reason: res.reason };
    if (res.status !== 'overflow') opts.onEnqueued?.(req.callUuid, groupId);
    if (res.status === 'overflow') return { kind: 'overflow', reason: `${res.reason}:${res.target.kind}` };

    let done = false;
    const timers: NodeJS.Timeout[] = [];
    const music = cfg?.musicOnHold ?? opts.defaultMusic;
    // a media failure other than the caller leaving must not drop the caller from the queue
    const mediaOp = async (op: () => Promise<unknown>) => {
      try {
        await op();
      } catch (err) {
        if (err instanceof CallGoneError && !done) await engine.abandon(req.callUuid);
      }
    };
    if (music && res.status !== 'offered') await mediaOp(() => media.startMusic(music));

    const interval = cfg?.announceIntervalMs ?? 0;
    if (interval > 0 && opts.announce) {
      const announce = async () => {
        if (done) return;
        const pos = await engine.position(req.callUuid).catch(() => null);
        if (pos && !done) {
          await mediaOp(() => opts.announce!(media, pos, queueAnnouncement(pos.position, pos.estimatedWaitMs)));
          if (music && !done) await mediaOp(() => media.startMusic(music));
        }
        if (!done) timers.push(setTimeout(() => void announce(), interval));
      };
      timers.push(setTimeout(() => void announce(), interval));
    }
    if (req.timeoutMs) {
      const timeoutMs = req.timeoutMs;
      const tryLeave = async () => {
        if (done) return;
        // while an agent is being rung the caller stays; try again shortly
        if (!(await engine.leaveQueue(req.callUuid, 'ivr_timeout'))) timers.push(setTimeout(() => void tryLeave(), 500));
      };
      timers.push(setTimeout(() => void tryLeave(), timeoutMs));
    }
    try {
      return toQueueOutcome(await outcome);
    } finally {
      done = true;
      for (const t of timers) clearTimeout(t);
    }
  };
}
