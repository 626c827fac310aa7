// Cross-node fan-out for the WebSocket layer over Redis pub/sub under the key prefix: text messages (every node
// delivers to its own sockets) and caller-directory edits (every node drops its cached entry).
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { MessageDelivery } from './agent-messages.js';

export interface WsBusHandlers {
  message(d: MessageDelivery): void;
  callerChanged(tenantId: string, number: string): void;
}

export class WsBus {
  private readonly sub: Redis;
  private readonly messageChannel: string;
  private readonly callerChannel: string;

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
  }

  async start(): Promise<void> {
    this.sub.on('error', (err) => this.log.warn({ err }, 'ws bus subscriber error'));
    this.sub.on('message', (channel: string, raw: string) => {
      try {
        const data = JSON.parse(raw) as Record<string, unknown>;
        if (channel === this.messageChannel) this.handlers.message(data as unknown as MessageDelivery);
        else if (channel === this.callerChannel) this.handlers.callerChanged(String(data.tenantId), String(data.number));
      } catch (err) {
        this.log.warn({ err, channel }, 'bad ws bus message');
      }
    });
    await this.sub.connect();
    await this.sub.subscribe(this.messageChannel, this.callerChannel);
  }

  async publishMessage(d: MessageDelivery): Promise<void> {
    await this.redis.publish(this.messageChannel, JSON.stringify(d));
  }

  publishCallerChange(tenantId: string, number: string): void {
    void this.redis.publish(this.callerChannel, JSON.stringify({ tenantId, number })).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.sub.quit().catch(() => this.sub.disconnect());
  }
}
