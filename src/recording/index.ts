// Recording of agent calls: ESL control (start/stop/mask), compression jobs, search and playback over HTTP.
export { RecordingService, RecordingError, recordAgentAnswer, linkCdrRecording } from './recording-service.js';
export type { RecordingTarget, RecordingActor, RecordingServiceOptions, CompressionQueue, RecordingErrorCode } from './recording-service.js';
export {
  RecordingCompressor,
  compressWav,
  compressRecording,
  probeDurationMs,
  defaultCompressionConcurrency,
  CompressionVerifyError,
  RECORDING_COMPRESS_QUEUE,
  COMPRESSED_FORMAT,
  DEFAULT_ENCODER_ARGS,
  DEFAULT_NICENESS,
} from './compressor.js';
export type {
  CompressJob,
  CompressJobResult,
  CompressionMode,
  CompressOptions,
  CompressResult,
  CompressOutcome,
  CompressRecordingDeps,
  RecordingCompressorOptions,
} from './compressor.js';
export { recordingRoutes, parseRange } from './routes.js';
export type { RecordingRoutesDeps } from './routes.js';
export { searchRecordings, getRecording, listMarks, toPublicRecording } from './store.js';
export type { RecordingSearch, PublicRecording } from './store.js';
export { relativeWavPath, compressedPathFor, resolveInside, dayFolder } from './paths.js';
export { readWavInfo } from './wav.js';
export type { WavInfo } from './wav.js';
export { startRecordingModule } from './module.js';
export type { RecordingModule, RecordingModuleOptions } from './module.js';
