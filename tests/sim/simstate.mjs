// Shared state file of the Juju simulator: hook tools, fake systemctl and fake apt-get all read and
// write <JUJU_SIM_DIR>/state.json. Tools may run concurrently, so every change happens under a
// mkdir-based lock and lands through an atomic rename.
import fs from 'node:fs';
import path from 'node:path';

export const STATE_FILE = 'state.json';
const LOCK_DIR = 'state.lock';
// systemctl stop may hold the lock for the 5 s stop timeout of several units.
const LOCK_TIMEOUT_MS = 60000;
// A lock whose owner died (or that never got its owner file) was left by a killed process.
const ORPHAN_LOCK_MS = 2000;

export class ToolError extends Error {
  constructor(message, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

export function simDir() {
  const dir = process.env.JUJU_SIM_DIR;
  if (!dir) {
    throw new ToolError('JUJU_SIM_DIR is not set: this tool only works inside a hook run by the test simulator (pass the hook environment to child processes)');
  }
  return dir;
}

function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function lockIsOrphaned(lock) {
  try {
    const owner = Number(fs.readFileSync(path.join(lock, 'owner'), 'utf8'));
    try {
      process.kill(owner, 0);
      return false;
    } catch (err) {
      return err.code === 'ESRCH';
    }
  } catch {
    try {
      return Date.now() - fs.statSync(lock).mtimeMs > ORPHAN_LOCK_MS;
    } catch {
      return false;
    }
  }
}

function acquire(dir) {
  const lock = path.join(dir, LOCK_DIR);
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, 'owner'), String(process.pid));
      return lock;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      if (lockIsOrphaned(lock)) fs.rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new ToolError(`timed out waiting for the simulator state lock ${lock}`);
      sleepMs(3 + Math.floor(Math.random() * 5));
    }
  }
}

export function readDoc(dir = simDir()) {
  const file = path.join(dir, STATE_FILE);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ToolError(`cannot read simulator state ${file}: ${err.message}`);
  }
}

export function writeDoc(dir, doc) {
  const file = path.join(dir, STATE_FILE);
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(doc, null, 1), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** Runs fn(doc) under the lock and writes doc back unless fn returns false. */
export function updateDoc(fn, dir = simDir()) {
  const lock = acquire(dir);
  try {
    const doc = readDoc(dir);
    const result = fn(doc);
    if (result !== false) writeDoc(dir, doc);
    return result;
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/** Reports a tool failure the way Juju's cmd package does, and exits. */
export function exitWithError(err) {
  if (err instanceof ToolError) {
    process.stderr.write(`ERROR ${err.message}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`ERROR ${err && err.stack ? err.stack : String(err)}\n`);
  process.exit(1);
}
