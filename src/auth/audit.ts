// Audit trail: who did what to which object, per tenant. Writes never fail the action they record.
import type { Db } from '../db/client.js';
import { auditLog } from '../db/schema/core.js';
import type { Logger } from 'pino';

export interface AuditEvent {
  tenantId: string;
  userId?: string | null;
  /** dotted verb, e.g. auth.login, auth.login_failed, users.create */
  action: string;
  target?: string | null;
  details?: Record<string, unknown>;
}

export async function writeAudit(db: Db, event: AuditEvent, log?: Logger): Promise<void> {
  try {
    await db.insert(auditLog).values({
      tenantId: event.tenantId,
      userId: event.userId ?? null,
      action: event.action,
      target: event.target ?? null,
      details: event.details ?? null,
    });
  } catch (err) {
    log?.error({ err, action: event.action }, 'audit write failed');
  }
}
