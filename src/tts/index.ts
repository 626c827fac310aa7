export { type TtsProvider, TtsError } from './provider.js';
export { EspeakNgProvider, type EspeakOptions } from './espeak.js';
export { TtsService, type TtsServiceOptions } from './service.js';
export { ensurePromptFiles, wantedPromptFiles } from './prompt-files.js';
