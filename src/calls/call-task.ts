// What runs on a call (jambonz pattern): the session runs its tasks in order; a hangup kills the running one.
import type { CallMedia } from './media.js';
import type { CallSession } from './call-session.js';

export interface TaskOutcome {
  /** 'stop' ends the task list (the remaining tasks are dropped); default 'continue' */
  next?: 'continue' | 'stop';
}

export interface CallTask {
  readonly name: string;
  exec(session: CallSession, media: CallMedia): Promise<TaskOutcome | void>;
  /** stop at once (hangup, transfer, drain); exec() should then settle soon */
  kill(reason: string): void;
}
