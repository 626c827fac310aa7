// The KPIs the hotlines are paid on (SPEC §5), computed exactly from queue_events for one day per group and agent.
//   人工接通率 answerRate          = answered / asked (calls that entered an agent queue)
//   20秒接通率 serviceLevel20s     = answered within 20 s / (asked − callers who hung up within 20 s)
//   呼损率     systemLossRate      = calls the system dropped before distribution (overflow to a goodbye prompt)
//                                     / asked; overflow to voicemail, callback or another group is not a loss
import type pg from 'pg';

export interface GroupKpi {
  groupId: string;
  asked: number;
  answered: number;
  answeredWithin20s: number;
  abandoned: number;
  abandonedWithin20s: number;
  overflowed: number;
  lost: number;
  answerRate: number | null;
  serviceLevel20s: number | null;
  systemLossRate: number | null;
  averageAnswerWaitMs: number | null;
  averageAbandonWaitMs: number | null;
  averageTalkMs: number | null;
}

export interface AgentKpi {
  agentId: string;
  offered: number;
  answered: number;
  missed: number;
  averageTalkMs: number | null;
  totalTalkMs: number;
}

export interface DayKpis {
  day: string;
  timezone: string;
  total: Omit<GroupKpi, 'groupId'>;
  groups: GroupKpi[];
  agents: AgentKpi[];
}

const SERVICE_LEVEL_MS = 20_000;

/** [start, end) of a calendar day in the tenant's time zone, as SQL expressions over $day (date) and $tz. */
const DAY_BOUNDS = `($2::date)::timestamp at time zone $3`;

const GROUP_FIGURES = `
  count(distinct call_uuid) filter (where type = 'enqueue')::int as asked,
  count(distinct call_uuid) filter (where type = 'answer')::int as answered,
  count(distinct call_uuid) filter (where type = 'answer' and wait_ms <= ${SERVICE_LEVEL_MS})::int as answered_20,
  count(*) filter (where type = 'abandon')::int as abandoned,
  count(*) filter (where type = 'abandon' and wait_ms <= ${SERVICE_LEVEL_MS})::int as abandoned_20,
  count(*) filter (where type = 'overflow')::int as overflowed,
  count(*) filter (where type = 'overflow' and coalesce(detail->'target'->>'kind', 'goodbye') = 'goodbye')::int as lost,
  avg(wait_ms) filter (where type = 'answer')::float8 as avg_answer_wait,
  avg(wait_ms) filter (where type = 'abandon')::float8 as avg_abandon_wait,
  avg(talk_ms) filter (where type = 'complete')::float8 as avg_talk`;

interface GroupRow {
  group_id: string;
  asked: number;
  answered: number;
  answered_20: number;
  abandoned: number;
  abandoned_20: number;
  overflowed: number;
  lost: number;
  avg_answer_wait: number | null;
  avg_abandon_wait: number | null;
  avg_talk: number | null;
}

const ratio = (n: number, d: number) => (d > 0 ? n / d : null);
const round = (v: number | null) => (v === null ? null : Math.round(v));

function toKpi(r: GroupRow): GroupKpi {
  return {
    groupId: r.group_id,
    asked: r.asked,
    answered: r.answered,
    answeredWithin20s: r.answered_20,
    abandoned: r.abandoned,
    abandonedWithin20s: r.abandoned_20,
    overflowed: r.overflowed,
    lost: r.lost,
    answerRate: ratio(r.answered, r.asked),
    serviceLevel20s: ratio(r.answered_20, r.asked - r.abandoned_20),
    systemLossRate: ratio(r.lost, r.asked),
    averageAnswerWaitMs: round(r.avg_answer_wait),
    averageAbandonWaitMs: round(r.avg_abandon_wait),
    averageTalkMs: round(r.avg_talk),
  };
}

/** `day` is YYYY-MM-DD in `timezone` (default: today there). */
export async function dayKpis(pool: pg.Pool, tenantId: string, day?: string, timezone = 'Asia/Shanghai'): Promise<DayKpis> {
  const d = day ?? (await pool.query<{ d: string }>(`select to_char(now() at time zone $1, 'YYYY-MM-DD') as d`, [timezone])).rows[0]!.d;
  const where = `tenant_id = $1 and at >= ${DAY_BOUNDS} and at < ${DAY_BOUNDS} + interval '1 day'`;
  const params = [tenantId, d, timezone];
  const [groups, total, agents] = await Promise.all([
    pool.query<GroupRow>(`select group_id, ${GROUP_FIGURES} from queue_events where ${where} and group_id is not null group by group_id order by group_id`, params),
    // per call over the whole center: a call overflowed between groups is asked once
    pool.query<GroupRow>(`select '' as group_id, ${GROUP_FIGURES} from queue_events where ${where}`, params),
    pool.query<{ agent_id: string; offered: number; answered: number; missed: number; avg_talk: number | null; total_talk: string | null }>(
      `select agent_id,
              count(*) filter (where type = 'offer')::int as offered,
              count(*) filter (where type = 'answer')::int as answered,
              count(*) filter (where type in ('no_answer', 'reject'))::int as missed,
              avg(talk_ms) filter (where type = 'complete')::float8 as avg_talk,
              sum(talk_ms) filter (where type = 'complete') as total_talk
         from queue_events where ${where} and agent_id is not null group by agent_id order by agent_id`,
      params,
    ),
  ]);
  const { groupId: _drop, ...totalKpi } = toKpi(total.rows[0]!);
  void _drop;
  return {
    day: d,
    timezone,
    total: totalKpi,
    groups: groups.rows.map(toKpi),
    agents: agents.rows.map((r) => ({
      agentId: r.agent_id,
      offered: r.offered,
      answered: r.answered,
      missed: r.missed,
      averageTalkMs: round(r.avg_talk),
      totalTalkMs: Number(r.total_talk ?? 0),
    })),
  };
}
