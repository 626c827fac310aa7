// The TTS provider interface: the flow engine and make-prompts only see TtsService, which caches what a provider
// renders; plugging in a cloud TTS means writing another TtsProvider, nothing in the flows changes.

export interface TtsProvider {
  /** stable id, part of the cache key (a different engine or voice is a different file) */
  readonly id: string;
  /**
   * Render `text` into `outFile` as 8 kHz, 16-bit, mono PCM WAV (what FreeSWITCH plays without resampling).
   * Must write the complete file or throw; the caller renames it into place.
   */
  render(text: string, outFile: string): Promise<void>;
}

export class TtsError extends Error {
  override name = 'TtsError';
}
