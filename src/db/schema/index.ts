// Every concern keeps its tables in its own file here; this index is what drizzle and the app see.
export * from './core.js';
export * from './ivr.js';
export * from './acd.js';
export * from './agents.js';
export * from './calls.js';
export * from './recording.js';
export * from './callers.js';
