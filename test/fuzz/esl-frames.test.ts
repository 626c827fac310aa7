// Malformed frames from the switch in the middle of an event stream (test/esl/esl-node.test.ts covers single bad
// frames before one event): a bad Content-Length, a body that is not JSON for `event json`, binary junk, a bad
// percent-escape, a header line without a separator. Each is logged and skipped; the events around it arrive, in
// order, and the connection stays up.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { ScriptedEslPeer } from '../helpers/scripted-esl-peer.js';
import { EslNode, type EslEvent } from '../../src/esl/index.js';
import { until } from '../e2e/cti-fixture.js';
import { fuzzSeed, makeRng } from './hostile.js';

describe('ESL: garbage frames inside an event stream', () => {
  let peer: ScriptedEslPeer;
  let node: EslNode | undefined;
  const logLines: { msg: string; err?: string }[] = [];

  beforeEach(async () => {
    peer = new ScriptedEslPeer();
    await peer.listen();
    logLines.length = 0;
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(JSON.parse(String(chunk)) as { msg: string; err?: string });
        done();
      },
    });
    node = new EslNode({ host: '127.0.0.1', port: peer.port, password: 'ClueCon', commandTimeoutMs: 1000, reconnect: { initialMs: 5, maxMs: 20 }, log: pino({ level: 'warn' }, sink) });
    const resynced = new Promise<void>((resolve) => node!.once('resync', () => resolve()));
    node.start();
    await node.waitConnected(3000);
    await resynced;
  });

  afterEach(async () => {
    await node?.stop();
    await peer.close();
  });

  const park = (i: number) => ({ 'Event-Name': 'CHANNEL_PARK', 'Unique-ID': `u-${i}`, 'Caller-Caller-ID-Number': `1380000${String(i).padStart(4, '0')}` });

  it('skips each kind of garbage between events and delivers every event around it, in order', async () => {
    const rng = makeRng(fuzzSeed());
    const junk = () => Buffer.from(Array.from({ length: rng.int(16, 256) }, () => rng.int(0, 255)).filter((b) => b !== 10));
    const GARBAGE: (string | Buffer)[] = [
      // a Content-Length that is not a number (its body then reads as header lines of a frame of its own)
      'Content-Type: text/event-json\nContent-Length: abc\n\n',
      'Content-Type: text/event-json\nContent-Length: -5\n\n',
      // `event json` with a body that is not JSON, is an array, is cut short
      'Content-Type: text/event-json\nContent-Length: 11\n\nnot json!!!',
      'Content-Type: text/event-json\nContent-Length: 9\n\n[1,2,3,4]',
      'Content-Type: text/event-json\nContent-Length: 15\n\n{"Event-Name":1',
      // a plain event whose body is a bad percent-escape
      'Content-Type: text/event-plain\nContent-Length: 24\n\nEvent-Name: %E0%A4%A\nX:%\n',
      // binary junk, ended like a frame
      Buffer.concat([junk(), Buffer.from('\n\n')]),
      // header lines without ": "
      'garbage line without separator\nanother\n\n',
      'Content-Type: command/reply\nReply-Text: %zz%\n\n',
    ];
    const got: EslEvent[] = [];
    node!.on('event', (e) => got.push(e));
    const ROUNDS = 60;
    for (let i = 0; i < ROUNDS; i++) {
      peer.sendEvent(park(i));
      peer.sendRaw(GARBAGE[i % GARBAGE.length]!);
    }
    peer.sendEvent(park(ROUNDS));
    await until(() => got.some((e) => e.uuid === `u-${ROUNDS}`), 5000, 'the last event');
    expect(got.map((e) => e.uuid)).toEqual(Array.from({ length: ROUNDS + 1 }, (_, i) => `u-${i}`));
    expect(got.every((e) => e.name === 'CHANNEL_PARK')).toBe(true);
    expect(node!.health().malformedFrames).toBeGreaterThanOrEqual(ROUNDS / 2);
    expect(logLines.filter((l) => l.msg === 'malformed ESL frame skipped').length).toBeGreaterThanOrEqual(ROUNDS / 2);
    expect(peer.connections.length).toBe(1);
    expect(node!.isConnected).toBe(true);
    // and commands still work on the same connection
    const reply = await node!.api('status');
    expect(typeof reply).toBe('string');
  });

  it('a Content-Length longer than its body swallows what follows, then the stream recovers on the same connection', async () => {
    const got: EslEvent[] = [];
    node!.on('event', (e) => got.push(e));
    peer.sendEvent(park(1));
    // claims 300 bytes but has 10: the next events are read as its body, found not to be JSON, and dropped
    peer.sendRaw('Content-Type: text/event-json\nContent-Length: 300\n\n{"broken":');
    for (let i = 2; i < 30; i++) peer.sendEvent(park(i));
    await until(() => got.some((e) => e.uuid === 'u-29'), 5000, 'the events after the swallowed bytes');
    expect(got[0]!.uuid).toBe('u-1');
    const after = got.slice(1).map((e) => Number(e.uuid!.slice(2)));
    // whatever arrived after the bad frame arrived in order, and the tail of the stream is whole
    expect(after).toEqual([...after].sort((a, b) => a - b));
    expect(after.slice(-5)).toEqual([25, 26, 27, 28, 29]);
    expect(node!.health().malformedFrames).toBeGreaterThanOrEqual(1);
    expect(peer.connections.length).toBe(1);
    expect(node!.isConnected).toBe(true);
  });
});
