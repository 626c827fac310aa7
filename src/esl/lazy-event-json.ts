// JSON channel events with their channel variables left unparsed until read.
// A real switch sends 100-200 `variable_*` headers with most channel events (6-10 KB of JSON), and the CTI reads
// about a dozen of them. JSON.parse of whole events was the CTI's largest cost at 100 calls/s, so here only the
// other headers are parsed; a variable is found in the raw text when it is first read, and the whole block is
// parsed only if someone enumerates the headers.
//
// Why cutting the text is safe: inside a JSON string every `"` is escaped, so a raw `,"variable_` can only start a
// key, and a raw `"variable_x":` can only be that key. The switch writes the variables as one block (the golden
// traces: 1,768 events, no exception); any event whose variables are not one block of plain string values is
// parsed whole, as before.

const VAR_KEY = ',"variable_';
/** a key that does not start with variable_ (array elements are never followed by a colon) */
const OTHER_KEY = /,"(?!variable_)[^"\\]*":/;

/** index just past the closing quote of the JSON string starting at `start` (a `"`), or -1 */
function endOfString(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const q = text.indexOf('"', i);
    if (q < 0) return -1;
    let backslashes = 0;
    for (let j = q - 1; text.charCodeAt(j) === 92 /* \ */; j--) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
    i = q + 1;
  }
}

/** Parse an event's JSON body; the result reads like JSON.parse's (an object of header → string). */
export function parseEventJson(body: string): Record<string, unknown> {
  const first = body.indexOf(VAR_KEY);
  if (first < 0) return JSON.parse(body) as Record<string, unknown>;
  const last = body.lastIndexOf(VAR_KEY);
  const keyEnd = body.indexOf('":', last + 2);
  if (keyEnd < 0 || body.charCodeAt(keyEnd + 2) !== 34 /* " */) return JSON.parse(body) as Record<string, unknown>;
  const blockEnd = endOfString(body, keyEnd + 2);
  if (blockEnd < 0) return JSON.parse(body) as Record<string, unknown>;
  const block = body.slice(first + 1, blockEnd);
  if (OTHER_KEY.test(',' + block)) return JSON.parse(body) as Record<string, unknown>;
  const head = JSON.parse(body.slice(0, first) + body.slice(blockEnd)) as unknown;
  if (!head || typeof head !== 'object' || Array.isArray(head)) return JSON.parse(body) as Record<string, unknown>;
  return lazyVariables(head as Record<string, unknown>, block);
}

function lazyVariables(target: Record<string, unknown>, block: string): Record<string, unknown> {
  let expanded = false;
  const expand = (): void => {
    if (expanded) return;
    expanded = true;
    const vars = JSON.parse(`{${block}}`) as Record<string, unknown>;
    for (const k of Object.keys(vars)) if (!Object.prototype.hasOwnProperty.call(target, k)) target[k] = vars[k];
  };
  const lookup = (name: string): void => {
    if (expanded || Object.prototype.hasOwnProperty.call(target, name)) return;
    const at = block.indexOf(`"${name}":`);
    if (at < 0 || (at > 0 && block.charCodeAt(at - 1) !== 44 /* , */)) {
      if (at >= 0) expand(); // not at a key position: let the parser decide
      return;
    }
    const valueStart = at + name.length + 3;
    if (block.charCodeAt(valueStart) !== 34) return expand();
    const end = endOfString(block, valueStart);
    if (end < 0) return expand();
    target[name] = JSON.parse(block.slice(valueStart, end)) as unknown;
  };
  const isVariable = (p: string | symbol): p is string => typeof p === 'string' && p.startsWith('variable_');
  return new Proxy(target, {
    get(t, p, receiver) {
      if (isVariable(p)) lookup(p);
      return Reflect.get(t, p, receiver);
    },
    has(t, p) {
      if (isVariable(p)) lookup(p);
      return Reflect.has(t, p);
    },
    ownKeys(t) {
      expand();
      return Reflect.ownKeys(t);
    },
    getOwnPropertyDescriptor(t, p) {
      if (isVariable(p)) lookup(p);
      return Reflect.getOwnPropertyDescriptor(t, p);
    },
    set(t, p, v) {
      if (isVariable(p)) expand();
      return Reflect.set(t, p, v);
    },
    defineProperty(t, p, d) {
      if (isVariable(p)) expand();
      return Reflect.defineProperty(t, p, d);
    },
    deleteProperty(t, p) {
      if (isVariable(p)) expand();
      return Reflect.deleteProperty(t, p);
    },
  });
}
