// Cross-node fan-out for the WebSocket layer over Redis pub/sub under the key prefix: text messages (every node
// delivers to its own sockets) and caller-directory edits (every node drops its cached entry).
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { MessageDelivery } from './agent-messages.js';
import type { ScreenPop } from '../acd/types.js';

/** a call handed to an agent outside the ACD (transfer, pickup) */
export interface TransferPop {
  tenantId: string;
  agentId: string;
  callUuid: string;
  data: ScreenPop;
}

export interface WsBusHandlers {
  message(d: MessageDelivery): void;
  transferPop(p: TransferPop): void;
  callerChanged(tenantId: string, number: string): void;
}

export class WsBus {
  private readonly sub: Redis;
  private readonly messageChannel: string;
  private readonly callerChannel: string;
  private readonly popChannel: string;

  constructor(
    private readonly redis: Redis,
    redisUrl: string,
    prefix: string,
    private readonly handlers: WsBusHandlers,
    private readonly log: Logger,
  ) {
    this.sub = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: null });
    this.messageChannel = `${prefix}:ws:ch:msg`;
    this.callerChannel = `${prefix}:ws:ch:callers`;
    this.popChannel = `${prefix}:ws:ch:pop`;
  }

  async start(): Promise<void> {
    this.sub.on('error', (err) => this.log.warn({ err }, 'ws bus subscriber error'));
    this.sub.on('message', (channel: string, raw: string) => {
      try {
        const data = JSON.parse(raw) as Record<string, unknown>;
        if (channel === this.messageChannel) this.handlers.message(data as unknown as MessageDelivery);
        else if (channel === this.popChannel) this.handlers.transferPop(data as unknown as TransferPop);
        else if (channel === this.callerChannel) this.handlers.callerChanged(String(data.tenantId), String(data.number));
      } catch (err) {
        this.log.warn({ err, channel }, 'bad ws bus message');
      }
    });
    await this.sub.connect();
    await this.sub.subscribe(this.messageChannel, this.callerChannel, this.popChannel);
  }

  async publishMessage(d: MessageDelivery): Promise<void> {
    await this.redis.publish(this.messageChannel, JSON.stringify(d));
  }

  /** the agent may be connected to another node than the one that transferred the call */
  publishTransferPop(p: TransferPop): void {
    void this.redis.publish(this.popChannel, JSON.stringify(p)).catch(() => undefined);
  }

  publishCallerChange(tenantId: string, number: string): void {
    void this.redis.publish(this.callerChannel, JSON.stringify({ tenantId, number })).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.sub.quit().catch(() => this.sub.disconnect());
  }
}
