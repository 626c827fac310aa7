// Parsing originate/bridge dial strings: {global vars}[leg vars]endpoint,... and originate's argv.

export interface DialLeg {
  vars: Map<string, string>;
  endpoint: string;
}

/** split on `sep` outside quotes/brackets */
function splitTop(s: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = '';
  let cur = '';
  for (const c of s) {
    if (quote) {
      if (c === quote) quote = '';
      cur += c;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === '{' || c === '[' || c === '<' || c === '(') depth++;
    else if (c === '}' || c === ']' || c === '>' || c === ')') depth--;
    if (c === sep && depth === 0) {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  out.push(cur);
  return out;
}

/** "a=b,c='x,y'" → map (quotes stripped) */
export function parseVarList(s: string, into = new Map<string, string>()): Map<string, string> {
  for (const part of splitTop(s, ',')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    let v = part.slice(i + 1).trim();
    if ((v.startsWith("'") && v.endsWith("'")) || (v.startsWith('"') && v.endsWith('"'))) v = v.slice(1, -1);
    into.set(part.slice(0, i).trim(), v);
  }
  return into;
}

/** take a leading {..} / [..] / <..> block */
function takeBlock(s: string, open: string, close: string): [string | undefined, string] {
  s = s.trimStart();
  if (!s.startsWith(open)) return [undefined, s];
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === open) depth++;
    else if (s[i] === close && --depth === 0) return [s.slice(1, i), s.slice(i + 1)];
  }
  return [undefined, s];
}

/** dial string → legs (simultaneous legs separated by ',', sequential groups by '|': only the first group is used) */
export function parseDialString(ds: string): { global: Map<string, string>; legs: DialLeg[] } {
  const global = new Map<string, string>();
  let rest = ds.trim();
  for (;;) {
    const [g, r] = takeBlock(rest, '{', '}');
    if (g === undefined) break;
    parseVarList(g, global);
    rest = r;
  }
  const group = splitTop(rest, '|')[0] ?? '';
  const legs: DialLeg[] = [];
  for (const legStr of splitTop(group, ',')) {
    let s = legStr.trim();
    const vars = new Map<string, string>();
    for (;;) {
      const [l, r] = takeBlock(s, '[', ']');
      if (l !== undefined) {
        parseVarList(l, vars);
        s = r;
        continue;
      }
      const [l2, r2] = takeBlock(s, '<', '>');
      if (l2 !== undefined) {
        parseVarList(l2, vars);
        s = r2;
        continue;
      }
      break;
    }
    if (s.trim()) legs.push({ vars, endpoint: s.trim() });
  }
  return { global, legs };
}

/** originate's argv: split on spaces; single quotes group (switch_separate_string) */
export function splitArgs(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote = false;
  let has = false;
  for (const c of s) {
    if (c === "'") {
      quote = !quote;
      has = true;
      continue;
    }
    if (c === ' ' && !quote) {
      if (has) out.push(cur);
      cur = '';
      has = false;
      continue;
    }
    cur += c;
    has = true;
  }
  if (has) out.push(cur);
  return out;
}

/** "&park()" / "&intercept(-bleg" → app name and data */
export function parseInlineApp(s: string): { app: string; arg: string } | undefined {
  if (!s.startsWith('&')) return undefined;
  const body = s.slice(1);
  const i = body.indexOf('(');
  if (i < 0) return { app: body.trim(), arg: '' };
  let arg = body.slice(i + 1);
  if (arg.endsWith(')')) arg = arg.slice(0, -1);
  return { app: body.slice(0, i).trim(), arg };
}
