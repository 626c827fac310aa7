// The flow engine as a call task (src/calls CallTask): runs a FlowRunner on a CallSession, records each node in
// the session (CDR last_ivr_node / ivr_path as "flow:node") and each variable the flow sets (CDR variables).
import type { CallTask, TaskOutcome } from '../calls/call-task.js';
import type { CallSession } from '../calls/call-session.js';
import type { CallMedia } from '../calls/media.js';
import { canTransition } from '../calls/call-state.js';
import type { CallerAttributes, FlowRunner, FlowRunResult } from './engine.js';

export interface IvrFlowTaskOptions {
  attributes?: CallerAttributes;
  vars?: Record<string, string>;
  /** told the result before the task ends (e.g. to queue the caller when no ACD handler is wired) */
  onResult?: (result: FlowRunResult, session: CallSession) => void | Promise<void>;
}

export class IvrFlowTask implements CallTask {
  readonly name = 'ivr';
  result?: FlowRunResult;

  constructor(
    private readonly runner: FlowRunner,
    private readonly opts: IvrFlowTaskOptions = {},
  ) {}

  async exec(session: CallSession, media: CallMedia): Promise<TaskOutcome> {
    const result = await this.runner.exec(
      {
        uuid: session.uuid,
        tenantId: session.tenantId,
        callerNumber: session.callerNumber ?? '',
        destination: session.did ?? session.calleeNumber ?? '',
        attributes: this.opts.attributes,
        vars: this.opts.vars,
        answered: session.state !== 'ringing',
        log: session.log,
        onNode: (step) => {
          // the session is in the IVR from the first node on (after a queue overflow or a survey: back in it)
          if (session.state !== 'ivr' && canTransition(session.state, 'ivr')) session.transition('ivr', 'ivr flow');
          session.markIvrNode(`${step.flowId}:${step.node}`);
        },
        onVar: (name, value) => session.setVar(name, value),
      },
      media,
    );
    this.result = result;
    session.setVar('ivr.outcome', result.outcome.kind);
    if (result.outcome.kind === 'queue') session.setVar('ivr.skillGroup', result.outcome.request.skillGroup);
    await this.opts.onResult?.(result, session);
    // a queue request without an ACD answer is for the next task (the ACD's); everything else ends the IVR part
    const handOff = result.outcome.kind === 'queue' && result.outcome.result === undefined;
    return { next: handOff ? 'continue' : 'stop' };
  }

  kill(reason: string): void {
    this.runner.kill(reason);
  }
}
