// PostgreSQL sinks for what flows produce: voicemails (after-hours complaints) and keypress survey answers.
import { and, desc, eq, gte, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { voicemails, surveyResults, type Voicemail, type SurveyResult } from '../db/schema/ivr.js';
import type { SurveyAnswer, SurveySink, VoicemailRecord, VoicemailSink } from './engine.js';

export class VoicemailStore implements VoicemailSink {
  constructor(private readonly db: Db) {}

  async save(v: VoicemailRecord): Promise<{ id: string }> {
    const [row] = await this.db
      .insert(voicemails)
      .values({
        tenantId: v.tenantId,
        callUuid: v.callUuid,
        callerNumber: v.callerNumber,
        destination: v.destination,
        flowId: v.flowId,
        nodeId: v.nodeId,
        category: v.category ?? null,
        startedAt: v.startedAt,
        durationMs: v.durationMs,
        filePath: v.filePath,
        sizeBytes: v.sizeBytes,
        endedBy: v.endedBy,
      })
      .returning({ id: voicemails.id });
    return row!;
  }

  async list(tenantId: string, opts: { from?: Date; to?: Date; unheard?: boolean; limit?: number } = {}): Promise<Voicemail[]> {
    const conds = [eq(voicemails.tenantId, tenantId)];
    if (opts.from) conds.push(gte(voicemails.startedAt, opts.from));
    if (opts.to) conds.push(lt(voicemails.startedAt, opts.to));
    if (opts.unheard) conds.push(sql`${voicemails.listenedAt} is null`);
    return this.db
      .select()
      .from(voicemails)
      .where(and(...conds))
      .orderBy(desc(voicemails.startedAt))
      .limit(opts.limit ?? 100);
  }

  async get(tenantId: string, id: string): Promise<Voicemail | undefined> {
    const [row] = await this.db.select().from(voicemails).where(and(eq(voicemails.tenantId, tenantId), eq(voicemails.id, id)));
    return row;
  }

  async markListened(tenantId: string, id: string, by: string): Promise<void> {
    await this.db
      .update(voicemails)
      .set({ listenedAt: new Date(), listenedBy: by })
      .where(and(eq(voicemails.tenantId, tenantId), eq(voicemails.id, id), sql`${voicemails.listenedAt} is null`));
  }
}

export class SurveyStore implements SurveySink {
  constructor(private readonly db: Db) {}

  /** One answer per call and survey: a repeated run (e.g. re-entered flow) keeps the first. */
  async save(a: SurveyAnswer): Promise<void> {
    await this.db
      .insert(surveyResults)
      .values({
        tenantId: a.tenantId,
        callUuid: a.callUuid,
        callerNumber: a.callerNumber,
        survey: a.survey,
        key: a.key,
        label: a.label,
        score: a.score ?? null,
        agentId: a.agentId ?? null,
        flowId: a.flowId,
        at: a.at,
      })
      .onConflictDoNothing();
  }

  async list(tenantId: string, opts: { from?: Date; to?: Date; survey?: string; limit?: number } = {}): Promise<SurveyResult[]> {
    const conds = [eq(surveyResults.tenantId, tenantId)];
    if (opts.from) conds.push(gte(surveyResults.at, opts.from));
    if (opts.to) conds.push(lt(surveyResults.at, opts.to));
    if (opts.survey) conds.push(eq(surveyResults.survey, opts.survey));
    return this.db
      .select()
      .from(surveyResults)
      .where(and(...conds))
      .orderBy(desc(surveyResults.at))
      .limit(opts.limit ?? 500);
  }

  /** Counts per label, for the 按键满意率 KPI (the reports module computes the ratio it is paid on). */
  async summary(tenantId: string, opts: { from?: Date; to?: Date; survey?: string } = {}): Promise<{ label: string; key: string; count: number }[]> {
    const conds = [eq(surveyResults.tenantId, tenantId)];
    if (opts.from) conds.push(gte(surveyResults.at, opts.from));
    if (opts.to) conds.push(lt(surveyResults.at, opts.to));
    if (opts.survey) conds.push(eq(surveyResults.survey, opts.survey));
    return this.db
      .select({ label: surveyResults.label, key: surveyResults.key, count: sql<number>`count(*)::int` })
      .from(surveyResults)
      .where(and(...conds))
      .groupBy(surveyResults.label, surveyResults.key)
      .orderBy(surveyResults.key);
  }
}
