// The charm's own bookkeeping on the unit: what it last converged, so a hook on a converged unit
// costs no hook-tool round trips. Written atomically; a crash mid-write leaves the old file.
import fs from 'node:fs';
import path from 'node:path';

export function readJsonFile<T>(file: string, fallback: T): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw new Error(`${file} is unreadable (${(err as Error).message}): remove it and run the hook again`);
  }
}

/** Writes `content` to `file` unless it already holds exactly that; returns whether it changed. */
export function writeFileIfChanged(file: string, content: string, mode = 0o644, owner?: { uid: number; gid: number }): boolean {
  let current: string | null = null;
  try {
    current = fs.readFileSync(file, 'utf8');
  } catch {
    // absent
  }
  const stat = current !== null ? fs.statSync(file) : null;
  const sameMode = stat !== null && (stat.mode & 0o777) === mode;
  const sameOwner = stat === null || !owner || (stat.uid === owner.uid && stat.gid === owner.gid);
  if (current === content && sameMode && sameOwner) return false;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, content, { mode });
  fs.chmodSync(tmp, mode);
  if (owner) fs.chownSync(tmp, owner.uid, owner.gid);
  fs.renameSync(tmp, file);
  return current !== content;
}

export function writeJsonFile(file: string, value: unknown, mode = 0o600): void {
  writeFileIfChanged(file, `${JSON.stringify(value, null, 2)}\n`, mode);
}
