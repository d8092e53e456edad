#!/usr/bin/env node
// A fake systemctl for the simulator: unit files live under $OFFLINE_REGISTRY_ROOT/etc/systemd/system,
// `start` really runs the unit's ExecStart= detached (own session and process group, like a
// service's cgroup), with systemd's clean environment, output appended to <sim>/units/<unit>.log.
// Unit runtime state (pid, enabled, masked, loaded unit text) lives in doc.machine and survives
// between hooks; every call's argv is appended to state.systemctlCalls.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ToolError, exitWithError, simDir, updateDoc } from './simstate.mjs';

const SYSTEMD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const STOP_TIMEOUT_MS = 5000;

class Exit extends Error {
  constructor(code, stderr = '', stdout = '') {
    super(stderr);
    this.code = code;
    this.stderr = stderr;
    this.stdout = stdout;
  }
}

function unitName(name) {
  return /\.(service|socket|timer|target|path|mount)$/.test(name) ? name : `${name}.service`;
}

function unitDirs() {
  const root = process.env.OFFLINE_REGISTRY_ROOT;
  if (!root) throw new ToolError('OFFLINE_REGISTRY_ROOT is not set: the simulator keeps unit files under it');
  return [path.join(root, 'etc/systemd/system'), path.join(root, 'lib/systemd/system'), path.join(root, 'usr/lib/systemd/system')];
}

function unitFile(name) {
  for (const dir of unitDirs()) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return file;
  }
  return null;
}

function unitRecord(doc, name) {
  doc.machine.units[name] ??= { enabled: false, masked: false, pid: null, stoppedByUs: false, loaded: null, result: null };
  return doc.machine.units[name];
}

/** Splits a command line the way systemd does (quotes, backslash escapes). */
function splitCommandLine(line) {
  const words = [];
  let cur = '';
  let inWord = false;
  let quote = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unbalanced quotes in "${line}"`);
  if (inWord) words.push(cur);
  return words;
}

/** Parses the [Service] section of a unit file (continuation lines, empty assignments reset lists). */
function parseUnit(text) {
  const service = {};
  let section = '';
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1];
      continue;
    }
    if (section !== 'Service') continue;
    const eq = line.indexOf('=');
    if (eq === -1) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    service[key] ??= [];
    if (value === '') service[key] = [];
    else service[key].push(value);
  }
  return service;
}

/** systemd's variable expansion: `$VAR` as a whole word splits, `${VAR}` inside words, `$$` is `$`. */
function expandWords(words, env) {
  const out = [];
  for (const word of words) {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (whole) {
      out.push(...(env[whole[1]] ?? '').split(/\s+/).filter(Boolean));
      continue;
    }
    out.push(word.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name) => (m === '$$' ? '$' : env[name] ?? '')));
  }
  return out;
}

function resolveExec(line, unit, env) {
  let words = expandWords(splitCommandLine(line.replace(/%n/g, unit).replace(/%%/g, '%')), env);
  if (words.length === 0) throw new Exit(1, `Failed to start ${unit}: empty ExecStart=`);
  let first = words[0];
  let ignoreFailure = false;
  while (/^[-@+!:]/.test(first)) {
    if (first[0] === '-') ignoreFailure = true;
    first = first.slice(1);
  }
  words = [first, ...words.slice(1)];
  if (!first.startsWith('/')) {
    const found = SYSTEMD_PATH.split(':').map((d) => path.join(d, first)).find((p) => fs.existsSync(p));
    if (!found) throw new Exit(1, `${unit}: Executable "${first}" not found in ${SYSTEMD_PATH}`);
    words[0] = found;
  }
  return { argv: words, ignoreFailure };
}

const capList = (values) => values.flatMap((v) => v.split(/\s+/)).filter(Boolean).map((c) => c.toUpperCase());

/**
 * Whether the service's process holds CAP_NET_BIND_SERVICE, as systemd would run it: root keeps it
 * unless CapabilityBoundingSet= leaves it out; a non-root User= has it only through
 * AmbientCapabilities= (and a bounding set that keeps it).
 */
function bindsLowPorts(service) {
  const user = (service.User ?? []).at(-1);
  const bounding = service.CapabilityBoundingSet ? capList(service.CapabilityBoundingSet) : null;
  const inBounding = bounding === null || (bounding[0]?.startsWith('~') ? !bounding.map((c) => c.replace(/^~/, '')).includes('CAP_NET_BIND_SERVICE') : bounding.includes('CAP_NET_BIND_SERVICE'));
  if (!user || user === 'root' || user === '0') return inBounding;
  return inBounding && capList(service.AmbientCapabilities ?? []).includes('CAP_NET_BIND_SERVICE');
}

/**
 * The service runs as root here (test roots sit under 0700 temp dirs the account cannot enter),
 * but without CAP_NET_BIND_SERVICE when the unit would not grant it: setpriv really drops it, so
 * a bind below 1024 fails in the kernel with the registry's own "permission denied".
 */
function withCapabilities(argv, service) {
  if (bindsLowPorts(service) || process.getuid?.() !== 0) return argv;
  return ['/usr/bin/setpriv', '--inh-caps=-net_bind_service', '--bounding-set=-net_bind_service', '--', ...argv];
}

function serviceEnv(service) {
  const env = { PATH: SYSTEMD_PATH, LANG: 'C.UTF-8' };
  for (const spec of service.EnvironmentFile ?? []) {
    const optional = spec.startsWith('-');
    const file = optional ? spec.slice(1) : spec;
    let text;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      if (optional) continue;
      throw new Exit(1, `Failed to load environment files: ${file}: No such file or directory`);
    }
    for (const line of text.split('\n')) {
      const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
      if (!m) continue;
      let value = m[2].trim();
      if (/^".*"$/.test(value) || /^'.*'$/.test(value)) value = value.slice(1, -1);
      env[m[1]] = value;
    }
  }
  for (const line of service.Environment ?? []) {
    for (const word of splitCommandLine(line)) {
      const eq = word.indexOf('=');
      if (eq > 0) env[word.slice(0, eq)] = word.slice(eq + 1);
    }
  }
  return env;
}

/** Whether pid runs and is not a zombie. */
function alive(pid) {
  if (!pid) return false;
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

function exitFile(name) {
  return path.join(simDir(), 'units', `${name}.exit`);
}

function activeState(rec, name) {
  if (rec.pid && alive(rec.pid)) return 'active';
  if (rec.oneshotActive) return 'active';
  if (rec.result === 'failed') return 'failed';
  if (rec.pid && !rec.stoppedByUs) {
    let code = '';
    try {
      code = fs.readFileSync(exitFile(name), 'utf8').trim();
    } catch {
      // killed by a signal before the shell could record a code
    }
    if (code !== '0') return 'failed';
  }
  return 'inactive';
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function stopUnit(rec) {
  if (!rec.pid) {
    rec.oneshotActive = false;
    return;
  }
  rec.stoppedByUs = true;
  if (alive(rec.pid)) {
    signalGroup(rec.pid, 'SIGTERM');
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (alive(rec.pid) && Date.now() < deadline) sleep(20);
    if (alive(rec.pid)) signalGroup(rec.pid, 'SIGKILL');
    // The group may hold children of the main process; systemd kills the whole cgroup.
    signalGroup(rec.pid, 'SIGKILL');
  }
  rec.pid = null;
  rec.oneshotActive = false;
}

function loadUnit(rec, name, out) {
  const file = unitFile(name);
  if (!file) return null;
  const text = fs.readFileSync(file, 'utf8');
  if (rec.loaded === null) rec.loaded = text;
  else if (rec.loaded !== text) {
    // systemd keeps running the definition from the last daemon-reload.
    out.stderr += `Warning: The unit file, source configuration file or drop-ins of ${name} changed on disk. Run 'systemctl daemon-reload' to reload units.\n`;
  }
  return parseUnit(rec.loaded);
}

function startUnit(doc, name, out) {
  const rec = unitRecord(doc, name);
  if (rec.masked) throw new Exit(1, `Failed to start ${name}: Unit ${name} is masked.`);
  const service = loadUnit(rec, name, out);
  if (!service) throw new Exit(5, `Failed to start ${name}: Unit ${name} not found.`);
  if (activeState(rec, name) === 'active') return;
  const env = serviceEnv(service);
  const cwd = (service.WorkingDirectory ?? []).at(-1)?.replace(/^-/, '') ?? '/';
  const logDir = path.join(simDir(), 'units');
  fs.mkdirSync(logDir, { recursive: true });
  const logFd = fs.openSync(path.join(logDir, `${name}.log`), 'a');
  const failed = () => new Exit(1, `Job for ${name} failed because the control process exited with error code.\nSee "systemctl status ${name}" and "journalctl -xeu ${name}" for details.`);
  try {
    for (const pre of service.ExecStartPre ?? []) {
      const { argv, ignoreFailure } = resolveExec(pre, name, env);
      const r = spawnSync(argv[0], argv.slice(1), { env, cwd, stdio: ['ignore', logFd, logFd] });
      if (r.status !== 0 && !ignoreFailure) {
        rec.result = 'failed';
        throw failed();
      }
    }
    const starts = service.ExecStart ?? [];
    if (starts.length === 0) throw new Exit(1, `Failed to start ${name}: Unit ${name} has no ExecStart= setting.`);
    const type = (service.Type ?? []).at(-1) ?? 'simple';
    rec.result = null;
    rec.stoppedByUs = false;
    if (type === 'oneshot') {
      for (const line of starts) {
        const { argv, ignoreFailure } = resolveExec(line, name, env);
        const r = spawnSync(argv[0], argv.slice(1), { env, cwd, stdio: ['ignore', logFd, logFd] });
        if (r.status !== 0 && !ignoreFailure) {
          rec.result = 'failed';
          throw failed();
        }
      }
      rec.oneshotActive = /^(yes|true|1|on)$/i.test((service.RemainAfterExit ?? []).at(-1) ?? 'no');
      return;
    }
    const argv = withCapabilities(resolveExec(starts.at(-1), name, env).argv, service);
    try {
      fs.rmSync(exitFile(name), { force: true });
    } catch {
      // nothing recorded yet
    }
    // The shell stays as group leader so the exit code of the service can be recorded.
    const child = spawn('/bin/sh', ['-c', '"$@"; echo $? > "$SIM_EXIT_FILE"', 'sh', ...argv], {
      detached: true,
      cwd,
      env: { ...env, SIM_EXIT_FILE: exitFile(name) },
      stdio: ['ignore', logFd, logFd],
    });
    child.unref();
    rec.pid = child.pid;
    rec.startedAt = new Date().toISOString();
  } finally {
    fs.closeSync(logFd);
  }
}

/** Like the journal lines `systemctl status` ends with: the unit's last output, one line each. */
function journalTail(name, rec, count) {
  if (!count) return '';
  let text;
  try {
    text = fs.readFileSync(path.join(simDir(), 'units', `${name}.log`), 'utf8');
  } catch {
    return '';
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '').slice(-count);
  if (lines.length === 0) return '';
  const stamp = new Date().toLocaleString('en-US', { month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }).replace(',', '');
  const ident = `${os.hostname()} ${name.replace(/\.service$/, '')}[${rec.pid ?? 0}]`;
  return `\n${lines.map((l) => `${stamp} ${ident}: ${l}`).join('\n')}\n`;
}

function parse(args) {
  const flags = new Set();
  const values = {};
  const positional = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-s' || a === '--signal' || a === '-p' || a === '--property' || a === '-n' || a === '--lines') {
      values[a.replace(/^-+/, '')[0].replace('l', 'n')] = args[++i];
    } else if (a.startsWith('--lines=')) values.n = a.slice(8); else if (a.startsWith('--signal=')) values.s = a.slice(9);
    else if (a.startsWith('--property=')) values.p = a.slice(11);
    else if (a === '-q') flags.add('quiet');
    else if (a.startsWith('-')) flags.add(a.replace(/^-+/, ''));
    else positional.push(a);
  }
  return { flags, values, command: positional[0], units: positional.slice(1).map(unitName) };
}

function run(args, doc, out) {
  const { flags, values, command, units } = parse(args);
  const quiet = flags.has('quiet');
  const needUnits = () => {
    if (units.length === 0) throw new Exit(1, `Too few arguments.`);
  };
  switch (command) {
    case 'daemon-reload':
      for (const [name, rec] of Object.entries(doc.machine.units)) {
        const file = unitFile(name);
        rec.loaded = file ? fs.readFileSync(file, 'utf8') : null;
      }
      return 0;
    case 'enable':
    case 'disable':
      needUnits();
      for (const name of units) {
        const rec = unitRecord(doc, name);
        if (command === 'enable') {
          if (rec.masked) throw new Exit(1, `Failed to enable unit: Unit file ${name} is masked.`);
          if (!unitFile(name)) throw new Exit(1, `Failed to enable unit: Unit file ${name} does not exist.`);
          rec.enabled = true;
          if (flags.has('now')) startUnit(doc, name, out);
        } else {
          rec.enabled = false;
          if (flags.has('now')) stopUnit(rec);
        }
      }
      return 0;
    case 'mask':
    case 'unmask':
      needUnits();
      for (const name of units) unitRecord(doc, name).masked = command === 'mask';
      if (command === 'mask' && flags.has('now')) for (const name of units) stopUnit(unitRecord(doc, name));
      return 0;
    case 'start':
      needUnits();
      for (const name of units) startUnit(doc, name, out);
      return 0;
    case 'stop':
      needUnits();
      for (const name of units) stopUnit(unitRecord(doc, name));
      return 0;
    case 'restart':
    case 'reload-or-restart':
    case 'try-restart':
    case 'try-reload-or-restart':
      needUnits();
      for (const name of units) {
        const rec = unitRecord(doc, name);
        const wasActive = activeState(rec, name) === 'active';
        if (command.startsWith('try-') && !wasActive) continue;
        stopUnit(rec);
        startUnit(doc, name, out);
      }
      return 0;
    case 'is-active':
    case 'is-failed': {
      needUnits();
      let hit = false;
      for (const name of units) {
        const state = activeState(unitRecord(doc, name), name);
        if (command === 'is-active' ? state === 'active' : state === 'failed') hit = true;
        if (!quiet) out.stdout += `${state}\n`;
      }
      return hit ? 0 : command === 'is-active' ? 3 : 1;
    }
    case 'is-enabled': {
      needUnits();
      let code = 1;
      for (const name of units) {
        const rec = unitRecord(doc, name);
        let state;
        if (rec.masked) state = 'masked';
        else if (!unitFile(name)) throw new Exit(1, `Failed to get unit file state for ${name}: No such file or directory`);
        else state = rec.enabled ? 'enabled' : 'disabled';
        if (state === 'enabled') code = 0;
        if (!quiet) out.stdout += `${state}\n`;
      }
      return code;
    }
    case 'status': {
      needUnits();
      let code = 0;
      for (const name of units) {
        const rec = unitRecord(doc, name);
        const file = unitFile(name);
        if (!file && !rec.masked) {
          out.stderr += `Unit ${name} could not be found.\n`;
          code = 4;
          continue;
        }
        const state = activeState(rec, name);
        const loaded = rec.masked ? 'masked (Reason: Unit is masked.)' : `loaded (${file}; ${rec.enabled ? 'enabled' : 'disabled'})`;
        const active = state === 'active' ? `active (running) since ${rec.startedAt}` : state === 'failed' ? 'failed (Result: exit-code)' : 'inactive (dead)';
        out.stdout += `${state === 'active' ? '●' : '○'} ${name}\n     Loaded: ${loaded}\n     Active: ${active}\n`;
        if (state === 'active' && rec.pid) out.stdout += `   Main PID: ${rec.pid}\n`;
        out.stdout += journalTail(name, rec, values.n === undefined ? 10 : Number(values.n));
        if (state !== 'active' && code === 0) code = 3;
      }
      return code;
    }
    case 'show': {
      needUnits();
      const props = values.p ? values.p.split(',') : ['ActiveState', 'MainPID', 'UnitFileState'];
      for (const name of units) {
        const rec = unitRecord(doc, name);
        const state = activeState(rec, name);
        const all = {
          Id: name,
          ActiveState: state,
          SubState: state === 'active' ? 'running' : state === 'failed' ? 'failed' : 'dead',
          MainPID: state === 'active' && rec.pid ? String(rec.pid) : '0',
          UnitFileState: rec.masked ? 'masked' : rec.enabled ? 'enabled' : 'disabled',
          LoadState: rec.masked ? 'masked' : unitFile(name) ? 'loaded' : 'not-found',
        };
        for (const p of props) out.stdout += `${p}=${all[p] ?? ''}\n`;
      }
      return 0;
    }
    case 'reset-failed':
      for (const name of units.length ? units : Object.keys(doc.machine.units)) {
        const rec = unitRecord(doc, name);
        if (activeState(rec, name) === 'failed') {
          rec.result = null;
          rec.pid = null;
        }
      }
      return 0;
    case 'kill': {
      needUnits();
      const signal = values.s ? (values.s.startsWith('SIG') ? values.s : /^[0-9]+$/.test(values.s) ? Number(values.s) : `SIG${values.s}`) : 'SIGTERM';
      for (const name of units) {
        const rec = unitRecord(doc, name);
        if (rec.pid && alive(rec.pid)) signalGroup(rec.pid, signal);
      }
      return 0;
    }
    case undefined:
      throw new Exit(1, 'the simulator has no unit listing; name a command');
    default:
      throw new Exit(1, `Unknown command verb '${command}'.`);
  }
}

function main() {
  const args = process.argv.slice(2);
  const out = { stdout: '', stderr: '' };
  let code = 0;
  try {
    // Hold the lock for the whole call: concurrent start/stop of one unit must not interleave.
    updateDoc((doc) => {
      doc.machine ??= { units: {} };
      doc.machine.units ??= {};
      for (const s of [doc.working, doc.committed]) s?.systemctlCalls?.push(['systemctl', ...args]);
      try {
        code = run(args, doc, out);
      } catch (err) {
        if (!(err instanceof Exit)) throw err;
        code = err.code;
        out.stderr += `${err.stderr}\n`;
      }
    });
  } catch (err) {
    exitWithError(err);
  }
  process.stdout.write(out.stdout);
  process.stderr.write(out.stderr);
  process.exitCode = code;
}

main();
