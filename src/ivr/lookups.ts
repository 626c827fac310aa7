// Lookup handlers: what a `lookup` node calls (self-service query, 自动查询信息). A handler returns the sentence
// to speak; the engine renders it by TTS. The tickets module registers the real ticket source later.

export interface LookupRequest {
  tenantId: string;
  callUuid: string;
  callerNumber: string;
  /** the node's `input` with ${var} replaced */
  input: string;
  vars: Readonly<Record<string, string>>;
}

export interface LookupResult {
  found: boolean;
  /** what the caller hears (Chinese), spoken by TTS */
  text: string;
  /** extra call variables, stored as lookup.<name> */
  vars?: Record<string, string>;
}

export type LookupHandler = (req: LookupRequest) => Promise<LookupResult>;

export interface TicketStatus {
  ticketNo: string;
  /** e.g. 办理中, 已办结 */
  status: string;
  department?: string;
  /** when it is due or was completed, already phrased for speech, e.g. 2026年11月30日 */
  dueText?: string;
}

export type TicketSource = (tenantId: string, ticketNo: string) => Promise<TicketStatus | null>;

/** ticket-status: speaks a ticket's progress by its number (seed 002 2-2). */
export function ticketStatusLookup(source: TicketSource): LookupHandler {
  return async (req) => {
    const ticketNo = req.input.replace(/[^0-9A-Za-z]/g, '');
    const t = ticketNo ? await source(req.tenantId, ticketNo) : null;
    if (!t) return { found: false, text: `没有查到编号为${spellDigits(ticketNo)}的工单。` };
    const parts = [`您查询的工单${spellDigits(t.ticketNo)}，当前状态：${t.status}`];
    if (t.department) parts.push(`承办单位：${t.department}`);
    if (t.dueText) parts.push(`办理时限：${t.dueText}`);
    return { found: true, text: `${parts.join('，')}。`, vars: { status: t.status } };
  };
}

/** Digits read one by one ("1 2 3"), not as a number ("一百二十三"). */
export function spellDigits(s: string): string {
  return s.split('').join(' ');
}

/** Demo data until the tickets module provides the real source. */
export const demoTicketSource: TicketSource = async (_tenant, ticketNo) => {
  const demo: Record<string, TicketStatus> = {
    '20261123001': { ticketNo: '20261123001', status: '办理中', department: '市住房和城乡建设局', dueText: '2026年11月30日' },
    '20261120007': { ticketNo: '20261120007', status: '已办结', department: '市市场监督管理局' },
  };
  return demo[ticketNo] ?? null;
};

/** Handler names `flows:check` accepts when no runtime registry is given. */
export const BUILTIN_LOOKUP_HANDLERS: ReadonlySet<string> = new Set(['ticket-status']);
