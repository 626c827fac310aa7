// FlowRegistry: the compiled, immutable flows of every tenant, reloaded atomically when ivr-flows/ changes.
// A run holds a reference to the CompiledFlow it started with, so a swap never changes a call already in a flow.
// A broken edit is refused (the previous version keeps serving) and kept in loadErrors for /healthz and the admin API.
import fs from 'node:fs';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { FlowNode, FlowFile } from './flow-schema.js';
import type { FlowIssue } from './validate.js';
import { formatIssue } from './validate.js';
import { scanFlowsDir, checkScan, type FlowSource } from './flow-files.js';

export interface CompiledFlow {
  readonly tenantId: string;
  readonly id: string;
  readonly name: string;
  /** relative to the flows dir */
  readonly file: string;
  readonly hash: string;
  /** 1, 2, … per flow, for every content change this registry accepted */
  readonly version: number;
  /** `v<version>-<first 12 hex of the content hash>` */
  readonly versionId: string;
  readonly loadedAt: Date;
  readonly start: string;
  readonly answer: boolean;
  readonly nodes: ReadonlyMap<string, Readonly<FlowNode>>;
}

export interface EntryRoute {
  readonly did?: string;
  readonly callerPrefix?: string;
  readonly tenant: string;
  readonly flow: string;
}

export interface EntryMatch {
  tenantId: string;
  flow: CompiledFlow;
  route: EntryRoute;
}

export interface FlowVersionInfo {
  versionId: string;
  version: number;
  hash: string;
  loadedAt: string;
}

export interface FlowSummary {
  tenantId: string;
  flowId: string;
  name: string;
  file: string;
  versionId: string;
  loadedAt: string;
  nodes: number;
}

export interface ReloadReport {
  /** tenant/flow keys that got a new version */
  changed: string[];
  /** broken files whose previous version (if any) keeps serving */
  refused: string[];
  removed: string[];
  errors: FlowIssue[];
}

export interface FlowRegistryOptions {
  dir: string;
  /** checks prompt files exist when set */
  promptsDir?: string;
  lookupHandlers?: ReadonlySet<string>;
  log?: Logger;
  /** editors write a file in several steps; wait this long after the last change */
  debounceMs?: number;
  /** versions remembered per flow for the admin API */
  historySize?: number;
}

interface Snapshot {
  flows: ReadonlyMap<string, CompiledFlow>;
  routes: readonly EntryRoute[];
  surveys: ReadonlyMap<string, string>;
  entryHash?: string;
}

const key = (tenant: string, flow: string) => `${tenant}/${flow}`;

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

export class FlowRegistry extends EventEmitter {
  private snap: Snapshot = { flows: new Map(), routes: [], surveys: new Map() };
  private errors: FlowIssue[] = [];
  private readonly counters = new Map<string, number>();
  private readonly history = new Map<string, FlowVersionInfo[]>();
  private watcher?: fs.FSWatcher;
  private timer?: NodeJS.Timeout;
  private lastReloadAt?: Date;

  constructor(private readonly opts: FlowRegistryOptions) {
    super();
  }

  get dir(): string {
    return this.opts.dir;
  }

  /** Errors of the files as they are on disk now (empty when everything loaded). */
  get loadErrors(): readonly FlowIssue[] {
    return this.errors;
  }

  get(tenantId: string, flowId: string): CompiledFlow | undefined {
    return this.snap.flows.get(key(tenantId, flowId));
  }

  /** The most specific route: did+callerPrefix, then did alone, then callerPrefix alone; longer prefixes first. */
  resolveEntry(destination: string, callerNumber: string): EntryMatch | undefined {
    let best: { route: EntryRoute; score: number } | undefined;
    for (const r of this.snap.routes) {
      if (r.did !== undefined && r.did !== destination) continue;
      if (r.callerPrefix !== undefined && !callerNumber.startsWith(r.callerPrefix)) continue;
      const score = (r.did !== undefined ? 1000 : 0) + (r.callerPrefix?.length ?? 0);
      if (!best || score > best.score) best = { route: r, score };
    }
    if (!best) return undefined;
    const flow = this.get(best.route.tenant, best.route.flow);
    return flow ? { tenantId: best.route.tenant, flow, route: best.route } : undefined;
  }

  /** The flow a caller enters after the agent hangs up (entry-points.yaml tenants.<t>.postCallSurvey). */
  postCallSurvey(tenantId: string): CompiledFlow | undefined {
    const id = this.snap.surveys.get(tenantId);
    return id === undefined ? undefined : this.get(tenantId, id);
  }

  list(tenantId?: string): FlowSummary[] {
    return [...this.snap.flows.values()]
      .filter((f) => tenantId === undefined || f.tenantId === tenantId)
      .map((f) => ({
        tenantId: f.tenantId,
        flowId: f.id,
        name: f.name,
        file: f.file,
        versionId: f.versionId,
        loadedAt: f.loadedAt.toISOString(),
        nodes: f.nodes.size,
      }));
  }

  versions(tenantId: string, flowId: string): FlowVersionInfo[] {
    return [...(this.history.get(key(tenantId, flowId)) ?? [])];
  }

  routes(): readonly EntryRoute[] {
    return this.snap.routes;
  }

  health(): { ok: boolean; flows: number; lastReloadAt?: string; loadErrors: string[] } {
    return {
      ok: this.errors.length === 0,
      flows: this.snap.flows.size,
      lastReloadAt: this.lastReloadAt?.toISOString(),
      loadErrors: this.errors.map(formatIssue),
    };
  }

  /** Read the whole directory and swap in what is valid; what is broken keeps its previous version. */
  reload(): ReloadReport {
    const scan = scanFlowsDir(this.opts.dir);
    const checked = checkScan(scan, { promptsDir: this.opts.promptsDir, lookupHandlers: this.opts.lookupHandlers });
    const old = this.snap;
    const flows = new Map<string, CompiledFlow>();
    const report: ReloadReport = { changed: [], refused: [], removed: [], errors: checked.issues };
    const now = new Date();
    for (const { source, parsed } of checked.flows) {
      const k = key(source.tenantId, source.flowId);
      const prev = old.flows.get(k);
      if (!parsed.flow) {
        report.refused.push(k);
        if (prev) flows.set(k, prev);
        continue;
      }
      if (prev && prev.hash === source.hash) {
        flows.set(k, prev);
        continue;
      }
      flows.set(k, this.compile(source, parsed.flow, now));
      report.changed.push(k);
    }
    for (const k of old.flows.keys()) if (!flows.has(k)) report.removed.push(k);

    let routes = old.routes;
    let surveys = old.surveys;
    let entryHash = old.entryHash;
    if (checked.entryPoints?.entries) {
      routes = deepFreeze(checked.entryPoints.entries.routes.map((r) => ({ did: r.did, callerPrefix: r.callerPrefix, tenant: r.tenant, flow: r.flow })));
      surveys = new Map(
        Object.entries(checked.entryPoints.entries.tenants ?? {}).flatMap(([t, v]) => (v.postCallSurvey ? [[t, v.postCallSurvey] as const] : [])),
      );
      entryHash = scan.entryPoints?.hash;
    } else if (!scan.entryPoints) {
      routes = [];
      surveys = new Map();
      entryHash = undefined;
    }
    // one assignment: a call resolving its flow sees either the old or the new world, never a mix
    this.snap = { flows, routes, surveys, entryHash };
    this.errors = checked.issues;
    this.lastReloadAt = now;
    const log = this.opts.log;
    if (report.changed.length || report.removed.length) log?.info({ changed: report.changed, removed: report.removed }, 'ivr flows reloaded');
    if (report.errors.length) log?.error({ refused: report.refused, errors: report.errors.map(formatIssue) }, 'ivr flow files have errors; previous versions stay');
    this.emit('reload', report);
    return report;
  }

  /** Reload on every change under the flows dir, debounced. */
  watch(): void {
    if (this.watcher) return;
    this.watcher = fs.watch(this.opts.dir, { recursive: true }, () => this.scheduleReload());
    this.watcher.on('error', (err) => this.opts.log?.error({ err }, 'ivr flows watcher failed'));
  }

  private scheduleReload(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      try {
        this.reload();
      } catch (err) {
        this.opts.log?.error({ err }, 'ivr flows reload failed');
      }
    }, this.opts.debounceMs ?? 200);
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }

  private compile(source: FlowSource, flow: FlowFile, now: Date): CompiledFlow {
    const k = key(source.tenantId, source.flowId);
    const version = (this.counters.get(k) ?? 0) + 1;
    this.counters.set(k, version);
    const versionId = `v${version}-${source.hash.slice(0, 12)}`;
    const compiled: CompiledFlow = {
      tenantId: source.tenantId,
      id: source.flowId,
      name: flow.name,
      file: source.file,
      hash: source.hash,
      version,
      versionId,
      loadedAt: now,
      start: flow.start,
      answer: flow.answer,
      nodes: new Map(Object.entries(flow.nodes).map(([id, n]) => [id, deepFreeze(n)])),
    };
    const hist = this.history.get(k) ?? [];
    hist.push({ versionId, version, hash: source.hash, loadedAt: now.toISOString() });
    this.history.set(k, hist.slice(-(this.opts.historySize ?? 20)));
    return Object.freeze(compiled);
  }
}
