// Compares a replayed trace: per-channel event order, key headers, command replies, background jobs, timing.
import type { Frame, ReplayResult } from './trace-replay.js';

const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** headers a CTI reads; compared whenever the real switch sent them */
export const KEY_HEADERS = [
  'Channel-State',
  'Channel-Call-State',
  'Original-Channel-Call-State',
  'Answer-State',
  'Call-Direction',
  'Hangup-Cause',
  'Application',
  'Application-Data',
  'Application-Response',
  'DTMF-Digit',
  'DTMF-Source',
  'Other-Leg-Unique-ID',
  'Bridge-A-Unique-ID',
  'Bridge-B-Unique-ID',
  'Caller-Destination-Number',
  'Playback-File-Path',
  'Playback-Status',
  'Record-File-Path',
  'Record-Completion-Cause',
  'Event-Subclass',
  'Action',
  'Member-ID',
  'Conference-Name',
  'variable_read_result',
  'variable_menu_choice',
  'variable_menu_choice_invalid',
  'variable_playback_terminator_used',
  'variable_silence_hits_exhausted',
  'variable_record_ms',
  'variable_dialed_user',
  'variable_park_after_bridge',
  'variable_origination_uuid',
  'variable_playback_ms',
  'variable_record_file_size',
  'variable_hangup_cause',
  'variable_sip_hangup_disposition',
  'variable_sip_term_status',
  'variable_bridge_uuid',
  'variable_last_bridge_to',
  'variable_signal_bond',
  // not compared: variable_call_uuid of a B leg around its hang-up depends on which leg's thread ran first
] as const;
/** numeric values compared within the timing tolerance */
const NUMERIC = new Set(['variable_record_ms', 'variable_playback_ms', 'variable_record_file_size']);

export interface Compared {
  problems: string[];
  stats: { channels: number; events: number; replies: number; jobs: number };
}

function evName(e: Record<string, string>): string {
  if (e['Event-Name'] === 'CUSTOM') return `CUSTOM ${e['Event-Subclass']}${e.Action ? ` ${e.Action}` : ''}`;
  return e['Event-Name']!;
}

function tolerance(dtSinceAnchor: number): number {
  return Math.max(500, 0.5 * dtSinceAnchor);
}

/** side-by-side of two name lists around the first difference */
function diffLists(a: string[], b: string[]): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const from = Math.max(0, i - 3);
  const rows: string[] = [];
  for (let k = from; k < Math.max(a.length, b.length) && k < i + 6; k++) {
    const mark = a[k] === b[k] ? '  ' : '≠ ';
    rows.push(`${mark}#${k} real: ${(a[k] ?? '—').padEnd(44)} emulator: ${b[k] ?? '—'}`);
  }
  return rows.join('\n');
}

export function compareReplay(r: ReplayResult, anchors: number[]): Compared {
  const problems: string[] = [];
  const { map } = r;
  const mapText = (s: string): string => s.replace(UUID_RE, (u) => map.get(u) ?? u);
  const anchorBefore = (t: number): number => {
    let a = 0;
    for (const x of anchors) if (x <= t) a = x;
    return a;
  };

  // ---- replies (per connection, non-event frames) and job pairing -----------------------------------
  const jobMap = new Map<string, string>();
  const conns = new Set([...r.expected, ...r.actual].map((f) => f.conn));
  let replies = 0;
  for (const c of conns) {
    const exp = r.expected.filter((f) => f.conn === c && !f.event);
    const act = r.actual.filter((f) => f.conn === c && !f.event);
    const n = Math.max(exp.length, act.length);
    for (let i = 0; i < n; i++) {
      const e = exp[i];
      const a = act[i];
      replies++;
      if (!e || !a) {
        problems.push(`conn ${c} reply #${i}: real ${e ? show(e) : '(none)'} / emulator ${a ? show(a) : '(none)'}`);
        continue;
      }
      const ej = e.headers['Job-UUID'];
      const aj = a.headers['Job-UUID'];
      if (ej && aj) jobMap.set(ej, aj);
      const en = normalizeReply(e, mapText, ej, aj);
      const an = normalizeReply(a, (s) => s, aj, aj);
      if (en !== an) problems.push(`conn ${c} reply #${i} differs:\n  real:     ${JSON.stringify(en).slice(0, 600)}\n  emulator: ${JSON.stringify(an).slice(0, 600)}`);
    }
  }

  // ---- background jobs ---------------------------------------------------------------------------------
  const jobsOf = (fs: Frame[]): Map<string, Record<string, string>> => {
    const m = new Map<string, Record<string, string>>();
    for (const f of fs) if (f.event && f.event['Event-Name'] === 'BACKGROUND_JOB') m.set(f.event['Job-UUID']!, f.event);
    return m;
  };
  const ej = jobsOf(r.expected);
  const aj = jobsOf(r.actual);
  let jobs = 0;
  for (const [tj, aJob] of jobMap) {
    const e = ej.get(tj);
    const a = aj.get(aJob);
    if (!e && !a) continue;
    jobs++;
    if (!e || !a) {
      problems.push(`BACKGROUND_JOB for job ${tj}: real ${e ? JSON.stringify(e._body) : 'none'}, emulator ${a ? JSON.stringify(a._body) : 'none'}`);
      continue;
    }
    const eb = normalizeBody(mapText(e._body ?? ''));
    const ab = normalizeBody(a._body ?? '');
    if (eb !== ab) problems.push(`BACKGROUND_JOB ${e['Job-Command']} ${e['Job-Command-Arg'] ?? ''}: real ${JSON.stringify(eb)} emulator ${JSON.stringify(ab)}`);
    if (e['Job-Command'] !== a['Job-Command']) problems.push(`BACKGROUND_JOB Job-Command ${e['Job-Command']} vs ${a['Job-Command']}`);
  }
  for (const [u, e] of ej) if (!jobMap.has(u)) problems.push(`BACKGROUND_JOB ${u} (${e['Job-Command']}) has no paired reply`);
  if (aj.size !== ej.size) problems.push(`BACKGROUND_JOB count: real ${ej.size}, emulator ${aj.size}`);

  // ---- per-channel events ------------------------------------------------------------------------------
  const byChan = (fs: Frame[]): Map<string, Frame[]> => {
    const m = new Map<string, Frame[]>();
    for (const f of fs) {
      const u = f.event?.['Unique-ID'];
      if (!u) continue;
      let l = m.get(u);
      if (!l) m.set(u, (l = []));
      l.push(f);
    }
    return m;
  };
  const ec = byChan(r.expected);
  const ac = byChan(r.actual);
  for (const m of [ec, ac]) for (const [u, l] of m) m.set(u, dropRaces(l));
  let events = 0;
  const usedEmu = new Set<string>();
  for (const [tu, efs] of ec) {
    const au = map.get(tu);
    const afs = (au && ac.get(au)) || [];
    if (au) usedEmu.add(au);
    const en = efs.map((f) => evName(f.event!));
    const an = afs.map((f) => evName(f.event!));
    events += en.length;
    const label = `channel ${efs[0]!.event!['Channel-Name']} (${tu.slice(0, 8)}→${(au ?? 'unmapped').slice(0, 8)})`;
    if (en.join('|') !== an.join('|')) {
      problems.push(`${label}: event order differs\n${diffLists(en, an)}`);
      continue;
    }
    for (let i = 0; i < efs.length; i++) {
      const e = efs[i]!;
      const a = afs[i]!;
      for (const h of KEY_HEADERS) {
        const ev = e.event![h];
        if (ev === undefined) continue;
        const av = a.event![h];
        const want = mapText(ev);
        if (NUMERIC.has(h) && av !== undefined) {
          const d = Math.abs(Number(av) - Number(want));
          if (d <= Math.max(500, 0.5 * Number(want))) continue;
        }
        if (av !== want) problems.push(`${label} #${i} ${en[i]}: ${h} real ${JSON.stringify(want)} emulator ${JSON.stringify(av)}`);
      }
      const dt = Math.abs(a.t - e.t);
      const tol = tolerance(e.t - anchorBefore(e.t));
      if (dt > tol) problems.push(`${label} #${i} ${en[i]}: at ${a.t.toFixed(0)} ms, real ${e.t.toFixed(0)} ms (tolerance ${tol.toFixed(0)} ms)`);
    }
  }
  for (const [u, afs] of ac) {
    if (usedEmu.has(u)) continue;
    problems.push(`emulator channel ${afs[0]!.event!['Channel-Name']} (${u.slice(0, 8)}) has ${afs.length} events, the real switch had no such channel: ${afs.map((f) => evName(f.event!)).slice(0, 8).join(', ')}`);
  }

  // ---- events without a channel: sofia registrations, conference-level, heartbeat --------------------
  const global = (fs: Frame[], pred: (e: Record<string, string>) => boolean, key: (e: Record<string, string>) => string): string[] =>
    fs.filter((f) => f.event && !f.event['Unique-ID'] && pred(f.event)).map((f) => key(f.event!));
  const sofiaKey = (e: Record<string, string>): string => `${e['Event-Subclass']} user=${e.username ?? e.user} expires=${e['Event-Subclass'] === 'sofia::expire' ? '(epoch)' : e.expires}`;
  const isSofia = (e: Record<string, string>): boolean => (e['Event-Subclass'] ?? '').startsWith('sofia::');
  const es = global(r.expected, isSofia, sofiaKey);
  const as = global(r.actual, isSofia, sofiaKey);
  if (es.join('|') !== as.join('|')) problems.push(`sofia events differ\n${diffLists(es, as)}`);
  const sofiaTimes = (fs: Frame[]): number[] => fs.filter((f) => f.event && isSofia(f.event)).map((f) => f.t);
  const et = sofiaTimes(r.expected);
  const at = sofiaTimes(r.actual);
  for (let i = 0; i < Math.min(et.length, at.length); i++) {
    const expire = es[i]?.startsWith('sofia::expire');
    const tol = expire ? 30_000 : tolerance(et[i]! - anchorBefore(et[i]!));
    if (Math.abs(et[i]! - at[i]!) > tol) problems.push(`${es[i]}: at ${at[i]!.toFixed(0)} ms, real ${et[i]!.toFixed(0)} ms`);
  }
  const isConf = (e: Record<string, string>): boolean => e['Event-Subclass'] === 'conference::maintenance';
  const confKey = (e: Record<string, string>): string => `${e.Action}${e.File ? ` ${e.File.replace(/^.*\//, '')}` : ''}`;
  const ecf = global(r.expected, isConf, confKey);
  const acf = global(r.actual, isConf, confKey);
  if (ecf.join('|') !== acf.join('|')) problems.push(`conference-level events differ\n${diffLists(ecf, acf)}`);
  const hb = (fs: Frame[]): number => fs.filter((f) => f.event?.['Event-Name'] === 'HEARTBEAT').length;
  const eh = hb(r.expected);
  const ah = hb(r.actual);
  if (Math.abs(eh - ah) > 1) problems.push(`HEARTBEAT count: real ${eh}, emulator ${ah} (every 3 s, phase arbitrary)`);

  // ---- connection closes ---------------------------------------------------------------------------------
  return { problems, stats: { channels: ec.size, events, replies, jobs } };
}

/**
 * Explicit filter for a race inside the real switch: after CHANNEL_EXECUTE uuid_bridge the B leg reports
 * CHANNEL_STATE CS_CONSUME_MEDIA in 8 of the 14 recorded bridges and skips it in the others. Dropped on both sides.
 */
function dropRaces(l: Frame[]): Frame[] {
  return l.filter((f, i) => {
    const e = f.event!;
    if (e['Event-Name'] !== 'CHANNEL_STATE' || e['Channel-State'] !== 'CS_CONSUME_MEDIA') return true;
    const prev = l[i - 1]?.event;
    return !(prev && prev['Event-Name'] === 'CHANNEL_EXECUTE' && prev.Application === 'uuid_bridge');
  });
}

function show(f: Frame): string {
  return `${f.headers['Content-Type']} ${f.headers['Reply-Text'] ?? JSON.stringify(f.body.slice(0, 80))}`;
}

function normalizeReply(f: Frame, mapText: (s: string) => string, job: string | undefined, jobAs: string | undefined): string {
  const ct = f.headers['Content-Type'] ?? '';
  if (ct === 'command/reply') {
    let t = f.headers['Reply-Text'] ?? '';
    if (job && jobAs) t = t.replace(job, 'JOB');
    return `reply: ${mapText(t)}${f.headers['Job-UUID'] ? ' [Job-UUID]' : ''}`;
  }
  if (ct === 'api/response') return `api: ${normalizeBody(mapText(f.body))}`;
  return `${ct}: ${f.body}`;
}

/** make bodies comparable: volatile numbers and times out, structures kept */
export function normalizeBody(b: string): string {
  if (b.startsWith('UP ')) return b.replace(/\d+(\.\d+)?/g, '#');
  if (b.startsWith('{"row_count"')) {
    const j = JSON.parse(b) as { row_count: number; rows?: Array<Record<string, string>> };
    const keep = ['uuid', 'direction', 'name', 'state', 'cid_num', 'dest', 'application', 'application_data', 'callstate', 'b_uuid', 'b_state', 'b_callstate', 'read_codec'];
    const rows = (j.rows ?? []).map((r) => keep.filter((k) => k in r).map((k) => `${k}=${r[k]}`).join(';')).sort();
    return `row_count=${j.row_count}\n${rows.join('\n')}\ncolumns=${Object.keys(j.rows?.[0] ?? {}).join(',')}`;
  }
  if (b.startsWith('uuid,direction')) {
    const lines = b.split('\n');
    return `${lines[0]}\n${lines.filter((l) => /total\./.test(l)).join('')}\nrows=${lines.length}`;
  }
  if (b.includes('Registrations:')) {
    const users = [...b.matchAll(/^User:\s+(\S+)/gm)].map((m) => m[1]).sort();
    return `registrations ${users.join(',')} ${/Total items returned: \d+/.exec(b)?.[0]}`;
  }
  if (b.startsWith('[{\n\t\t"conference_name"')) {
    const j = JSON.parse(b) as Array<{ conference_name: string; member_count: number; members: Array<{ id: number; uuid: string; flags: Record<string, boolean> }> }>;
    return j.map((c) => `${c.conference_name} ${c.member_count} ${c.members.map((m) => `${m.id}:${m.uuid}:${Object.entries(m.flags).filter(([, v]) => v).map(([k]) => k).join('+')}`).join(' ')}`).join('\n');
  }
  return b;
}
