// sendmsg <uuid>: call-command execute / hangup / unicast / nomedia, with event-lock and loops.
import { randomUUID } from 'node:crypto';
import type { SwitchCore } from './core.js';
import type { Channel } from './channel.js';
import { headerCI } from './wire.js';
import { KNOWN_CAUSES } from './causes.js';

interface QueuedApp {
  app: string;
  arg: string;
  appUuid: string;
  loops: number;
}

/** apps sent with sendmsg run one after another inside whatever the channel is doing (usually park) */
export class SendmsgQueue {
  private readonly queues = new WeakMap<Channel, QueuedApp[]>();
  private readonly busy = new WeakSet<Channel>();

  constructor(private readonly core: SwitchCore) {}

  handle(uuid: string, h: Map<string, string>, body: string): string {
    const core = this.core;
    const ch = core.channels.get(uuid);
    if (!ch || !ch.alive) return `-ERR invalid session id [${uuid}]`;
    const cmd = (headerCI(h, 'call-command') ?? '').toLowerCase();
    if (cmd === 'execute') {
      const app = headerCI(h, 'execute-app-name') ?? '';
      let arg = headerCI(h, 'execute-app-arg') ?? '';
      if (!arg && body && (headerCI(h, 'content-type') ?? '').startsWith('text/plain')) arg = body;
      const loops = Math.max(1, Number.parseInt(headerCI(h, 'loops') ?? '1', 10) || 1);
      const appUuid = headerCI(h, 'event-uuid') ?? randomUUID();
      if (!app) return '-ERR invalid app';
      let q = this.queues.get(ch);
      if (!q) this.queues.set(ch, (q = []));
      q.push({ app, arg, appUuid, loops });
      // the channel thread picks the message up on its next media frame
      core.later(20, () => this.pump(ch));
      return '+OK';
    }
    if (cmd === 'hangup') {
      const c = headerCI(h, 'hangup-cause') ?? 'NORMAL_CLEARING';
      core.later(0, () => core.hangup(ch, KNOWN_CAUSES.has(c) ? c : 'NORMAL_CLEARING'));
      return '+OK';
    }
    if (cmd === 'unicast' || cmd === 'nomedia' || cmd === 'xferext') return '+OK';
    return '-ERR invalid command';
  }

  private pump(ch: Channel): void {
    if (!ch.alive || this.busy.has(ch)) return;
    const q = this.queues.get(ch);
    const next = q?.shift();
    if (!next) return;
    this.busy.add(ch);
    const runOnce = (left: number): void => {
      this.core.execute(
        ch,
        next.app,
        next.arg,
        () => {
          if (left > 1 && ch.alive) {
            runOnce(left - 1);
            return;
          }
          this.busy.delete(ch);
          if (ch.alive) this.pump(ch);
        },
        next.appUuid,
      );
    };
    runOnce(next.loops);
  }
}
