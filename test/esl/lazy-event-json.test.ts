import fs from 'node:fs';
import path from 'node:path';
import { types } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseEventJson } from '../../src/esl/lazy-event-json.js';
import { TRACE_DIR } from '../sim/trace-replay.js';

/** every JSON event body a real FreeSWITCH sent in the golden traces */
function traceBodies(): string[] {
  const out: string[] = [];
  for (const f of fs.readdirSync(TRACE_DIR).filter((n) => n.endsWith('.jsonl'))) {
    for (const line of fs.readFileSync(path.join(TRACE_DIR, f), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const l = JSON.parse(line) as { kind: string; headers?: Record<string, string>; body?: string };
      if (l.kind === 'recv' && l.headers?.['Content-Type'] === 'text/event-json' && l.body) out.push(l.body);
    }
  }
  return out;
}

describe('parseEventJson (channel variables parsed when read)', () => {
  const bodies = traceBodies();

  it('reads every header of every golden-trace event exactly as JSON.parse does, variables read one by one', () => {
    expect(bodies.length).toBeGreaterThan(1000);
    let lazy = 0;
    for (const body of bodies) {
      const want = JSON.parse(body) as Record<string, unknown>;
      const got = parseEventJson(body);
      // read by name first (the lazy path), then compare the whole object (which expands it)
      for (const k of Object.keys(want)) expect(got[k], k).toEqual(want[k]);
      if (types.isProxy(got)) lazy++;
      expect({ ...got }).toEqual(want);
      expect(got['variable_not_there']).toBeUndefined();
      expect('variable_not_there' in got).toBe(false);
    }
    // the lazy path is really taken: every event that has variables (the fallback would give plain objects)
    expect(lazy).toBe(bodies.filter((b) => b.includes(',"variable_')).length);
  });

  it('an absent variable reads undefined without parsing the block; enumeration gives every header', () => {
    const body = JSON.stringify({ 'Event-Name': 'CHANNEL_ANSWER', 'Unique-ID': 'u1', variable_a: '1', variable_b: 'x"y\\', variable_c: '中文', Application: 'playback' });
    const got = parseEventJson(body);
    expect(got['Application']).toBe('playback');
    expect(got['variable_b']).toBe('x"y\\');
    expect(got['variable_c']).toBe('中文');
    expect(got['variable_zz']).toBeUndefined();
    expect(Object.keys(got).sort()).toEqual(['Application', 'Event-Name', 'Unique-ID', 'variable_a', 'variable_b', 'variable_c']);
  });

  it('values that look like keys, variables not in one block, and array values are parsed whole and read right', () => {
    const tricky = [
      { 'Event-Name': 'X', variable_a: 'has ,"variable_b":"fake" inside', variable_b: 'real' },
      { 'Event-Name': 'X', variable_a: '1', 'Middle-Header': 'm', variable_b: '2' },
      { 'Event-Name': 'X', variable_a: ['p', 'q'], variable_b: '2' },
      { 'Event-Name': 'X', variable_a: 'ends with backslash \\', 'Unique-ID': 'u' },
    ];
    for (const o of tricky) {
      const got = parseEventJson(JSON.stringify(o));
      for (const [k, v] of Object.entries(o)) expect(got[k], k).toEqual(v);
      expect({ ...got }).toEqual(o);
    }
  });

  it('malformed JSON still throws (the guard skips the frame)', () => {
    expect(() => parseEventJson('{"Event-Name":"X","variable_a":"1",')).toThrow();
    expect(() => parseEventJson('{"Event-Name":"X","variable_a":"1" junk}')).toThrow();
  });
});
