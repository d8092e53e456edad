// Runs a charm's `dispatch` the way a Juju 3 unit agent does, against a State, with the hook tools
// of tests/sim on PATH, and returns the resulting State (ops Scenario style).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { actionParams, classifyHook, readCharmMeta, validateConfig, type CharmMeta } from './charm-meta.js';
import { normalizeState, type NormalizedState, type State } from './state.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** tests/sim/bin: the hook tools plus the fake systemctl and apt-get. */
export const SIM_BIN_DIR = path.resolve(HERE, '../sim/bin');
export const JUJU_VERSION = '3.6.1';
const DEFAULT_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 5000;

export interface SimulatorOptions {
  charmDir: string;
  /** Per-run dispatch timeout (default 120 s). */
  timeoutMs?: number;
}

export type Event = string | { action: string; params?: Record<string, unknown> };

export interface RunOptions {
  /** Relation id (number or `endpoint:N`) for relation hooks; default: the only relation on the endpoint. */
  relation?: number | string;
  /** JUJU_REMOTE_UNIT for -joined/-changed/-departed; default the first remote unit; null leaves it empty (app-level -changed). */
  remoteUnit?: string | null;
  /** JUJU_DEPARTING_UNIT for -departed (default: the remote unit). */
  departingUnit?: string;
  /** For secret-* hooks. */
  secret?: { id: string; label?: string; revision?: number };
  /** For storage hooks. */
  storage?: { id: string; location: string };
  timeoutMs?: number;
  /**
   * Kills dispatch (its whole process group, as a unit agent dying would) as soon as this probe
   * resolves true; polled while the hook runs. The run then reports `killed` (and not `timedOut`).
   */
  killWhen?: () => Promise<boolean>;
  /** The unit's own PATH after the hook-tools dir (default /usr/sbin:/usr/bin:/sbin:/bin), e.g. a machine without node. */
  unitPath?: string;
}

export interface ActionOutput {
  name: string;
  id: string;
  params: Record<string, unknown>;
  results: Record<string, unknown>;
  logs: string[];
  /** `completed`, or `failed` after action-fail or a non-zero exit of dispatch. */
  status: 'completed' | 'failed';
  message: string;
}

export interface RunOutput extends NormalizedState {
  event: string;
  exitCode: number;
  timedOut: boolean;
  /** Killed by the `killWhen` probe. */
  killed: boolean;
  stdout: string;
  stderr: string;
  durationMs: number;
  action?: ActionOutput;
  /** What this run alone added to the cumulative lists of the state. */
  thisRun: Pick<NormalizedState, 'logs' | 'statusHistory' | 'systemctlCalls' | 'aptCalls'>;
}

interface MachineUnit {
  pid: number | null;
  enabled: boolean;
  masked: boolean;
}

interface SimDoc {
  contextId: string | null;
  committed: NormalizedState;
  working: NormalizedState;
  action: { name: string; id: string; params: Record<string, unknown>; results: Record<string, unknown>; logs: string[]; failed: boolean; message: string } | null;
  machine: { units: Record<string, MachineUnit> };
}

export class Simulator {
  /** Temp dir holding everything this simulator writes. */
  readonly baseDir: string;
  /** JUJU_SIM_DIR: state.json, unit logs. */
  readonly simDir: string;
  /** OFFLINE_REGISTRY_ROOT: the charm's fake filesystem root. */
  readonly rootDir: string;
  readonly charmDir: string;
  readonly meta: CharmMeta;
  private readonly timeoutMs: number;
  private actionCounter = 0;
  private running = false;

  private constructor(charmDir: string, baseDir: string, meta: CharmMeta, timeoutMs: number) {
    this.charmDir = charmDir;
    this.baseDir = baseDir;
    this.simDir = path.join(baseDir, 'sim');
    this.rootDir = path.join(baseDir, 'root');
    this.meta = meta;
    this.timeoutMs = timeoutMs;
  }

  static async create(opts: SimulatorOptions): Promise<Simulator> {
    const charmDir = path.resolve(opts.charmDir);
    const meta = readCharmMeta(charmDir);
    const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'juju-sim-'));
    const sim = new Simulator(charmDir, baseDir, meta, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    fs.mkdirSync(sim.simDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(sim.rootDir, { recursive: true });
    return sim;
  }

  /** Runs one hook or action against state; never throws for a failing charm, only for a bad call. */
  async run(event: Event, state: State = {}, opts: RunOptions = {}): Promise<RunOutput> {
    // Juju runs one hook at a time per unit; overlapping runs would share one state file.
    if (this.running) throw new Error('Simulator.run called while another run is in progress: await each run (one hook at a time, as Juju does)');
    this.running = true;
    try {
      return await this.runOnce(event, state, opts);
    } finally {
      this.running = false;
    }
  }

  private async runOnce(event: Event, state: State, opts: RunOptions): Promise<RunOutput> {
    const dispatch = path.join(this.charmDir, 'dispatch');
    try {
      fs.accessSync(dispatch, fs.constants.X_OK);
    } catch {
      throw new Error(`${dispatch} is missing or not executable: Juju runs an executable dispatch (mode 0755) for every event`);
    }
    const input = normalizeState(state);
    input.config = validateConfig(this.meta, input.config);
    for (const [name, file] of Object.entries(input.resources)) {
      if (!this.meta.resources[name]) throw new Error(`resource "${name}" is not declared in metadata.yaml`);
      if (!fs.existsSync(file)) throw new Error(`resource "${name}" points to ${file}, which does not exist`);
    }

    const unit = input.unitName;
    const contextId = `${unit}-${typeof event === 'string' ? event : event.action}-${randomBytes(8).toString('hex')}`;
    const env: Record<string, string> = {
      PATH: `${SIM_BIN_DIR}:${opts.unitPath ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
      JUJU_UNIT_NAME: unit,
      JUJU_CHARM_DIR: this.charmDir,
      CHARM_DIR: this.charmDir,
      JUJU_MODEL_NAME: input.model.name,
      JUJU_MODEL_UUID: input.model.uuid,
      JUJU_VERSION,
      JUJU_MACHINE_ID: input.machineId,
      JUJU_PRINCIPAL_UNIT: '',
      JUJU_AVAILABILITY_ZONE: input.availabilityZone,
      JUJU_CONTEXT_ID: contextId,
      JUJU_AGENT_SOCKET_ADDRESS: `@/var/lib/juju/agents/unit-${unit.replace('/', '-')}/agent.socket`,
      JUJU_AGENT_SOCKET_NETWORK: 'unix',
      JUJU_API_ADDRESSES: '10.0.0.1:17070',
      JUJU_CHARM_HTTP_PROXY: '',
      JUJU_CHARM_HTTPS_PROXY: '',
      JUJU_CHARM_FTP_PROXY: '',
      JUJU_CHARM_NO_PROXY: '',
      LANG: 'C.UTF-8',
      DEBIAN_FRONTEND: 'noninteractive',
      OFFLINE_REGISTRY_ROOT: this.rootDir,
      JUJU_SIM_DIR: this.simDir,
      // The simulated agent's tools run on the test's Node.js, whatever node the unit has on PATH.
      JUJU_SIM_NODE: process.execPath,
    };

    const hookState = structuredClone(input);
    let eventName: string;
    let action: SimDoc['action'] = null;
    let after: (s: NormalizedState) => void = () => {};
    if (typeof event === 'string') {
      eventName = event;
      env.JUJU_DISPATCH_PATH = `hooks/${event}`;
      env.JUJU_HOOK_NAME = event;
      const kind = classifyHook(this.meta, event);
      if (kind.kind === 'relation') after = this.prepareRelationHook(kind, hookState, env, opts, event);
      if (kind.kind === 'storage') {
        if (!opts.storage) throw new Error(`${event} needs opts.storage ({ id: '${kind.storage}/0', location })`);
        env.JUJU_STORAGE_ID = opts.storage.id;
        env.JUJU_STORAGE_LOCATION = opts.storage.location;
      }
      if (event.startsWith('secret-')) {
        if (!opts.secret) throw new Error(`${event} needs opts.secret ({ id, label?, revision? })`);
        const id = opts.secret.id.startsWith('secret:') ? opts.secret.id : `secret:${opts.secret.id}`;
        env.JUJU_SECRET_ID = id;
        env.JUJU_SECRET_LABEL = opts.secret.label ?? '';
        env.JUJU_SECRET_REVISION = opts.secret.revision === undefined ? '' : String(opts.secret.revision);
      }
    } else {
      eventName = event.action;
      const params = actionParams(this.meta, event.action, event.params ?? {});
      const id = String(++this.actionCounter);
      env.JUJU_DISPATCH_PATH = `actions/${event.action}`;
      env.JUJU_HOOK_NAME = '';
      env.JUJU_ACTION_NAME = event.action;
      env.JUJU_ACTION_UUID = id;
      env.JUJU_ACTION_TAG = `action-${id}`;
      action = { name: event.action, id, params, results: {}, logs: [], failed: false, message: '' };
    }

    const previous = this.readDoc();
    const doc: SimDoc = {
      contextId,
      committed: structuredClone(hookState),
      working: structuredClone(hookState),
      action,
      machine: previous?.machine ?? { units: {} },
    };
    this.writeDoc(doc);

    const started = Date.now();
    const proc = await runProcess(dispatch, this.charmDir, env, opts.timeoutMs ?? this.timeoutMs, opts.killWhen);
    const durationMs = Date.now() - started;

    const final = this.readDoc();
    if (!final) throw new Error(`simulator state ${this.stateFile} vanished during the hook`);
    final.contextId = null;
    this.writeDoc(final);

    const ok = proc.exitCode === 0;
    let result: NormalizedState;
    if (ok) {
      result = final.working;
      after(result);
    } else {
      // A failed hook keeps only what Juju applies at once; the event itself is retried later.
      result = final.committed;
      result.relations = structuredClone(input.relations);
    }
    const since = <T>(list: T[], before: T[]) => list.slice(before.length);
    const output: RunOutput = {
      ...result,
      event: eventName,
      exitCode: proc.exitCode,
      timedOut: proc.timedOut,
      killed: proc.killed,
      stdout: proc.stdout,
      stderr: proc.stderr,
      durationMs,
      thisRun: {
        logs: since(result.logs, input.logs),
        statusHistory: since(result.statusHistory, input.statusHistory),
        systemctlCalls: since(result.systemctlCalls, input.systemctlCalls),
        aptCalls: since(result.aptCalls, input.aptCalls),
      },
    };
    if (final.action) {
      const failed = final.action.failed || !ok;
      output.action = {
        name: final.action.name,
        id: final.action.id,
        params: final.action.params,
        results: final.action.results,
        logs: final.action.logs,
        status: failed ? 'failed' : 'completed',
        message: final.action.failed ? final.action.message : ok ? '' : `exit status ${proc.exitCode}`,
      };
    }
    return output;
  }

  private prepareRelationHook(
    kind: { endpoint: string; phase: string },
    state: NormalizedState,
    env: Record<string, string>,
    opts: RunOptions,
    event: string,
  ): (s: NormalizedState) => void {
    const onEndpoint = state.relations.filter((r) => r.endpoint === kind.endpoint);
    let rel;
    if (opts.relation !== undefined) {
      const id = typeof opts.relation === 'number' ? opts.relation : Number(String(opts.relation).split(':').pop());
      rel = state.relations.find((r) => r.id === id);
      if (!rel) throw new Error(`${event}: no relation with id ${String(opts.relation)} in the state`);
      if (rel.endpoint !== kind.endpoint) throw new Error(`${event}: relation ${rel.id} is on endpoint ${rel.endpoint}`);
    } else if (onEndpoint.length === 1) {
      rel = onEndpoint[0];
    } else {
      throw new Error(`${event}: ${onEndpoint.length} relations on ${kind.endpoint} in the state; pass { relation: id }`);
    }
    const relId = rel.id;
    env.JUJU_RELATION = rel.endpoint;
    env.JUJU_RELATION_ID = `${rel.endpoint}:${rel.id}`;
    env.JUJU_REMOTE_APP = rel.remoteApp;
    let remoteUnit = '';
    if (kind.phase === 'joined' || kind.phase === 'changed' || kind.phase === 'departed') {
      if (opts.remoteUnit === null) remoteUnit = '';
      else remoteUnit = opts.remoteUnit ?? rel.remoteUnits[0] ?? '';
      if (remoteUnit && !remoteUnit.startsWith(`${rel.remoteApp}/`)) throw new Error(`${event}: remote unit ${remoteUnit} is not a unit of ${rel.remoteApp}`);
      if (kind.phase !== 'changed' && !remoteUnit) throw new Error(`${event}: needs a remote unit (opts.remoteUnit or one in relation ${rel.id})`);
    }
    env.JUJU_REMOTE_UNIT = remoteUnit;
    if (kind.phase === 'joined' && remoteUnit && !rel.remoteUnits.includes(remoteUnit)) {
      rel.remoteUnits.push(remoteUnit);
      rel.remoteUnitsData[remoteUnit] ??= {};
    }
    if (kind.phase === 'departed') {
      const departing = opts.departingUnit ?? remoteUnit;
      env.JUJU_DEPARTING_UNIT = departing;
      // The departing unit is no longer listed, but its data stays readable during the hook.
      rel.remoteUnits = rel.remoteUnits.filter((u) => u !== departing);
      return (s) => {
        const r = s.relations.find((x) => x.id === relId);
        if (r) delete r.remoteUnitsData[departing];
      };
    }
    if (kind.phase === 'broken') {
      // Every remote unit has left by the time -broken runs; the relation goes away after it.
      rel.remoteUnits = [];
      return (s) => {
        s.relations = s.relations.filter((x) => x.id !== relId);
      };
    }
    return () => {};
  }

  /** Runs the fake systemctl outside any hook (e.g. to inspect units from a test). */
  systemctl(...args: string[]): { code: number; stdout: string; stderr: string } {
    const r = spawnSync(path.join(SIM_BIN_DIR, 'systemctl'), args, {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', JUJU_SIM_DIR: this.simDir, JUJU_SIM_NODE: process.execPath, OFFLINE_REGISTRY_ROOT: this.rootDir },
      encoding: 'utf8',
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** What the fake systemd knows of a unit (pid of its process group leader while started). */
  unit(name: string): MachineUnit | undefined {
    const full = name.includes('.') ? name : `${name}.service`;
    return this.readDoc()?.machine.units[full];
  }

  /** The service output the fake systemctl captured for a unit. */
  unitLog(name: string): string {
    const full = name.includes('.') ? name : `${name}.service`;
    const file = path.join(this.simDir, 'units', `${full}.log`);
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  }

  /** Stops every process the fake systemctl started and removes the temp dirs. */
  async cleanup(): Promise<void> {
    const doc = this.readDoc();
    for (const unit of Object.values(doc?.machine.units ?? {})) {
      if (unit.pid) await killGroup(unit.pid);
    }
    fs.rmSync(this.baseDir, { recursive: true, force: true });
  }

  private get stateFile(): string {
    return path.join(this.simDir, 'state.json');
  }

  private readDoc(): SimDoc | null {
    if (!fs.existsSync(this.stateFile)) return null;
    return JSON.parse(fs.readFileSync(this.stateFile, 'utf8')) as SimDoc;
  }

  private writeDoc(doc: SimDoc): void {
    const tmp = `${this.stateFile}.${process.pid}.${randomUUID()}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(doc, null, 1), { mode: 0o600 });
    fs.renameSync(tmp, this.stateFile);
  }
}

interface ProcessResult {
  exitCode: number;
  timedOut: boolean;
  killed: boolean;
  stdout: string;
  stderr: string;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGSEGV: 11, SIGABRT: 6 };

/**
 * Runs dispatch in its own process group and waits until it exits AND its output pipes close
 * (as Juju does: a background child still holding stdout keeps the hook running).
 */
function runProcess(file: string, cwd: string, env: Record<string, string>, timeoutMs: number, killWhen?: () => Promise<boolean>): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let killed = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('exit', (code, signal) => (exited = { code, signal }));
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the group is already gone
      }
      child.stdout.destroy();
      child.stderr.destroy();
      finish();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      const note = exited
        ? `dispatch exited (code ${String(exited.code)}) but a background process still held its stdout/stderr`
        : 'dispatch did not finish';
      stderr += `\n[simulator] timed out after ${timeoutMs} ms: ${note}\n`;
      killGroup();
    }, timeoutMs);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const e = exited as { code: number | null; signal: NodeJS.Signals | null } | null;
      let exitCode = e?.code ?? (e?.signal ? 128 + (SIGNALS[e.signal] ?? 0) : 137);
      // A hook that never finished counts as failed even if dispatch itself had exited 0.
      if ((timedOut || killed) && exitCode === 0) exitCode = 124;
      resolve({ exitCode, timedOut, killed, stdout, stderr });
    };
    if (killWhen) {
      void (async () => {
        while (!done) {
          if (await killWhen().catch(() => false)) {
            if (done) return;
            // Freeze the group first so nothing more happens between the event and the kill.
            try {
              process.kill(-child.pid!, 'SIGSTOP');
            } catch {
              // already gone
            }
            killed = true;
            stderr += '\n[simulator] killed: the killWhen probe became true\n';
            killGroup();
            return;
          }
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
    }
    child.on('close', finish);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${file}: ${err.message}`));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function killGroup(pid: number): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        // gone
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  signal('SIGKILL');
}
