// The IVR module: flow files (format, validation, registry with hot reload), the flow engine and its call task,
// stores, admin routes, and IvrRuntime that wires them for src/main.ts.
export { FlowRegistry, type CompiledFlow, type EntryMatch, type EntryRoute, type FlowSummary, type FlowVersionInfo, type ReloadReport, type FlowRegistryOptions } from './registry.js';
export {
  FlowRunner,
  ALL_KEYS,
  type FlowEngineDeps,
  type FlowCallContext,
  type CallerAttributes,
  type FlowRunResult,
  type FlowOutcome,
  type PathStep,
  type QueueRequest,
  type QueueOutcome,
  type QueueHandler,
  type VoicemailRecord,
  type VoicemailSink,
  type SurveyAnswer,
  type SurveySink,
  type StepSample,
  type CalendarStatusFn,
} from './engine.js';
export { IvrFlowTask, type IvrFlowTaskOptions } from './flow-task.js';
export { IvrRuntime, type IvrRuntimeOptions, type AdmitResult } from './runtime.js';
export { StepOverheadRecorder, type OverheadSummary } from './step-overhead.js';
export { ticketStatusLookup, demoTicketSource, type LookupHandler, type LookupRequest, type LookupResult, type TicketSource, type TicketStatus } from './lookups.js';
export { VoicemailStore, SurveyStore } from './stores.js';
export { ivrAdminRoutes } from './routes.js';
export { parseFlowSource, parseEntryPointsSource, formatIssue, type FlowIssue, type IssueCode } from './validate.js';
export { scanFlowsDir, checkScan } from './flow-files.js';
export { flowJsonSchema, entryPointsJsonSchema, type FlowFile, type FlowNode, type NodeType, type Prompt } from './flow-schema.js';
