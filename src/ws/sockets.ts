// One connected agent or wallboard: restores the full state on (re)connect, then runs the client's commands in
// order, each answered by an `ack` or a typed `error`. A dropped socket changes nothing in the ACD: the call goes
// on and the agent stays signed in; the next connection gets everything back.
import type { WebSocket, RawData } from 'ws';
import type { Logger } from 'pino';
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Db } from '../db/client.js';
import type { AcdEngine } from '../acd/engine.js';
import type { ScreenPop } from '../acd/types.js';
import type { AuthUser } from '../auth/sessions.js';
import { NOT_READY_REASONS, AGENT_STATE_LABELS } from '../agents/states.js';
import {
  AGENT_COMMAND_TYPES,
  WALLBOARD_COMMAND_TYPES,
  PROTOCOL_VERSION,
  WS_ERRORS,
  WsCommandError,
  agentCommandSchema,
  parseFrame,
  wallboardCommandSchema,
  type AgentCommand,
  type WallboardCommand,
  type WsErrorCode,
} from './protocol.js';
import type { WsClient, WsHub } from './hub.js';
import { AgentCommands, agentSnapshot } from './agent-commands.js';
import type { AgentMessageService } from './agent-messages.js';

/** The call layer's soft phone control (soft off-hook / hang-up). Absent: `answer`/`hangup` answer `not_supported`. */
export interface AgentCallControl {
  /** make the agent's ringing phone answer by itself (auto-answer header, or a SIP NOTIFY talk event) */
  answer(req: { tenantId: string; agentId: string; callUuid: string }): Promise<void>;
  /** hang up the agent's call (the caller leg stays with the call layer's rules: the agent's leg ends) */
  hangup(req: { tenantId: string; agentId: string; callUuid: string }): Promise<void>;
  /** call states the call layer knows and the ACD does not (held, retrieved…), pushed as call.state */
  onCallState?(listener: (e: { tenantId: string; agentId: string; callUuid: string; state: 'held' | 'talking' | 'ended' }) => void): () => void;
  /** a call handed to an agent outside the ACD (transfer, pickup): its screen pop (CallControl's `screenPop` event) */
  onScreenPop?(listener: (e: { tenantId: string; agentId: string; callUuid: string; data: ScreenPop }) => void): () => void;
}

export interface SocketDeps {
  db: Db;
  pool: pg.Pool;
  redis: Redis;
  engine: AcdEngine;
  hub: WsHub;
  messages: AgentMessageService;
  commands: AgentCommands;
  callControl?: AgentCallControl | undefined;
  log: Logger;
  nodeId: string;
  heartbeatMs: number;
}

/** inbound commands per second a socket may send (burst twice that) */
const COMMANDS_PER_SECOND = 20;

function newClient(ws: WebSocket, user: AuthUser, kind: WsClient['kind'], token: string): WsClient {
  return { ws, user, kind, token, groups: new Set(), alive: true, callUuid: null, lastState: null, resync: new Set(), tokens: COMMANDS_PER_SECOND * 2, refilledAt: Date.now() };
}

function takeToken(c: WsClient): boolean {
  const now = Date.now();
  c.tokens = Math.min(COMMANDS_PER_SECOND * 2, c.tokens + ((now - c.refilledAt) / 1000) * COMMANDS_PER_SECOND);
  c.refilledAt = now;
  if (c.tokens < 1) return false;
  c.tokens -= 1;
  return true;
}

function sendError(hub: WsHub, c: WsClient, code: WsErrorCode, extra: { id?: string | undefined; field?: string | undefined; detail?: string | undefined; message?: string } = {}): void {
  hub.send(c, {
    type: 'error',
    ...(extra.id !== undefined ? { id: extra.id } : {}),
    code,
    message: extra.message ?? WS_ERRORS[code],
    ...(extra.field ? { field: extra.field } : {}),
    ...(extra.detail ? { detail: extra.detail } : {}),
  });
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/**
 * Wires a socket: frames are handled one after another (a command's ack precedes the next command's), after the
 * initial restore, and no handler failure escapes (a bug answers `internal`, the socket stays up).
 */
function serve<T extends { type: string; id?: string | undefined }>(
  deps: SocketDeps,
  c: WsClient,
  restore: () => Promise<void>,
  parse: (raw: string) => ReturnType<typeof parseFrame<T>>,
  handle: (cmd: T) => Promise<Record<string, unknown>>,
): void {
  const { hub, log } = deps;
  let chain: Promise<void> = restore().catch((err: Error) => {
    log.error({ err, user: c.user.userId }, 'websocket restore failed');
    sendError(hub, c, 'internal');
  });
  c.ws.on('pong', () => (c.alive = true));
  c.ws.on('error', (err) => log.debug({ err, user: c.user.userId }, 'websocket error'));
  c.ws.on('close', () => hub.remove(c));
  c.ws.on('message', (data, isBinary) => {
    const raw = isBinary ? null : rawText(data);
    chain = chain.then(async () => {
      if (raw === null) return sendError(hub, c, 'bad_message', { detail: 'binary frames are not accepted' });
      if (!takeToken(c)) return sendError(hub, c, 'rate_limited');
      const parsed = parse(raw);
      if (!parsed.ok) return sendError(hub, c, parsed.code, { id: parsed.id, field: parsed.field, detail: parsed.detail });
      const cmd = parsed.command;
      try {
        const result = await handle(cmd);
        hub.send(c, { type: 'ack', ...(cmd.id !== undefined ? { id: cmd.id } : {}), command: cmd.type, ...result });
      } catch (err) {
        if (err instanceof WsCommandError) return sendError(hub, c, err.code, { id: cmd.id, field: err.field, message: err.message });
        log.error({ err, user: c.user.userId, command: cmd.type }, 'websocket command failed');
        sendError(hub, c, 'internal', { id: cmd.id });
      }
    });
  });
}

function helloMessage(deps: SocketDeps, user: AuthUser, profile: { extension: string | null; mobile: string | null }) {
  return {
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    serverTime: Date.now(),
    node: deps.nodeId,
    heartbeatMs: deps.heartbeatMs,
    profile: { userId: user.userId, tenantId: user.tenantId, loginId: user.loginId, name: user.displayName, role: user.role, ...profile },
    notReadyReasons: NOT_READY_REASONS,
    stateLabels: AGENT_STATE_LABELS,
  };
}

async function profileOf(deps: SocketDeps, user: AuthUser): Promise<{ extension: string | null; mobile: string | null; groups: string[] }> {
  const { rows } = await deps.pool.query<{ extension: string | null; mobile: string | null; groups: string[] | null }>(
    `select u.extension, u.mobile,
            (select array_agg(m.group_id::text) from skill_group_members m where m.tenant_id = u.tenant_id and m.agent_id = u.id) as groups
       from users u where u.tenant_id = $1 and u.id = $2`,
    [user.tenantId, user.userId],
  );
  const r = rows[0];
  return { extension: r?.extension ?? null, mobile: r?.mobile ?? null, groups: r?.groups ?? [] };
}

export function serveAgent(deps: SocketDeps, ws: WebSocket, user: AuthUser, token: string): void {
  const { hub, engine, messages, commands } = deps;
  const c = newClient(ws, user, 'agent', token);
  // registered before the restore reads anything, so no event in between is lost (at worst one is seen twice)
  hub.add(c);
  const { tenantId, userId } = user;

  const restore = async () => {
    const profile = await profileOf(deps, user);
    hub.send(c, helloMessage(deps, user, { extension: profile.extension, mobile: profile.mobile }));
    const s = await agentSnapshot(engine, tenantId, userId);
    for (const g of [...profile.groups, ...s.groups]) c.groups.add(g);
    c.lastState = s.state;
    hub.send(c, hub.agentStateMessage(s));
    if (s.callUuid) {
      c.callUuid = s.callUuid;
      const pop = await hub.screenPopOf(tenantId, s.callUuid);
      const groupId = await deps.redis.hget(engine.store.key('call', s.callUuid), 'g').catch(() => null);
      const groupName = groupId ? ((await engine.groupConfig(groupId).catch(() => null))?.name ?? null) : null;
      hub.send(c, { type: 'call.offer', callUuid: s.callUuid, groupId, groupName, offeredAt: s.since, ringAll: false, screenPop: pop, restored: true });
      const cs = s.state === 'talking' ? 'talking' : s.state === 'wrap_up' ? 'wrap_up' : 'offered';
      hub.send(c, hub.callStateMessage(s.callUuid, cs, { restored: true }));
    }
    hub.send(c, await hub.queueStatsMessage(c));
    hub.send(c, { type: 'agents.list', agents: await hub.agentList(tenantId) });
    const unread = await messages.unread(user);
    hub.send(c, { type: 'messages.unread', messages: unread, readUpTo: await messages.readMark(userId) });
  };

  const callOf = async (given: string | undefined): Promise<string> => {
    const s = await agentSnapshot(engine, tenantId, userId);
    if (!s.callUuid || (given !== undefined && given !== s.callUuid)) throw new WsCommandError('no_call', given !== undefined ? 'callUuid' : undefined);
    return s.callUuid;
  };

  const handle = async (cmd: AgentCommand): Promise<Record<string, unknown>> => {
    switch (cmd.type) {
      case 'ping':
        return { serverTime: Date.now() };
      case 'sign_in':
        return { state: hub.agentStateMessage(await commands.signIn(tenantId, userId, cmd)) };
      case 'sign_out':
        return { state: hub.agentStateMessage(await commands.signOut(tenantId, userId)) };
      case 'ready':
        return { state: hub.agentStateMessage(await commands.ready(tenantId, userId)) };
      case 'not_ready':
        return { state: hub.agentStateMessage(await commands.notReady(tenantId, userId, cmd.reason)) };
      case 'end_wrap_up':
        return { state: hub.agentStateMessage(await commands.endWrapUp(tenantId, userId)) };
      case 'answer':
      case 'hangup': {
        if (!deps.callControl) throw new WsCommandError('not_supported');
        const callUuid = await callOf(cmd.callUuid);
        try {
          await deps.callControl[cmd.type]({ tenantId, agentId: userId, callUuid });
        } catch (err) {
          if (err instanceof WsCommandError) throw err;
          deps.log.warn({ err, call: callUuid, agent: userId }, `soft ${cmd.type} failed`);
          throw new WsCommandError('call_control_failed');
        }
        return { callUuid };
      }
      case 'send_message':
        return { message: await messages.send(user, cmd.to, cmd.text) };
      case 'mark_read':
        return { readUpTo: await messages.markRead(userId, cmd.upTo) };
    }
  };

  serve(deps, c, restore, (raw) => parseFrame(raw, agentCommandSchema, AGENT_COMMAND_TYPES), handle);
}

export function serveWallboard(deps: SocketDeps, ws: WebSocket, user: AuthUser, token: string): void {
  const { hub, messages, commands } = deps;
  const c = newClient(ws, user, 'wallboard', token);
  hub.add(c);
  const restore = async () => {
    hub.send(c, helloMessage(deps, user, { extension: null, mobile: null }));
    hub.send(c, await hub.wallboardMessage(user.tenantId));
  };
  const handle = async (cmd: WallboardCommand): Promise<Record<string, unknown>> => {
    switch (cmd.type) {
      case 'ping':
        return { serverTime: Date.now() };
      case 'force_state': {
        const s = await commands.forceState(user.tenantId, cmd.agentId, cmd.state, cmd.reason);
        deps.log.info({ supervisor: user.userId, agent: cmd.agentId, state: cmd.state }, 'agent state forced from the wallboard');
        return { agentId: cmd.agentId, state: hub.agentStateMessage(s) };
      }
      case 'send_message':
        return { message: await messages.send(user, cmd.to, cmd.text) };
    }
  };
  serve(deps, c, restore, (raw) => parseFrame(raw, wallboardCommandSchema, WALLBOARD_COMMAND_TYPES), handle);
}
