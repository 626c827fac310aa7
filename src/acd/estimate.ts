// Estimated wait and the position announcement played to waiting callers.

/** Used until the group has handled calls of its own (talk + wrap-up, ms). */
export const DEFAULT_HANDLE_MS = 180_000;

/**
 * The caller at `position` (1 = next) waits for `position - ready` agents to free up; staffed agents
 * (ready or on a call) free up one per average handle time each.
 */
export function estimateWaitMs(position: number, staffedAgents: number, readyAgents: number, averageHandleMs: number | null): number {
  const ahead = position - readyAgents;
  if (ahead <= 0) return 0;
  const aht = averageHandleMs ?? DEFAULT_HANDLE_MS;
  return Math.round((ahead / Math.max(1, staffedAgents)) * aht);
}

/** The text of the announcement (for TTS or to pick recorded prompts). */
export function queueAnnouncement(position: number, estimatedWaitMs: number): string {
  const ahead = Math.max(0, position - 1);
  const first = ahead === 0 ? '您是下一位，' : `您前面还有${ahead}位来电，`;
  if (estimatedWaitMs <= 0) return `${first}马上为您接通，请稍候。`;
  const minutes = Math.max(1, Math.round(estimatedWaitMs / 60_000));
  return `${first}预计等待约${minutes}分钟，请耐心等候。`;
}
