// Just the part of modesl (no bundled types) that src/esl uses.
declare module 'modesl' {
  import type { Socket } from 'node:net';

  export interface EslHeader {
    name: string;
    value: string;
  }

  export class Event {
    headers: EslHeader[];
    type: string | undefined;
    subclass: string | undefined;
    body: string;
    getHeader(name: string): string | undefined;
    getBody(): string;
  }

  export type FrameHeaders = Record<string, string | number>;
  type Listener = (...args: any[]) => void;

  export class Parser {
    buffer: Buffer;
    bodyLen: number;
    headers: FrameHeaders;
    on(event: string, fn: Listener): this;
    removeAllListeners(event?: string): this;
    listeners(event: string): Listener[];
  }

  export class Connection {
    constructor(host: string, port: number, password: string, ready?: () => void);
    socket: Socket | null;
    parser?: Parser;
    password: string;
    authed: boolean;
    reqEvents: string[];
    cmdCallbackQueue: unknown[];
    apiCallbackQueue: unknown[];
    auth: (cb?: (err: Error | null, evt?: Event) => void) => void;
    send(command: string, args?: Record<string, string>): void;
    sendRecv(command: string, args: Record<string, string> | null, cb: (evt: Event) => void): void;
    sendRecv(command: string, cb: (evt: Event) => void): void;
    api(command: string, cb: (evt: Event) => void): void;
    on(event: string, fn: Listener): this;
    once(event: string, fn: Listener): this;
    removeAllListeners(event?: string): this;
    listeners(event: string): Listener[];
    listenersAny?(): Listener[];
  }

  const esl: { Connection: typeof Connection; Parser: typeof Parser; Event: typeof Event };
  export default esl;
}
