// The WebSocket protocol of /ws/agent and /ws/wallboard (docs/agent-protocol.md): every frame is one JSON object
// `{ v: 1, type, id?, ... }`. Inbound frames are validated here with zod; anything else becomes a typed error.
import { z } from 'zod';
import { AGENT_STATE_LABELS, type AgentState } from '../agents/states.js';

export const PROTOCOL_VERSION = 1;
/** frames above this get a `message_too_large` error; the socket itself refuses frames above MAX_FRAME_BYTES */
export const MAX_MESSAGE_BYTES = 8 * 1024;
export const MAX_FRAME_BYTES = 64 * 1024;
export const MAX_TEXT_CHARS = 500;

const requestId = z.string().min(1).max(64);
const base = { v: z.literal(PROTOCOL_VERSION), id: requestId.optional() };
const uuid = z.string().uuid();
const reason = z.string().trim().min(1).max(16);

const messageTarget = z.union([
  z.object({ agentId: uuid }).strict(),
  z.object({ groupId: uuid }).strict(),
  z.object({ all: z.literal(true) }).strict(),
]);

export const agentCommandSchema = z.discriminatedUnion('type', [
  z
    .object({
      ...base,
      type: z.literal('sign_in'),
      /** one of the agent's configured phones (agent_endpoints.id) */
      endpointId: uuid.optional(),
      /** or the desk extension / mobile number for this shift; it must be one configured for the agent */
      extension: z.string().regex(/^[0-9A-Za-z_.-]{1,32}$/).optional(),
      mobile: z.string().regex(/^\+?[0-9]{5,20}$/).optional(),
      /** the desk phone answers offers by itself (auto-answer header); default: it rings until the agent answers */
      autoAnswer: z.boolean().optional(),
    })
    .strict()
    .refine((m) => [m.endpointId, m.extension, m.mobile].filter((x) => x !== undefined).length <= 1, {
      message: 'endpointId, extension and mobile are exclusive',
      path: ['endpointId'],
    }),
  z.object({ ...base, type: z.literal('sign_out') }).strict(),
  z.object({ ...base, type: z.literal('ready') }).strict(),
  z.object({ ...base, type: z.literal('not_ready'), reason }).strict(),
  z.object({ ...base, type: z.literal('answer'), callUuid: z.string().min(1).max(64).optional() }).strict(),
  z.object({ ...base, type: z.literal('hangup'), callUuid: z.string().min(1).max(64).optional() }).strict(),
  z.object({ ...base, type: z.literal('end_wrap_up') }).strict(),
  z.object({ ...base, type: z.literal('send_message'), to: messageTarget, text: z.string().trim().min(1).max(MAX_TEXT_CHARS) }).strict(),
  z.object({ ...base, type: z.literal('mark_read'), upTo: z.number().int().min(0) }).strict(),
  z.object({ ...base, type: z.literal('ping') }).strict(),
]);
export type AgentCommand = z.infer<typeof agentCommandSchema>;

export const wallboardCommandSchema = z.discriminatedUnion('type', [
  z
    .object({ ...base, type: z.literal('force_state'), agentId: uuid, state: z.enum(['ready', 'not_ready', 'logged_out']), reason: reason.optional() })
    .strict(),
  z.object({ ...base, type: z.literal('send_message'), to: messageTarget, text: z.string().trim().min(1).max(MAX_TEXT_CHARS) }).strict(),
  z.object({ ...base, type: z.literal('ping') }).strict(),
]);
export type WallboardCommand = z.infer<typeof wallboardCommandSchema>;
export type MessageTargetInput = z.infer<typeof messageTarget>;

/** Every error code a client can get, with the Chinese text shown to the agent. */
export const WS_ERRORS = {
  bad_json: '消息不是有效的JSON',
  bad_message: '消息格式错误',
  unsupported_version: '不支持的协议版本',
  unknown_type: '未知的消息类型',
  message_too_large: '消息过大',
  rate_limited: '操作过于频繁，请稍后再试',
  not_signed_in: '请先签入',
  phone_offline: '话机未注册，无法置闲',
  agent_busy: '通话中，不能签出',
  invalid_state: '当前状态下不能执行此操作',
  no_phone: '没有可用的话机，请联系管理员配置',
  no_call: '当前没有可操作的通话',
  not_supported: '当前系统不支持该操作',
  call_control_failed: '话机操作失败，请直接使用话机',
  agent_not_found: '座席不存在',
  group_not_found: '技能组不存在',
  forbidden: '无权执行此操作',
  session_ended: '登录已失效，请重新登录',
  session_locked: '屏幕已锁定，请输入密码解锁',
  internal: '服务器内部错误，请稍后再试',
} as const;
export type WsErrorCode = keyof typeof WS_ERRORS;

/** A failure a command handler throws; the socket turns it into `{ type: 'error', code, message, field? }`. */
export class WsCommandError extends Error {
  override name = 'WsCommandError';
  constructor(
    readonly code: WsErrorCode,
    readonly field?: string,
    message?: string,
  ) {
    super(message ?? WS_ERRORS[code]);
  }
}

/** The result kinds of AcdEngine state commands mapped the way the REST routes map them (src/agents/routes.ts). */
export function refusalFor(kind: string): WsCommandError {
  if (kind === 'logged_out') return new WsCommandError('not_signed_in');
  if (kind === 'phone_offline') return new WsCommandError('phone_offline');
  if (kind === 'busy') return new WsCommandError('agent_busy');
  return new WsCommandError('invalid_state');
}

export type ParsedFrame<T> = { ok: true; command: T } | { ok: false; id?: string; code: WsErrorCode; field?: string; detail?: string };

/** Parse and validate one inbound frame; never throws. */
export function parseFrame<T extends { type: string }>(raw: string, schema: z.ZodType<T>, knownTypes: readonly string[]): ParsedFrame<T> {
  if (Buffer.byteLength(raw) > MAX_MESSAGE_BYTES) return { ok: false, code: 'message_too_large' };
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return { ok: false, code: 'bad_json' };
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { ok: false, code: 'bad_message' };
  const obj = data as Record<string, unknown>;
  const id = typeof obj.id === 'string' && obj.id.length <= 64 ? obj.id : undefined;
  const withId = id !== undefined ? { id } : {};
  if (obj.v !== PROTOCOL_VERSION) return { ok: false, ...withId, code: 'unsupported_version', field: 'v' };
  if (typeof obj.type !== 'string' || !knownTypes.includes(obj.type)) return { ok: false, ...withId, code: 'unknown_type', field: 'type' };
  const r = schema.safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue?.path.join('.') || undefined;
    return { ok: false, ...withId, code: 'bad_message', ...(field ? { field } : {}), ...(issue ? { detail: issue.message } : {}) };
  }
  return { ok: true, command: r.data };
}

export const AGENT_COMMAND_TYPES = ['sign_in', 'sign_out', 'ready', 'not_ready', 'answer', 'hangup', 'end_wrap_up', 'send_message', 'mark_read', 'ping'] as const;
export const WALLBOARD_COMMAND_TYPES = ['force_state', 'send_message', 'ping'] as const;

export function stateLabel(state: AgentState): string {
  return AGENT_STATE_LABELS[state];
}

/** Call states pushed as `call.state` (the agent's view of their call). */
export const CALL_STATE_LABELS = {
  offered: '来电振铃',
  talking: '通话中',
  held: '保持',
  wrap_up: '话后处理',
  ended: '已结束',
  missed: '未接',
} as const;
export type CallStateName = keyof typeof CALL_STATE_LABELS;
