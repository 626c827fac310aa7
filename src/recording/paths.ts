// Where recordings live: RECORDINGS_DIR/calls/<YYYY-MM-DD>/<tenant>/<recording id>.wav (.opus once compressed).
// The database keeps paths relative to RECORDINGS_DIR; FreeSWITCH may see the same directory under another mount.
import path from 'node:path';

export const CALLS_SUBDIR = 'calls';

/** The local date (center time) a recording is filed under. */
export function dayFolder(at: Date, timeZone = 'Asia/Shanghai'): string {
  return dayFormat(timeZone).format(at);
}

// building an Intl.DateTimeFormat costs about as much as a call's other recording bookkeeping together: one per zone
const dayFormats = new Map<string, Intl.DateTimeFormat>();
function dayFormat(timeZone: string): Intl.DateTimeFormat {
  let f = dayFormats.get(timeZone);
  if (!f) {
    // en-CA formats as YYYY-MM-DD
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    dayFormats.set(timeZone, f);
  }
  return f;
}

export function relativeWavPath(recordingId: string, tenantId: string, at: Date, timeZone?: string): string {
  return path.posix.join(CALLS_SUBDIR, dayFolder(at, timeZone), tenantId, `${recordingId}.wav`);
}

/** The compressed sibling of a WAV path. */
export function compressedPathFor(relativeWav: string, extension: string): string {
  return relativeWav.replace(/\.wav$/i, '') + `.${extension}`;
}

/** Absolute path of a stored relative path; refuses anything that would leave the recordings directory. */
export function resolveInside(rootDir: string, relative: string): string {
  const root = path.resolve(rootDir);
  const abs = path.resolve(root, relative);
  if (abs !== root && !abs.startsWith(root + path.sep)) throw new Error(`recording path escapes the recordings directory: ${relative}`);
  return abs;
}
