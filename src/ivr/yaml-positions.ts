// Maps a path inside a parsed YAML document (['nodes', 'menu', 'keys', '1']) to a line:column, so schema and
// graph errors point at the exact place in the admin's file, not just at the file.
import { LineCounter, isMap, isSeq, isPair, isScalar, type Document, type Node as YamlNode } from 'yaml';

export type YamlPath = readonly (string | number)[];

export interface SourcePos {
  line: number;
  column: number;
}

export class YamlPositions {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** Position of the value at `path`, or of its key when `at` is 'key'; falls back to the deepest existing parent. */
  of(path: YamlPath, at: 'value' | 'key' = 'value'): SourcePos {
    let node: unknown = this.doc.contents;
    let offset = rangeStart(node) ?? 0;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && keyString(p.key) === String(seg));
        if (!pair) break;
        const keyStart = rangeStart(pair.key);
        if (last && at === 'key' && keyStart !== undefined) return this.pos(keyStart);
        node = pair.value;
        offset = rangeStart(pair.value) ?? keyStart ?? offset;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (item === undefined) break;
        node = item;
        offset = rangeStart(item) ?? offset;
      } else {
        break;
      }
    }
    return this.pos(offset);
  }

  pos(offset: number): SourcePos {
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }
}

function keyString(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return typeof key === 'string' ? key : undefined;
}

function rangeStart(node: unknown): number | undefined {
  const r = (node as YamlNode | null | undefined)?.range;
  return r ? r[0] : undefined;
}
