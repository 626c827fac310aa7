// Typed failures of ESL commands, so callers can tell "the switch said no" from "the switch did not answer".

export class EslError extends Error {
  override name = 'EslError';
}

/** No reply within the command's timeout. The connection stays up; a late reply is discarded. */
export class EslTimeoutError extends EslError {
  override name = 'EslTimeoutError';
  constructor(
    readonly command: string,
    readonly timeoutMs: number,
    readonly node?: string,
  ) {
    super(`ESL command timed out after ${timeoutMs} ms: ${command}`);
  }
}

/** The switch answered -ERR / -USAGE (command/reply, api/response or BACKGROUND_JOB body). */
export class EslCommandError extends EslError {
  override name = 'EslCommandError';
  constructor(
    readonly command: string,
    /** the reply exactly as the switch sent it, e.g. "-ERR No such channel!\n" */
    readonly reply: string,
    readonly node?: string,
  ) {
    super(`ESL command failed: ${command}: ${reply.trim()}`);
  }
}

/** The connection was down when the command was sent, or went down before the reply came. */
export class EslDisconnectedError extends EslError {
  override name = 'EslDisconnectedError';
  constructor(
    readonly command: string,
    readonly node?: string,
  ) {
    super(`ESL connection${node ? ` to ${node}` : ''} is down: ${command}`);
  }
}

export class EslAuthError extends EslError {
  override name = 'EslAuthError';
}

/** True for replies FreeSWITCH uses to say a command failed. `-ERROR` (uuid_answer on a bad uuid) counts too. */
export function isErrorReply(text: string): boolean {
  return text.startsWith('-ERR') || text.startsWith('-USAGE');
}
