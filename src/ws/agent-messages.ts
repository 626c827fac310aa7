// Text messages between agents and supervisors (seed 002 (5)): stored in agent_messages for the day's history,
// then fanned out to every node over Redis pub/sub (WsBus) so the recipient gets it on whichever node they are.
// Read state is one "read up to message id" mark per user in Redis, enough for the unread count after a reconnect.
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Db } from '../db/client.js';
import { agentMessages } from '../db/schema/index.js';
import type { AuthUser } from '../auth/sessions.js';
import { WsCommandError, type MessageTargetInput } from './protocol.js';

export interface AgentMessage {
  id: number;
  from: { userId: string; name: string };
  to: { kind: 'agent'; agentId: string } | { kind: 'group'; groupId: string } | { kind: 'all' };
  text: string;
  sentAt: string;
}

/** What crosses nodes: the message and who gets it (null = everyone of the tenant). */
export interface MessageDelivery {
  tenantId: string;
  message: AgentMessage;
  recipients: string[] | null;
}

export interface AgentMessageServiceDeps {
  db: Db;
  pool: pg.Pool;
  redis: Redis;
  redisPrefix: string;
  /** hands the delivery to every node (including this one) */
  publish: (d: MessageDelivery) => Promise<void>;
}

const READ_MARK_TTL_S = 3 * 24 * 3600;

interface MessageRowSql {
  id: string;
  from_user_id: string;
  from_name: string;
  to_kind: 'agent' | 'group' | 'all';
  to_agent_id: string | null;
  to_group_id: string | null;
  text: string;
  sent_at: Date;
}

function toMessage(r: MessageRowSql): AgentMessage {
  return {
    id: Number(r.id),
    from: { userId: r.from_user_id, name: r.from_name },
    to: r.to_kind === 'agent' ? { kind: 'agent', agentId: r.to_agent_id! } : r.to_kind === 'group' ? { kind: 'group', groupId: r.to_group_id! } : { kind: 'all' },
    text: r.text,
    sentAt: r.sent_at.toISOString(),
  };
}

export class AgentMessageService {
  constructor(private readonly deps: AgentMessageServiceDeps) {}

  private readKey(userId: string): string {
    return `${this.deps.redisPrefix}:ws:read:${userId}`;
  }

  async send(sender: AuthUser, to: MessageTargetInput, text: string): Promise<AgentMessage> {
    const { pool } = this.deps;
    const tenantId = sender.tenantId;
    let recipients: string[] | null = null;
    let target: AgentMessage['to'];
    if ('agentId' in to) {
      const { rows } = await pool.query('select 1 from users where tenant_id = $1 and id = $2 and not disabled', [tenantId, to.agentId]);
      if (rows.length === 0) throw new WsCommandError('agent_not_found', 'to.agentId');
      recipients = [to.agentId];
      target = { kind: 'agent', agentId: to.agentId };
    } else if ('groupId' in to) {
      const { rows } = await pool.query<{ agent_id: string | null }>(
        `select m.agent_id from skill_groups g left join skill_group_members m on m.group_id = g.id and m.tenant_id = g.tenant_id
          where g.tenant_id = $1 and g.id = $2`,
        [tenantId, to.groupId],
      );
      if (rows.length === 0) throw new WsCommandError('group_not_found', 'to.groupId');
      recipients = rows.map((r) => r.agent_id).filter((x): x is string => !!x);
      target = { kind: 'group', groupId: to.groupId };
    } else {
      target = { kind: 'all' };
    }
    const [row] = await this.deps.db
      .insert(agentMessages)
      .values({
        tenantId,
        fromUserId: sender.userId,
        fromName: sender.displayName,
        toKind: target.kind,
        toAgentId: target.kind === 'agent' ? target.agentId : null,
        toGroupId: target.kind === 'group' ? target.groupId : null,
        text,
      })
      .returning();
    const message: AgentMessage = { id: row!.id, from: { userId: sender.userId, name: sender.displayName }, to: target, text, sentAt: row!.sentAt.toISOString() };
    // the sender's other screens show what they sent
    if (recipients && !recipients.includes(sender.userId)) recipients.push(sender.userId);
    await this.deps.publish({ tenantId, message, recipients });
    return message;
  }

  /** The messages of the tenant's current day (its time zone) sent by or to the user, oldest first. */
  async today(user: Pick<AuthUser, 'userId' | 'tenantId'>, opts: { afterId?: number; limit?: number } = {}): Promise<AgentMessage[]> {
    const { rows } = await this.deps.pool.query<MessageRowSql>(
      `with tz as (select coalesce((select timezone from tenants where id = $1), 'Asia/Shanghai') as z),
            day as (select (date_trunc('day', now() at time zone tz.z)) at time zone tz.z as start from tz)
       select m.id, m.from_user_id, m.from_name, m.to_kind, m.to_agent_id, m.to_group_id, m.text, m.sent_at
         from agent_messages m, day
        where m.tenant_id = $1 and m.sent_at >= day.start and m.id > $3
          and (m.from_user_id = $2 or m.to_kind = 'all' or m.to_agent_id = $2
               or (m.to_kind = 'group' and exists (select 1 from skill_group_members gm
                     where gm.tenant_id = m.tenant_id and gm.group_id = m.to_group_id and gm.agent_id = $2)))
        order by m.id desc limit $4`,
      [user.tenantId, user.userId, opts.afterId ?? 0, opts.limit ?? 200],
    );
    return rows.map(toMessage).reverse();
  }

  async readMark(userId: string): Promise<number> {
    return Number((await this.deps.redis.get(this.readKey(userId))) ?? 0);
  }

  /** Marks read up to `upTo` (never backwards). Returns the mark now in force. */
  async markRead(userId: string, upTo: number): Promise<number> {
    const key = this.readKey(userId);
    // max(current, upTo) in one step, so two screens marking at once never move the mark back
    const v = await this.deps.redis.eval(
      `local c = tonumber(redis.call('GET', KEYS[1]) or '0') local n = tonumber(ARGV[1])
       if n > c then c = n end redis.call('SET', KEYS[1], c, 'EX', ARGV[2]) return c`,
      1,
      key,
      String(upTo),
      String(READ_MARK_TTL_S),
    );
    return Number(v);
  }

  /** Today's messages to the user (not their own) after their read mark. */
  async unread(user: Pick<AuthUser, 'userId' | 'tenantId'>): Promise<AgentMessage[]> {
    const mark = await this.readMark(user.userId);
    return (await this.today(user, { afterId: mark })).filter((m) => m.from.userId !== user.userId);
  }
}
