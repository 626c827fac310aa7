// Routing state changes as single Lua scripts (the bullmq way): every multi-key change — pick a (call, agent)
// pair and mark both reserved, requeue after a failed offer, release at wrap-up end — runs atomically on the one
// Redis all CTI nodes share, so no agent is offered two calls and no call two agents.
// Keys are built inside the scripts from the prefix in ARGV[1]; this needs a single (non-cluster) Redis.
//
// Key layout (P = prefix):
//   P:call:<id>          hash  t tenant, g group, p priority, arr arrival ms, sc queue score, node owner, st state
//                              (waiting|pref|offering|orphan|talking), pa preferred agent, caller, pop, off offered
//                              agents (comma list), ag answering agent
//   P:call:<id>:miss     set   agents that already missed this call (not offered it again)
//   P:grp:<g>            hash  group routing config (see setGroup) + rr pointer + aht (handle time EWMA)
//   P:grp:<g>:mem        hash  agent -> "position|proficiency"
//   P:grp:<g>:q          zset  waiting calls; lower score = served first (priority + aging folded in, see callScore)
//   P:grp:<g>:rdy        zset  ready agents; lower score = chosen first (per the group's strategy)
//   P:agt:<a>            hash  t tenant, st state, rs reason, since, rdy ready-since, call, miss, calls, day, ep, addr,
//                              ck, gw, ext, pnr (not-ready asked for during a call), off (state before 话机离线),
//                              wd (call whose offer was withdrawn while its originate may still run), wdn (its node)
//   P:agt:<a>:grp        hash  group -> 1 (the agent's memberships)
//   P:agt:<a>:pref       zset  callers waiting for this agent in particular (首问负责制), by arrival
//   P:ext:<tenant>       hash  extension -> agent (phone register/unregister events)
//   P:ten:<tenant>:agents set  signed-in agents (the list of all signed-in agents with their states)
//   P:node:<n>:calls     set   waiting calls this node owns (re-adopted after a restart)
//   P:node:<n>:wd        set   agents held reserved until this node's withdrawn originate ends (freed on adoption)
//   P:orphans            set   calls whose owner node did not hear its offer
//   P:wrap               zset  agent -> wrap-up end (ms), so any node can finish an overdue wrap-up
//   P:prev:<t>:<caller>  string previous agent, TTL = the window;  P:prev:<t>:built marks the map as loaded

const LIB = String.raw`
local P = ARGV[1]
local NOW = tonumber(ARGV[2])
local RAND = tonumber(ARGV[3])
local EPOCH = 1577836800000
local MATCHES = {}
local TRANS = {}

local function K(...) return P .. ':' .. table.concat({...}, ':') end
local function split(s)
  local out = {}
  if not s or s == '' then return out end
  for part in string.gmatch(s, '([^,]+)') do out[#out + 1] = part end
  return out
end

-- Queue order inside one group, fixed at enqueue: with aging rate a (points/s), priority p is worth p/a seconds
-- of waiting, so "priority + aging, then arrival" is one static score; without aging, priority dominates.
local function callScore(prio, arr, aging)
  if aging > 0 then return arr - prio * 1000 / aging end
  return arr - prio * 1e13
end

local function effPriority(callKey, aging)
  local v = redis.call('HMGET', callKey, 'p', 'arr')
  if not v[1] or not v[2] then return nil, nil end
  return tonumber(v[1]) + aging * (NOW - tonumber(v[2])) / 1000, tonumber(v[2])
end

local releasePref

local function setState(a, st, rs)
  local ak = K('agt', a)
  local cur = redis.call('HMGET', ak, 'st', 'rs', 'since', 't')
  redis.call('HSET', ak, 'st', st, 'rs', rs or '', 'since', NOW)
  TRANS[#TRANS + 1] = {a, cur[4] or '', cur[1] or 'logged_out', cur[2] or '', cur[3] or '', st, rs or ''}
  -- callers waiting for this agent by name stop waiting once the agent will not be free soon
  if st == 'not_ready' or st == 'logged_out' then releasePref(a) end
end

local function readyScore(g, a)
  local gk = K('grp', g)
  local strat = redis.call('HGET', gk, 'strat') or 'longest_idle'
  local mem = redis.call('HGET', gk .. ':mem', a)
  if not mem then return nil end
  local pos, prof = string.match(mem, '([^|]+)|([^|]+)')
  pos = tonumber(pos); prof = tonumber(prof)
  local v = redis.call('HMGET', K('agt', a), 'rdy', 'calls', 'day')
  local rdy = (tonumber(v[1]) or NOW) - EPOCH
  if strat == 'round_robin' or strat == 'sequential' then return pos end
  if strat == 'fewest_calls' then
    local calls = 0
    if v[3] == ARGV[4] then calls = tonumber(v[2]) or 0 end
    return calls * 1e12 + rdy
  end
  if strat == 'best_proficiency' then return (5 - prof) * 1e12 + rdy end
  if strat == 'random' then return 0 end
  return rdy
end

local function addToReady(a)
  for _, g in ipairs(redis.call('HKEYS', K('agt', a, 'grp'))) do
    local s = readyScore(g, a)
    if s then redis.call('ZADD', K('grp', g, 'rdy'), s, a) end
  end
end

local function removeFromReady(a)
  for _, g in ipairs(redis.call('HKEYS', K('agt', a, 'grp'))) do
    redis.call('ZREM', K('grp', g, 'rdy'), a)
  end
end

local function missed(callId, a)
  return redis.call('SISMEMBER', K('call', callId, 'miss'), a) == 1
end

local function agentInfo(a)
  local v = redis.call('HMGET', K('agt', a), 'ep', 'addr', 'ck', 'gw', 'ext', 'aa')
  return {a, v[1] or 'sip', v[2] or '', v[3] or '', v[4] or '', v[5] or '', v[6] or ''}
end

-- Mark the call and its agent(s) reserved for one offer; the match goes back to the node that owns the call.
local function reserve(callId, agents)
  local ck = K('call', callId)
  local c = redis.call('HMGET', ck, 'g', 'node', 't', 'pa', 'caller', 'pop', 'arr')
  local g = c[1]
  redis.call('ZREM', K('grp', g, 'q'), callId)
  if c[4] and c[4] ~= '' then redis.call('ZREM', K('agt', c[4], 'pref'), callId) end
  redis.call('SREM', K('orphans'), callId)
  redis.call('HSET', ck, 'st', 'offering', 'off', table.concat(agents, ','), 'offAt', NOW)
  local gk = K('grp', g)
  local gv = redis.call('HMGET', gk, 'strat', 'noans', 'name')
  local infos = {}
  for i, a in ipairs(agents) do
    removeFromReady(a)
    setState(a, 'reserved', '')
    -- the reservation's call and owner node go with the transition (current-state table, mirrors on other nodes)
    TRANS[#TRANS][8] = callId
    TRANS[#TRANS][9] = c[2] or ''
    redis.call('HSET', K('agt', a), 'call', callId)
    infos[i] = agentInfo(a)
  end
  if gv[1] == 'round_robin' then
    local mem = redis.call('HGET', gk .. ':mem', agents[1])
    if mem then redis.call('HSET', gk, 'rr', string.match(mem, '([^|]+)|')) end
  end
  MATCHES[#MATCHES + 1] = {callId, c[2] or '', g, c[3] or '', c[5] or '', c[6] or '', tostring(NOW - tonumber(c[7] or NOW)), gv[2] or '20000', gv[1] or '', infos}
end

local function firstNotMissed(list, callId)
  for _, a in ipairs(list) do
    if not missed(callId, a) then return a end
  end
  return nil
end

-- Which ready agent(s) of group g get this call, per the group's strategy.
local function pickAgents(g, callId)
  local gk = K('grp', g)
  local rk = gk .. ':rdy'
  local strat = redis.call('HGET', gk, 'strat') or 'longest_idle'
  if strat == 'ring_all' then
    local out = {}
    for _, a in ipairs(redis.call('ZRANGE', rk, 0, 63)) do
      if not missed(callId, a) then out[#out + 1] = a end
    end
    return out
  end
  if strat == 'random' then
    local n = redis.call('ZCARD', rk)
    if n == 0 then return {} end
    local start = math.floor(RAND * n)
    for i = 0, math.min(n, 16) - 1 do
      local idx = (start + i) % n
      local a = redis.call('ZRANGE', rk, idx, idx)[1]
      if a and not missed(callId, a) then return {a} end
    end
    return {}
  end
  if strat == 'round_robin' then
    local last = redis.call('HGET', gk, 'rr') or '-1'
    local a = firstNotMissed(redis.call('ZRANGEBYSCORE', rk, '(' .. last, '+inf', 'LIMIT', 0, 16), callId)
    if not a then a = firstNotMissed(redis.call('ZRANGE', rk, 0, 15), callId) end
    if a then return {a} end
    return {}
  end
  local a = firstNotMissed(redis.call('ZRANGE', rk, 0, 15), callId)
  if a then return {a} end
  return {}
end

local function matchCall(callId)
  local g = redis.call('HGET', K('call', callId), 'g')
  local agents = pickAgents(g, callId)
  if #agents == 0 then return false end
  reserve(callId, agents)
  return true
end

local function queueCall(callId)
  local ck = K('call', callId)
  local v = redis.call('HMGET', ck, 'g', 'sc')
  redis.call('HSET', ck, 'st', 'waiting', 'off', '')
  redis.call('ZADD', K('grp', v[1], 'q'), tonumber(v[2]), callId)
end

-- The best waiting call for an agent who just became free: a caller waiting for them by name first,
-- then across all their groups the highest effective priority (priority + aging), earliest arrival on a tie.
local function matchAgent(a)
  for _, callId in ipairs(redis.call('ZRANGE', K('agt', a, 'pref'), 0, 7)) do
    if not missed(callId, a) then
      reserve(callId, {a})
      return true
    end
  end
  local best, bestEff, bestArr = nil, nil, nil
  for _, g in ipairs(redis.call('HKEYS', K('agt', a, 'grp'))) do
    local aging = tonumber(redis.call('HGET', K('grp', g), 'aging') or '0') or 0
    for _, callId in ipairs(redis.call('ZRANGE', K('grp', g, 'q'), 0, 7)) do
      local eff, arr = effPriority(K('call', callId), aging)
      if not eff then
        -- a queue entry without its call (should not happen): drop it rather than fail every match
        redis.call('ZREM', K('grp', g, 'q'), callId)
      elseif not missed(callId, a) then
        if not best or eff > bestEff or (eff == bestEff and arr < bestArr) then
          best, bestEff, bestArr = callId, eff, arr
        end
        break
      end
    end
  end
  if best then
    reserve(best, {a})
    return true
  end
  return false
end

-- The agent is free again: a pending not-ready wins, else take a waiting call at once, else join the ready sets.
local function becomeFree(a)
  local ak = K('agt', a)
  redis.call('HDEL', ak, 'call')
  local pnr = redis.call('HGET', ak, 'pnr')
  if pnr then
    redis.call('HDEL', ak, 'pnr')
    removeFromReady(a)
    setState(a, 'not_ready', pnr)
    return
  end
  redis.call('HSET', ak, 'rdy', NOW)
  if matchAgent(a) then return end
  setState(a, 'ready', '')
  addToReady(a)
end

releasePref = function(a)
  local pk = K('agt', a, 'pref')
  local calls = redis.call('ZRANGE', pk, 0, -1)
  if #calls == 0 then return end
  redis.call('DEL', pk)
  for _, callId in ipairs(calls) do
    local ck = K('call', callId)
    if redis.call('HGET', ck, 'st') == 'pref' then
      redis.call('HSET', ck, 'pa', '')
      if not matchCall(callId) then queueCall(callId) end
    end
  end
end

local function releaseOffered(callId, except)
  local off = redis.call('HGET', K('call', callId), 'off')
  for _, a in ipairs(split(off)) do
    if a ~= except and redis.call('HGET', K('agt', a), 'call') == callId then becomeFree(a) end
  end
end

-- The caller left while their agent's originate may still be inside the switch (the agent leg not created yet,
-- so nothing to kill): the agent stays reserved, marked with the call, until the owner node's executor says that
-- originate ended (offerReleased), or the owner node is gone (adopt). Else the next offer could ring the same phone
-- while the first originate is still pending. The same for 代答 (the picker, \`except\`, is not held).
local function holdWithdrawn(callId, node, except)
  local off = redis.call('HGET', K('call', callId), 'off')
  for _, a in ipairs(split(off)) do
    local ak = K('agt', a)
    if a ~= except and redis.call('HGET', ak, 'call') == callId then
      redis.call('HSET', ak, 'wd', callId, 'wdn', node)
      redis.call('SADD', K('node', node, 'wd'), a)
    end
  end
end

-- Free an agent held by holdWithdrawn (their originate ended): ready, or the not-ready they asked for meanwhile.
local function releaseWithdrawn(a, callId)
  local ak = K('agt', a)
  local v = redis.call('HMGET', ak, 'wd', 'wdn', 'st', 'call')
  if not v[1] or (callId and v[1] ~= callId) then return false end
  redis.call('HDEL', ak, 'wd', 'wdn')
  if v[2] then redis.call('SREM', K('node', v[2], 'wd'), a) end
  if (v[3] == 'reserved' or v[3] == 'ringing') and v[4] == v[1] then becomeFree(a) end
  return true
end

-- Agents restored reserved/ringing for a call of this node (routing rebuilt after Redis lost it): those whose offer
-- nobody put back (its owner had ended that offer, or is dead) are freed, to ready, without a miss. A caller still
-- waiting (enqueued again) may then be offered to them at once.
local function releaseReservations(node)
  local out = {}
  local rk = K('node', node, 'rsv')
  for _, a in ipairs(redis.call('SMEMBERS', rk)) do
    local ak = K('agt', a)
    local v = redis.call('HMGET', ak, 'st', 'call', 'wd', 'rsn')
    if v[4] == node then redis.call('HDEL', ak, 'rsn') end
    if v[4] == node and (v[1] == 'reserved' or v[1] == 'ringing') and not v[3]
      and (not v[2] or redis.call('HGET', K('call', v[2]), 'st') ~= 'offering') then
      becomeFree(a)
      out[#out + 1] = a
    end
  end
  redis.call('DEL', rk)
  return out
end

local function dropCall(callId)
  local ck = K('call', callId)
  local node = redis.call('HGET', ck, 'node')
  if node then redis.call('SREM', K('node', node, 'calls'), callId) end
  redis.call('SREM', K('orphans'), callId)
  redis.call('DEL', ck, ck .. ':miss')
end

local function result(kind, extra)
  return {kind, MATCHES, TRANS, extra or {}}
end
`;

/** ARGV: P now rand today | callId tenant group prio arrival node caller pop prefAgent vip checkLength */
const ENQUEUE = String.raw`
local callId, tenant, g = ARGV[5], ARGV[6], ARGV[7]
local prio, arr, node, caller, pop, pa = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10], ARGV[11], ARGV[12], ARGV[13]
local vip, checkLen = ARGV[14] == '1', ARGV[15] == '1'
local ck = K('call', callId)
local prevSt = redis.call('HGET', ck, 'st')
-- a talking call may be queued again (transferred to a skill group); anything else is already queued
if prevSt and prevSt ~= 'talking' then return result('duplicate') end
local gk = K('grp', g)
local gv = redis.call('HMGET', gk, 'prio', 'aging', 'maxlen', 'vip', 'prevOn', 'prevWait', 't', 'maxwait')
if not gv[7] then return result('no_group') end
if gv[7] ~= tenant then return result('no_group') end
local maxlen = tonumber(gv[3] or '0') or 0
if checkLen and maxlen > 0 and redis.call('ZCARD', gk .. ':q') >= maxlen then return result('full') end
prio = prio + (tonumber(gv[1]) or 0)
if vip then prio = prio + (tonumber(gv[4]) or 0) end
local aging = tonumber(gv[2]) or 0
local sc = callScore(prio, arr, aging)
if pa == '' and gv[5] == '1' and caller ~= '' then
  if redis.call('EXISTS', K('prev', tenant, 'built')) == 0 then return result('rebuild_prev') end
  pa = redis.call('GET', K('prev', tenant, caller)) or ''
end
if prevSt then redis.call('DEL', ck, ck .. ':miss') end
redis.call('HSET', ck, 't', tenant, 'g', g, 'p', prio, 'arr', arr, 'sc', sc, 'node', node, 'st', 'waiting',
  'caller', caller, 'pop', pop, 'pa', pa, 'off', '')
redis.call('SADD', K('node', node, 'calls'), callId)
local maxwait = gv[8] or ''
if pa ~= '' then
  local ast = redis.call('HGET', K('agt', pa), 'st')
  if ast == 'ready' and redis.call('HGET', K('agt', pa), 't') == tenant then
    reserve(callId, {pa})
    return result('offered', {maxwait, pa})
  end
  local wait = tonumber(gv[6] or '0') or 0
  local sameTenant = redis.call('HGET', K('agt', pa), 't') == tenant
  if wait > 0 and sameTenant and (ast == 'reserved' or ast == 'ringing' or ast == 'talking' or ast == 'wrap_up') then
    redis.call('HSET', ck, 'st', 'pref')
    redis.call('ZADD', K('agt', pa, 'pref'), arr, callId)
    return result('waiting_for_agent', {maxwait, pa, tostring(wait)})
  end
  redis.call('HSET', ck, 'pa', '')
end
if matchCall(callId) then return result('offered', {maxwait}) end
redis.call('ZADD', gk .. ':q', sc, callId)
return result('queued', {maxwait, tostring(redis.call('ZRANK', gk .. ':q', callId) + 1)})
`;

/** The busy previous agent did not free up within T: the caller joins the group queue with their arrival time. */
const PREF_TIMEOUT = String.raw`
local callId = ARGV[5]
local ck = K('call', callId)
local v = redis.call('HMGET', ck, 'st', 'pa')
if v[1] ~= 'pref' then return result('stale') end
redis.call('ZREM', K('agt', v[2], 'pref'), callId)
redis.call('HSET', ck, 'pa', '')
if matchCall(callId) then return result('offered') end
queueCall(callId)
return result('queued')
`;

/** ARGV: ... | agent tenant ep addr ck gw ext reason */
const LOGIN = String.raw`
local a, tenant = ARGV[5], ARGV[6]
local ak = K('agt', a)
local st = redis.call('HGET', ak, 'st')
if st and st ~= 'logged_out' then
  redis.call('HSET', ak, 'ep', ARGV[7], 'addr', ARGV[8], 'ck', ARGV[9], 'gw', ARGV[10], 'ext', ARGV[11], 'aa', ARGV[13] or '')
  return result('already')
end
redis.call('HSET', ak, 't', tenant, 'ep', ARGV[7], 'addr', ARGV[8], 'ck', ARGV[9], 'gw', ARGV[10], 'ext', ARGV[11],
  'miss', 0, 'aa', ARGV[13] or '')
redis.call('HDEL', ak, 'pnr', 'off', 'call', 'pd')
if ARGV[11] ~= '' then redis.call('HSET', K('ext', tenant), ARGV[11], a) end
redis.call('SADD', K('ten', tenant, 'agents'), a)
setState(a, 'not_ready', ARGV[12])
return result('ok')
`;

/** ARGV: ... | agent */
const READY = String.raw`
local a = ARGV[5]
local ak = K('agt', a)
local st = redis.call('HGET', ak, 'st')
if not st or st == 'logged_out' then return result('logged_out') end
if st == 'ready' then return result('ok') end
if st == 'not_ready' then
  -- the phone is unregistered: ready would show the agent available while unreachable
  if redis.call('HGET', ak, 'pd') == '1' then return result('phone_offline') end
  redis.call('HSET', ak, 'miss', 0)
  redis.call('HDEL', ak, 'pnr', 'off')
  becomeFree(a)
  return result('ok')
end
-- asked during a call: cancel a pending not-ready instead
redis.call('HDEL', ak, 'pnr')
return result('pending')
`;

/** ARGV: ... | agent reason */
const NOT_READY = String.raw`
local a, reason = ARGV[5], ARGV[6]
local ak = K('agt', a)
local st = redis.call('HGET', ak, 'st')
if not st or st == 'logged_out' then return result('logged_out') end
if st == 'ready' or st == 'not_ready' then
  removeFromReady(a)
  if st == 'not_ready' and redis.call('HGET', ak, 'rs') == reason then return result('ok') end
  setState(a, 'not_ready', reason)
  return result('ok')
end
redis.call('HSET', ak, 'pnr', reason)
return result('pending')
`;

/** ARGV: ... | agent force */
const LOGOUT = String.raw`
local a = ARGV[5]
local ak = K('agt', a)
local st = redis.call('HGET', ak, 'st')
if not st or st == 'logged_out' then return result('ok') end
-- forced (supervisor) sign-out may end wrap-up or leave a talking call, never withdraw a ringing offer
if st == 'reserved' or st == 'ringing' then return result('busy') end
if st ~= 'ready' and st ~= 'not_ready' and ARGV[6] ~= '1' then return result('busy') end
removeFromReady(a)
redis.call('ZREM', K('wrap'), a)
local moved = {}
for _, callId in ipairs(redis.call('ZRANGE', K('agt', a, 'pref'), 0, -1)) do
  redis.call('HSET', K('call', callId), 'pa', '')
  moved[#moved + 1] = callId
end
redis.call('DEL', K('agt', a, 'pref'))
for _, callId in ipairs(moved) do
  if not matchCall(callId) then queueCall(callId) end
end
local t, ext = unpack(redis.call('HMGET', ak, 't', 'ext'))
if t and ext and ext ~= '' and redis.call('HGET', K('ext', t), ext) == a then redis.call('HDEL', K('ext', t), ext) end
if t then redis.call('SREM', K('ten', t, 'agents'), a) end
redis.call('HDEL', ak, 'pnr', 'off', 'call')
setState(a, 'logged_out', '')
return result('ok')
`;

/** ARGV: ... | callId reason maxMisses countsAsMiss  (reason: no_answer|rejected|unreachable|error) */
const OFFER_FAILED = String.raw`
local callId, reason, maxMisses, counts = ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8] == '1'
local ck = K('call', callId)
if redis.call('HGET', ck, 'st') ~= 'offering' then return result('stale') end
local agents = split(redis.call('HGET', ck, 'off'))
for _, a in ipairs(agents) do
  if counts then redis.call('SADD', ck .. ':miss', a) end
end
redis.call('EXPIRE', ck .. ':miss', 86400)
-- the caller goes back with their position, and straight to the next agent
if not matchCall(callId) then queueCall(callId) end
local out = {}
for _, a in ipairs(agents) do
  local ak = K('agt', a)
  if redis.call('HGET', ak, 'call') == callId then
    local misses = redis.call('HGET', ak, 'miss') or '0'
    if counts then misses = redis.call('HINCRBY', ak, 'miss', 1) end
    out[#out + 1] = a .. ':' .. misses
    if reason == 'unreachable' then
      redis.call('HDEL', ak, 'call')
      redis.call('HSET', ak, 'off', 'ready|')
      setState(a, 'not_ready', '话机离线')
    elseif counts and tonumber(misses) >= maxMisses then
      redis.call('HDEL', ak, 'call', 'pnr')
      setState(a, 'not_ready', '未接')
    else
      becomeFree(a)
    end
  end
end
return result('requeued', out)
`;

/** ARGV: ... | callId agent */
const ANSWERED = String.raw`
local callId, a = ARGV[5], ARGV[6]
local ck = K('call', callId)
local v = redis.call('HMGET', ck, 'st', 'off', 't', 'caller', 'node', 'arr', 'g')
if v[1] ~= 'offering' or redis.call('HGET', K('agt', a), 'call') ~= callId then return result('stale') end
redis.call('HSET', ck, 'st', 'talking', 'ag', a)
redis.call('SREM', K('node', v[5], 'calls'), callId)
local ak = K('agt', a)
if redis.call('HGET', ak, 'day') ~= ARGV[4] then redis.call('HSET', ak, 'day', ARGV[4], 'calls', 0) end
redis.call('HINCRBY', ak, 'calls', 1)
redis.call('HSET', ak, 'miss', 0)
setState(a, 'talking', '')
local gv = redis.call('HMGET', K('grp', v[7]), 'prevOn', 'prevWin')
local ttl = tonumber(gv[2] or '0') or 0
if gv[1] == '1' and ttl > 0 and v[4] ~= '' then redis.call('SET', K('prev', v[3], v[4]), a, 'PX', ttl) end
releaseOffered(callId, a)
return result('ok', {v[7], tostring(NOW - tonumber(v[6]))})
`;

/** The agent's phone rings for the offer (CHANNEL_PROGRESS on the agent leg): reserved → ringing. ARGV: ... | agent callId */
const RINGING = String.raw`
local a, callId = ARGV[5], ARGV[6]
local v = redis.call('HMGET', K('agt', a), 'st', 'call')
if v[1] ~= 'reserved' or v[2] ~= callId then return result('stale') end
setState(a, 'ringing', '')
return result('ok')
`;

/**
 * 代答: another agent picked the call up (intercept) while it was offered or waiting. The agents being offered it
 * stay reserved (holdWithdrawn) until the owner node's originate to them ended (offerReleased), then are freed
 * without a miss: their phones may still ring. The picker is talking on it (so nothing else is offered to them).
 * ARGV: ... | callId picker
 */
const PICKED_UP = String.raw`
local callId, b = ARGV[5], ARGV[6]
local ck = K('call', callId)
local v = redis.call('HMGET', ck, 'st', 'g', 'pa', 'arr', 't', 'caller', 'node')
if not v[1] then return result('unknown') end
if v[1] == 'talking' then return result('talking') end
redis.call('ZREM', K('grp', v[2], 'q'), callId)
if v[3] and v[3] ~= '' then redis.call('ZREM', K('agt', v[3], 'pref'), callId) end
redis.call('SREM', K('orphans'), callId)
if v[1] == 'offering' then holdWithdrawn(callId, v[7] or '', b) end
redis.call('HSET', ck, 'st', 'talking', 'ag', b)
redis.call('SREM', K('node', v[7], 'calls'), callId)
local bk = K('agt', b)
local bv = redis.call('HMGET', bk, 'st', 'call')
if bv[1] == 'ready' or bv[1] == 'not_ready' or bv[1] == 'wrap_up' or bv[2] == callId then
  removeFromReady(b)
  redis.call('ZREM', K('wrap'), b)
  redis.call('HDEL', bk, 'wu')
  if redis.call('HGET', bk, 'day') ~= ARGV[4] then redis.call('HSET', bk, 'day', ARGV[4], 'calls', 0) end
  redis.call('HINCRBY', bk, 'calls', 1)
  redis.call('HSET', bk, 'call', callId, 'miss', 0)
  setState(b, 'talking', '')
end
return result('ok', {v[1], v[2], tostring(NOW - tonumber(v[4])), v[5], v[6], v[7] or ''})
`;

/**
 * A call handed to an agent by call control (blind transfer): 'reserve' takes a ready agent off the ready lists
 * atomically (so the ACD cannot offer them a call at the same moment), 'answered' makes them talking,
 * 'failed' frees them. ARGV: ... | agent callId op
 */
const TRANSFER_AGENT = String.raw`
local a, callId, op = ARGV[5], ARGV[6], ARGV[7]
local ak = K('agt', a)
local v = redis.call('HMGET', ak, 'st', 'call')
if op == 'reserve' then
  if v[1] ~= 'ready' then return result('busy', {v[1] or 'logged_out'}) end
  removeFromReady(a)
  redis.call('HSET', ak, 'call', callId)
  -- the call's group, for the agent's wrap-up: its routing record goes when the transferring agent leaves
  local g = redis.call('HGET', K('call', callId), 'g')
  if g then redis.call('HSET', ak, 'cg', g) else redis.call('HDEL', ak, 'cg') end
  setState(a, 'reserved', '')
  return result('ok')
end
-- 'failed' also frees a consulted agent who talked (the consultation was cancelled or ended)
local talkingFreed = op == 'failed' and v[1] == 'talking'
if v[2] ~= callId or (v[1] ~= 'reserved' and v[1] ~= 'ringing' and not talkingFreed) then return result('stale') end
if op == 'answered' then
  if redis.call('HGET', ak, 'day') ~= ARGV[4] then redis.call('HSET', ak, 'day', ARGV[4], 'calls', 0) end
  redis.call('HINCRBY', ak, 'calls', 1)
  redis.call('HSET', ak, 'miss', 0)
  setState(a, 'talking', '')
  return result('ok')
end
redis.call('HDEL', ak, 'cg')
becomeFree(a)
return result('ok')
`;

/** ARGV: ... | agent callId wrapMs(-1 = the group's) talkMs */
const CALL_ENDED = String.raw`
local a, callId, wrap, talk = ARGV[5], ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local ak = K('agt', a)
local ck = K('call', callId)
local g = redis.call('HGET', ck, 'g')
if redis.call('HGET', ak, 'call') == callId then
  -- a call handed to this agent by a transfer: its group was noted at the reservation
  g = g or redis.call('HGET', ak, 'cg')
  redis.call('HDEL', ak, 'cg')
end
if wrap < 0 then
  wrap = 0
  if g then wrap = tonumber(redis.call('HGET', K('grp', g), 'wrap') or '0') or 0 end
end
if g and talk >= 0 then
  local gk = K('grp', g)
  local aht = tonumber(redis.call('HGET', gk, 'aht') or '')
  local handle = talk + wrap
  if aht then aht = aht * 0.8 + handle * 0.2 else aht = handle end
  redis.call('HSET', gk, 'aht', math.floor(aht))
end
if redis.call('HGET', ck, 'st') == 'talking' then dropCall(callId) end
if redis.call('HGET', ak, 'st') ~= 'talking' or redis.call('HGET', ak, 'call') ~= callId then return result('stale') end
if wrap > 0 then
  setState(a, 'wrap_up', '')
  redis.call('HSET', ak, 'wu', NOW + wrap)
  redis.call('ZADD', K('wrap'), NOW + wrap, a)
  return result('wrap_up', {tostring(NOW + wrap)})
end
becomeFree(a)
return result('ok')
`;

/** ARGV: ... | agent force */
const WRAP_DONE = String.raw`
local a = ARGV[5]
local ak = K('agt', a)
if redis.call('HGET', ak, 'st') ~= 'wrap_up' then return result('stale') end
local wu = tonumber(redis.call('HGET', ak, 'wu') or '0')
if ARGV[6] ~= '1' and NOW < wu then return result('early', {tostring(wu)}) end
redis.call('ZREM', K('wrap'), a)
redis.call('HDEL', ak, 'wu')
becomeFree(a)
return result('ok')
`;

/**
 * The caller hung up: remove them wherever they are. Agents being offered the call stay reserved (holdWithdrawn)
 * until the owner node's originate for it ended (offerReleased). ARGV: ... | callId
 */
const ABANDON = String.raw`
local callId = ARGV[5]
local ck = K('call', callId)
local v = redis.call('HMGET', ck, 'st', 'g', 'pa', 'arr', 't', 'caller', 'off', 'node')
if not v[1] then return result('unknown') end
if v[1] == 'talking' then return result('talking') end
redis.call('ZREM', K('grp', v[2], 'q'), callId)
if v[3] and v[3] ~= '' then redis.call('ZREM', K('agt', v[3], 'pref'), callId) end
if v[1] == 'offering' then
  redis.call('HSET', ck, 'st', 'gone')
  holdWithdrawn(callId, v[8] or '')
end
dropCall(callId)
return result('ok', {v[1], v[2], tostring(NOW - tonumber(v[4])), v[5], v[6], v[7] or '', v[8] or ''})
`;

/**
 * The executor's originate for a withdrawn offer ended: free its agents still held for it. With force (routing
 * rebuilt after Redis lost it, so the marker is gone too), an agent restored reserved without a call is freed.
 * ARGV: ... | callId agents(csv) force
 */
const OFFER_RELEASED = String.raw`
local callId, force = ARGV[5], ARGV[7] == '1'
local out = {}
for _, a in ipairs(split(ARGV[6])) do
  if releaseWithdrawn(a, callId) then
    out[#out + 1] = a
  elseif force then
    local v = redis.call('HMGET', K('agt', a), 'st', 'call')
    if (v[1] == 'reserved' or v[1] == 'ringing') and (not v[2] or v[2] == callId) then
      becomeFree(a)
      out[#out + 1] = a
    end
  end
end
return result('ok', out)
`;

/** Take a waiting call out for overflow (max wait reached). Not while an offer is ringing. ARGV: ... | callId */
const TAKE_FOR_OVERFLOW = String.raw`
local callId = ARGV[5]
local ck = K('call', callId)
local v = redis.call('HMGET', ck, 'st', 'g', 'pa', 'arr', 't', 'caller', 'pop', 'node')
if v[1] ~= 'waiting' and v[1] ~= 'pref' and v[1] ~= 'orphan' then return result('busy', {v[1] or ''}) end
redis.call('ZREM', K('grp', v[2], 'q'), callId)
if v[3] and v[3] ~= '' then redis.call('ZREM', K('agt', v[3], 'pref'), callId) end
dropCall(callId)
return result('ok', {v[2], v[4], v[5], v[6], v[7] or '', v[8] or ''})
`;

/** The owner node did not hear the offer: park the call as an orphan (keeps its score) and free the agents. */
const ORPHAN = String.raw`
local callId = ARGV[5]
local ck = K('call', callId)
if redis.call('HGET', ck, 'st') ~= 'offering' then return result('stale') end
redis.call('HSET', ck, 'st', 'orphan')
redis.call('SADD', K('orphans'), callId)
local off = split(redis.call('HGET', ck, 'off'))
redis.call('HSET', ck, 'off', '')
for _, a in ipairs(off) do
  if redis.call('HGET', K('agt', a), 'call') == callId then becomeFree(a) end
end
return result('ok')
`;

/**
 * A (re)started node takes back its waiting callers, or a node takes over those of a dead node (whose parked
 * channels it has re-attached). ARGV: ... | fromNode toNode  → extra: per call "id|state|group|arr|tenant|pa"
 */
const ADOPT = String.raw`
local node, to = ARGV[5], ARGV[6]
local out = {}
-- agents restored reserved for a call of that node which it never put back
if node ~= to then releaseReservations(node) end
-- originates of withdrawn offers died with the node (or the restarted node forgot them): free their agents
for _, a in ipairs(redis.call('SMEMBERS', K('node', node, 'wd'))) do
  if not releaseWithdrawn(a, nil) then redis.call('SREM', K('node', node, 'wd'), a) end
end
for _, callId in ipairs(redis.call('SMEMBERS', K('node', node, 'calls'))) do
  local ck = K('call', callId)
  if to ~= node and redis.call('EXISTS', ck) == 1 then
    redis.call('SMOVE', K('node', node, 'calls'), K('node', to, 'calls'), callId)
    redis.call('HSET', ck, 'node', to)
  end
  local v = redis.call('HMGET', ck, 'st', 'g', 'arr', 't', 'pa')
  if not v[1] then
    redis.call('SREM', K('node', node, 'calls'), callId)
  else
    if v[1] == 'offering' then
      -- the offer died with the node: not the agents' fault
      local off = split(redis.call('HGET', ck, 'off'))
      queueCall(callId)
      for _, a in ipairs(off) do
        if redis.call('HGET', K('agt', a), 'call') == callId then becomeFree(a) end
      end
    elseif v[1] == 'orphan' then
      redis.call('SREM', K('orphans'), callId)
      if not matchCall(callId) then queueCall(callId) end
    end
    local st = redis.call('HGET', ck, 'st')
    out[#out + 1] = callId .. '|' .. st .. '|' .. v[2] .. '|' .. v[3] .. '|' .. v[4] .. '|' .. (v[5] or '')
  end
end
return result('ok', out)
`;

/** Offer waiting calls of a group to its ready agents (after a config change or re-adoption). ARGV: ... | group */
const MATCH_GROUP = String.raw`
local g = ARGV[5]
local qk = K('grp', g, 'q')
local n = 0
local skip = 0
while n < 200 do
  local head = redis.call('ZRANGE', qk, skip, skip)[1]
  if not head then break end
  if redis.call('ZCARD', K('grp', g, 'rdy')) == 0 then break end
  if matchCall(head) then n = n + 1 else skip = skip + 1 end
  if skip > 16 then break end
end
return result('ok')
`;

/**
 * Upsert a group's routing config and members. ARGV: ... | group tenant routingJson fullConfigJson
 * json: {name,strat,prio,aging,vip,maxlen,maxwait,noans,prevOn,prevWait,prevWin,wrap,members:[[agent,pos,prof],...]}
 */
const SET_GROUP = String.raw`
local g, tenant = ARGV[5], ARGV[6]
local cfg = cjson.decode(ARGV[7])
local gk = K('grp', g)
local oldPrio = tonumber(redis.call('HGET', gk, 'prio') or '0') or 0
local oldAging = tonumber(redis.call('HGET', gk, 'aging') or '0') or 0
redis.call('HSET', gk, 't', tenant, 'name', cfg.name, 'strat', cfg.strat, 'prio', cfg.prio, 'aging', cfg.aging,
  'vip', cfg.vip, 'maxlen', cfg.maxlen, 'maxwait', cfg.maxwait, 'noans', cfg.noans, 'prevOn', cfg.prevOn,
  'prevWait', cfg.prevWait, 'prevWin', cfg.prevWin, 'wrap', cfg.wrap, 'cfg', ARGV[8])
-- waiting calls keep their arrival; re-fold the new priority/aging into their scores
local qk = gk .. ':q'
if oldPrio ~= cfg.prio or oldAging ~= cfg.aging then
  for _, callId in ipairs(redis.call('ZRANGE', qk, 0, -1)) do
    local ck = K('call', callId)
    local v = redis.call('HMGET', ck, 'p', 'arr')
    local p = tonumber(v[1]) - oldPrio + cfg.prio
    local sc = callScore(p, tonumber(v[2]), cfg.aging)
    redis.call('HSET', ck, 'p', p, 'sc', sc)
    redis.call('ZADD', qk, sc, callId)
  end
end
local mk = gk .. ':mem'
local keep = {}
for _, m in ipairs(cfg.members) do keep[m[1]] = m[2] .. '|' .. m[3] end
for _, a in ipairs(redis.call('HKEYS', mk)) do
  if not keep[a] then
    redis.call('HDEL', mk, a)
    redis.call('HDEL', K('agt', a, 'grp'), g)
    redis.call('ZREM', gk .. ':rdy', a)
  end
end
redis.call('DEL', gk .. ':rdy')
for a, v in pairs(keep) do
  redis.call('HSET', mk, a, v)
  redis.call('HSET', K('agt', a, 'grp'), g, 1)
end
for a, _ in pairs(keep) do
  if redis.call('HGET', K('agt', a), 'st') == 'ready' then
    local s = readyScore(g, a)
    if s then redis.call('ZADD', gk .. ':rdy', s, a) end
  end
end
local n, skip = 0, 0
while n < 200 do
  local head = redis.call('ZRANGE', qk, skip, skip)[1]
  if not head or redis.call('ZCARD', gk .. ':rdy') == 0 then break end
  if matchCall(head) then n = n + 1 else skip = skip + 1 end
  if skip > 16 then break end
end
return result('ok')
`;

/** Remove a group: waiting callers are handed back (extra) for the caller to overflow them. ARGV: ... | group */
const DELETE_GROUP = String.raw`
local g = ARGV[5]
local gk = K('grp', g)
for _, a in ipairs(redis.call('HKEYS', gk .. ':mem')) do redis.call('HDEL', K('agt', a, 'grp'), g) end
local waiting = redis.call('ZRANGE', gk .. ':q', 0, -1)
redis.call('DEL', gk, gk .. ':mem', gk .. ':rdy', gk .. ':q')
return result('ok', waiting)
`;

/** ARGV: ... | tenant extension online(1/0) */
const PHONE = String.raw`
local tenant, ext, online = ARGV[5], ARGV[6], ARGV[7] == '1'
local a = redis.call('HGET', K('ext', tenant), ext)
if not a then return result('unknown') end
local ak = K('agt', a)
local v = redis.call('HMGET', ak, 'st', 'rs', 'ep', 'off', 'pnr')
if not v[1] or v[1] == 'logged_out' or v[3] == 'mobile' then return result('ignored', {a}) end
if not online then
  redis.call('HSET', ak, 'pd', '1')
  if v[1] == 'ready' or v[1] == 'not_ready' then
    if v[1] == 'not_ready' and v[2] == '话机离线' then return result('ok', {a}) end
    redis.call('HSET', ak, 'off', v[1] .. '|' .. (v[2] or ''))
    removeFromReady(a)
    setState(a, 'not_ready', '话机离线')
  else
    redis.call('HSET', ak, 'off', 'ready|', 'pnr', '话机离线')
  end
  return result('ok', {a})
end
redis.call('HDEL', ak, 'pd')
if v[5] == '话机离线' then redis.call('HDEL', ak, 'pnr') end
if v[1] == 'not_ready' and v[2] == '话机离线' then
  local prev = v[4] or 'ready|'
  redis.call('HDEL', ak, 'off')
  local pst, prs = string.match(prev, '([^|]*)|(.*)')
  if pst == 'ready' then becomeFree(a) else setState(a, 'not_ready', prs or '') end
end
return result('ok', {a})
`;

/**
 * Redis lost the routing state (restart without persistence, flush): put one signed-in agent back as the CTI
 * remembers them. Idempotent across nodes: an agent already present is left alone.
 * ARGV: ... | agent tenant ep addr ck gw ext state reason since wrapUntil autoAnswer(1 or empty) callId ownerNode
 * (the last two for reserved/ringing: without them the agent is freed at once → 'released')
 */
const RESTORE_AGENT = String.raw`
local a, tenant, st = ARGV[5], ARGV[6], ARGV[12]
local ak = K('agt', a)
if redis.call('HGET', ak, 'st') then return result('exists') end
redis.call('HSET', ak, 't', tenant, 'ep', ARGV[7], 'addr', ARGV[8], 'ck', ARGV[9], 'gw', ARGV[10], 'ext', ARGV[11],
  'st', st, 'rs', ARGV[13], 'since', ARGV[14], 'miss', 0, 'aa', ARGV[16] or '')
if ARGV[11] ~= '' then redis.call('HSET', K('ext', tenant), ARGV[11], a) end
redis.call('SADD', K('ten', tenant, 'agents'), a)
local callId, owner = ARGV[17] or '', ARGV[18] or ''
if (st == 'reserved' or st == 'ringing') and (callId == '' or owner == '') then
  -- nobody can end this reservation (no owner node known): free the agent now, without a miss
  redis.call('HSET', ak, 'st', 'ready', 'rs', '', 'since', NOW, 'rdy', NOW)
  addToReady(a)
  return result('released')
end
if st == 'reserved' or st == 'ringing' then
  -- the owner node puts the call back (restoreCall) or, once it rebuilt or is known dead, frees the agent
  redis.call('HSET', ak, 'call', callId, 'rsn', owner)
  redis.call('SADD', K('node', owner, 'rsv'), a)
elseif st == 'ready' then
  redis.call('HSET', ak, 'rdy', ARGV[14])
  addToReady(a)
elseif st == 'wrap_up' then
  local wu = tonumber(ARGV[15]) or NOW
  redis.call('HSET', ak, 'wu', wu)
  redis.call('ZADD', K('wrap'), wu, a)
end
return result('ok')
`;

/**
 * Redis lost the routing state: put back a call that is being offered or is talking (a waiting caller is simply
 * enqueued again with its arrival time). The agents' hashes get the call back so answer/end find it.
 * ARGV: ... | callId tenant group prio arrival node caller pop vip state offeredAgents(csv) talkingAgent
 */
const RESTORE_CALL = String.raw`
local callId, tenant, g, st = ARGV[5], ARGV[6], ARGV[7], ARGV[14]
local ck = K('call', callId)
if redis.call('EXISTS', ck) == 1 then return result('exists') end
local gv = redis.call('HMGET', K('grp', g), 'prio', 'aging', 'vip', 't')
if not gv[4] then return result('no_group') end
local prio = tonumber(ARGV[8]) + (tonumber(gv[1]) or 0)
if ARGV[13] == '1' then prio = prio + (tonumber(gv[3]) or 0) end
local arr = tonumber(ARGV[9])
redis.call('HSET', ck, 't', tenant, 'g', g, 'p', prio, 'arr', arr, 'sc', callScore(prio, arr, tonumber(gv[2]) or 0),
  'node', ARGV[10], 'st', st, 'caller', ARGV[11], 'pop', ARGV[12], 'pa', '', 'off', ARGV[15])
local agents = {}
if st == 'offering' then
  redis.call('HSET', ck, 'offAt', NOW)
  redis.call('SADD', K('node', ARGV[10], 'calls'), callId)
  agents = split(ARGV[15])
elseif st == 'talking' then
  redis.call('HSET', ck, 'ag', ARGV[16])
  agents = {ARGV[16]}
end
for _, a in ipairs(agents) do
  local cur = redis.call('HMGET', K('agt', a), 'st', 'call')
  -- never take an agent meanwhile freed and reserved for another call
  if cur[1] and (not cur[2] or cur[2] == callId) then redis.call('HSET', K('agt', a), 'call', callId) end
end
return result('ok')
`;

/** This node rebuilt its calls (or a node is known dead): free agents restored reserved for its calls that no
 * call came back for. ARGV: ... | node  → extra: the agents freed */
const RELEASE_RESERVATIONS = String.raw`
return result('ok', releaseReservations(ARGV[5]))
`;

/**
 * A group's live figures in one round trip (a supervisor's view refreshes them every second; as separate reads
 * they were a thousand-command pipeline for a thousand members). Read-only.
 * ARGV: ... | group  → extra: waiting, oldest arrival ms ('' when none), ready agents, aht ('' unknown),
 * then state, count pairs over the members
 */
const GROUP_STATS = String.raw`
local gk = K('grp', ARGV[5])
local waiting = redis.call('ZRANGE', gk .. ':q', 0, -1)
local oldest, oldestText = nil, ''
for _, id in ipairs(waiting) do
  local arrText = redis.call('HGET', K('call', id), 'arr')
  local arr = arrText and tonumber(arrText)
  if arr and (not oldest or arr < oldest) then oldest, oldestText = arr, arrText end
end
local counts = {}
for _, a in ipairs(redis.call('HKEYS', gk .. ':mem')) do
  local st = redis.call('HGET', K('agt', a), 'st') or 'logged_out'
  counts[st] = (counts[st] or 0) + 1
end
local out = {tostring(#waiting), oldestText, tostring(redis.call('ZCARD', gk .. ':rdy')), redis.call('HGET', gk, 'aht') or ''}
for st, n in pairs(counts) do
  out[#out + 1] = st
  out[#out + 1] = tostring(n)
end
return result('ok', out)
`;

export const SCRIPTS = {
  groupStats: GROUP_STATS,
  releaseReservations: RELEASE_RESERVATIONS,
  enqueue: ENQUEUE,
  prefTimeout: PREF_TIMEOUT,
  login: LOGIN,
  ready: READY,
  notReady: NOT_READY,
  logout: LOGOUT,
  offerFailed: OFFER_FAILED,
  answered: ANSWERED,
  ringing: RINGING,
  pickedUp: PICKED_UP,
  transferAgent: TRANSFER_AGENT,
  callEnded: CALL_ENDED,
  wrapDone: WRAP_DONE,
  abandon: ABANDON,
  offerReleased: OFFER_RELEASED,
  takeForOverflow: TAKE_FOR_OVERFLOW,
  orphan: ORPHAN,
  adopt: ADOPT,
  matchGroup: MATCH_GROUP,
  setGroup: SET_GROUP,
  deleteGroup: DELETE_GROUP,
  phone: PHONE,
  restoreAgent: RESTORE_AGENT,
  restoreCall: RESTORE_CALL,
} as const;

export type ScriptName = keyof typeof SCRIPTS;

export function scriptSource(name: ScriptName): string {
  return LIB + SCRIPTS[name];
}
