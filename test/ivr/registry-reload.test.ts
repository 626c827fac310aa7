// Hot reload: a good edit swaps in a new version, a broken edit is refused (the running version stays, the error is
// reported with file:line:column), and a call already in a flow finishes on the version it started with.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { FlowRegistry, type ReloadReport } from '../../src/ivr/registry.js';
import { FlowRunner, type FlowEngineDeps } from '../../src/ivr/engine.js';
import type { CollectDigitsOptions, CollectDigitsResult } from '../../src/calls/media.js';
import { ScriptedMedia } from './scripted-media.js';

const flowV1 = (group: string) => `# yaml-language-server: $schema=../flow.schema.json
name: 测试主流程
start: menu
nodes:
  menu:
    type: menu
    prompt: { tts: "请按1" }
    keys:
      "1": q
    onFail: bye
  q:
    type: queue
    skillGroup: ${group}
  bye:
    type: hangup
`;

const entry = `routes:
  - did: "12345"
    tenant: t1
    flow: main
`;

let dir: string;
let registry: FlowRegistry;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flows-reload-'));
  fs.mkdirSync(path.join(dir, 't1'));
  fs.writeFileSync(path.join(dir, 't1/main.yaml'), flowV1('consult'));
  fs.writeFileSync(path.join(dir, 'entry-points.yaml'), entry);
  registry = new FlowRegistry({ dir, debounceMs: 50 });
  registry.reload();
});
afterEach(() => registry.close());

/** A caller who waits in the menu until released, so the test can edit the flow mid-call. */
class GatedMedia extends ScriptedMedia {
  release!: () => void;
  readonly inMenu: Promise<void>;
  private entered!: () => void;
  constructor() {
    super([{ keys: '1' }]);
    this.inMenu = new Promise((r) => (this.entered = r));
  }
  override async collectDigits(opts: CollectDigitsOptions): Promise<CollectDigitsResult> {
    this.entered();
    await new Promise<void>((r) => (this.release = r));
    return super.collectDigits(opts);
  }
}

const deps = (): FlowEngineDeps => ({ flows: registry, promptsDir: '/p', recordingsDir: os.tmpdir(), tts: { fileFor: async (t) => `/tts/${t}` } });

describe('FlowRegistry hot reload', () => {
  it('a good edit gets a new version; a call in progress keeps the version it started with', async () => {
    const v1 = registry.get('t1', 'main')!;
    expect(v1.versionId).toMatch(/^v1-[0-9a-f]{12}$/);
    const media = new GatedMedia();
    const running = new FlowRunner(deps(), registry.resolveEntry('12345', '138')!.flow).exec(
      { uuid: 'c1', tenantId: 't1', callerNumber: '138', destination: '12345' },
      media,
    );
    await media.inMenu;

    fs.writeFileSync(path.join(dir, 't1/main.yaml'), flowV1('complaint'));
    const report = registry.reload();
    expect(report.changed).toEqual(['t1/main']);
    const v2 = registry.get('t1', 'main')!;
    expect(v2.version).toBe(2);
    expect(v2.versionId).not.toBe(v1.versionId);

    media.release();
    const result = await running;
    expect(result.versionId).toBe(v1.versionId);
    expect(result.outcome.kind === 'queue' && result.outcome.request.skillGroup).toBe('consult');

    // a new call gets the new version
    const next = await new FlowRunner(deps(), registry.resolveEntry('12345', '138')!.flow).exec(
      { uuid: 'c2', tenantId: 't1', callerNumber: '138', destination: '12345' },
      new ScriptedMedia([{ keys: '1' }]),
    );
    expect(next.outcome.kind === 'queue' && next.outcome.request.skillGroup).toBe('complaint');
    expect(registry.versions('t1', 'main').map((v) => v.version)).toEqual([1, 2]);
  });

  it('an unchanged file keeps its version (same content hash)', () => {
    const before = registry.get('t1', 'main');
    fs.writeFileSync(path.join(dir, 't1/main.yaml'), flowV1('consult'));
    expect(registry.reload().changed).toEqual([]);
    expect(registry.get('t1', 'main')).toBe(before);
  });

  it('a broken edit is refused with file:line:column; the running version stays and health says so', () => {
    const v1 = registry.get('t1', 'main')!;
    fs.writeFileSync(path.join(dir, 't1/main.yaml'), flowV1('consult').replace('"1": q', '"1": qq'));
    const report = registry.reload();
    expect(report.refused).toEqual(['t1/main']);
    expect(registry.get('t1', 'main')).toBe(v1);
    expect(registry.loadErrors).toEqual([
      expect.objectContaining({ file: 't1/main.yaml', line: 9, column: 12, code: 'dangling-target' }),
      expect.objectContaining({ file: 't1/main.yaml', line: 11, column: 3, code: 'unreachable-node' }),
    ]);
    const health = registry.health();
    expect(health.ok).toBe(false);
    expect(health.loadErrors[0]).toMatch(/^t1\/main\.yaml:9:12: dangling-target: /);

    // fixed again: the error clears
    fs.writeFileSync(path.join(dir, 't1/main.yaml'), flowV1('help'));
    registry.reload();
    expect(registry.loadErrors).toEqual([]);
    expect(registry.get('t1', 'main')!.version).toBe(2);
  });

  it('a broken entry-points file keeps the previous routes', () => {
    fs.writeFileSync(path.join(dir, 'entry-points.yaml'), 'routes:\n  - did: "12345"\n    tenant: t1\n    flow: nope\n');
    registry.reload();
    expect(registry.resolveEntry('12345', '138')?.flow.id).toBe('main');
    expect(registry.loadErrors[0]).toMatchObject({ file: 'entry-points.yaml', code: 'unknown-flow', line: 4 });
  });

  it('watches the directory: an edit is picked up (debounced), a broken one refused', async () => {
    registry.watch();
    fs.writeFileSync(path.join(dir, 't1/main.yaml'), flowV1('enterprise'));
    let [report] = (await once(registry, 'reload')) as [ReloadReport];
    expect(report.changed).toEqual(['t1/main']);
    expect(registry.get('t1', 'main')!.nodes.get('q')).toMatchObject({ skillGroup: 'enterprise' });

    fs.writeFileSync(path.join(dir, 't1/main.yaml'), 'name: [broken\n');
    [report] = (await once(registry, 'reload')) as [ReloadReport];
    expect(report.refused).toEqual(['t1/main']);
    expect(registry.get('t1', 'main')!.nodes.get('q')).toMatchObject({ skillGroup: 'enterprise' });
    expect(registry.loadErrors[0]!.code).toBe('yaml-syntax');

    fs.mkdirSync(path.join(dir, 't2'));
    fs.writeFileSync(path.join(dir, 't2/other.yaml'), flowV1('general'));
    await once(registry, 'reload');
    expect(registry.get('t2', 'other')).toBeDefined();
  });

  it('a deleted flow file is removed (calls holding it are unaffected)', () => {
    fs.rmSync(path.join(dir, 't1/main.yaml'));
    const report = registry.reload();
    expect(report.removed).toEqual(['t1/main']);
    expect(registry.get('t1', 'main')).toBeUndefined();
    expect(registry.loadErrors[0]).toMatchObject({ file: 'entry-points.yaml', code: 'unknown-flow' });
  });

  it('compiled flows are frozen', () => {
    const node = registry.get('t1', 'main')!.nodes.get('q') as { skillGroup: string };
    expect(() => {
      node.skillGroup = 'x';
    }).toThrow();
  });
});
