#!/usr/bin/env node
// The Juju hook tools (jujuc commands) as the test simulator provides them. Invoked as
// `node hooktool.mjs <tool> args...` by the wrappers in ./bin. Output formats, exit codes and error
// texts follow juju/juju worker/uniter/runner/jujuc (Juju 3): runtime errors exit 1 with
// `ERROR <msg>` on stderr, bad arguments or flags exit 2.
//
// State lives in <JUJU_SIM_DIR>/state.json (see simstate.mjs): `committed` holds what survives a
// failed hook (status, logs, action output, leader settings), `working` holds everything the hook
// has done so far; the harness keeps `working` when dispatch exits 0 and `committed` otherwise.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ToolError, exitWithError, readDoc, updateDoc } from './simstate.mjs';

const USAGE = 2;

// Loaded on first use: most tool calls never touch YAML, and every call pays Node's startup.
let yamlModule;
const YAML = {
  parse: (text) => (yamlModule ??= createRequire(import.meta.url)('yaml')).parse(text),
  stringify: (value) => (yamlModule ??= createRequire(import.meta.url)('yaml')).stringify(value),
};

// ---------------------------------------------------------------- argument parsing (gnuflag-like)

/**
 * Parses args Juju-style: flags may be interspersed with positional args, `--` ends flags,
 * `--name=value`, `--name value`, `-n value`. spec: { bool: [...], value: [...], alias: {short: long} }.
 */
function parseArgs(args, spec) {
  const bools = new Set(spec.bool ?? []);
  const values = new Set(spec.value ?? []);
  const alias = spec.alias ?? {};
  const flags = {};
  const positional = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    let name = eq === -1 ? body : body.slice(0, eq);
    name = alias[name] ?? name;
    const inline = eq === -1 ? undefined : body.slice(eq + 1);
    if (bools.has(name)) {
      if (inline === undefined || inline === 'true') flags[name] = true;
      else if (inline === 'false') flags[name] = false;
      else throw new ToolError(`invalid boolean value "${inline}" for option ${arg.slice(0, arg.indexOf('='))}`, USAGE);
    } else if (values.has(name)) {
      let value = inline;
      if (value === undefined) {
        if (i + 1 >= args.length) throw new ToolError(`option needs an argument: ${arg}`, USAGE);
        value = args[++i];
      }
      flags[name] = value;
    } else {
      throw new ToolError(`option provided but not defined: ${arg.split('=')[0]}`, USAGE);
    }
  }
  return { flags, positional };
}

const FORMATS = ['json', 'yaml', 'smart'];

function formatOf(flags, fallback = 'smart') {
  const format = flags.format ?? fallback;
  if (!FORMATS.includes(format)) {
    throw new ToolError(`invalid value "${format}" for option --format: unknown format "${format}"`, USAGE);
  }
  return format;
}

/** Go marshals map keys sorted; structs (network-get) keep field order. */
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k])]));
}

/** Writes value like juju/cmd's Output: json, yaml or smart (plain strings, True/False, YAML for the rest). */
function emit(value, format, { struct = false } = {}) {
  if (!struct) value = sortKeys(value);
  let text;
  if (format === 'json') text = JSON.stringify(value === undefined ? null : value);
  else if (format === 'yaml') text = value === null || value === undefined ? '' : YAML.stringify(value);
  else if (value === null || value === undefined) text = '';
  else if (typeof value === 'string') text = value;
  else if (typeof value === 'boolean') text = value ? 'True' : 'False';
  else if (typeof value === 'number') text = String(value);
  else text = YAML.stringify(value);
  if (text.length > 0 && !text.endsWith('\n')) text += '\n';
  process.stdout.write(text);
}

function checkEmpty(rest) {
  if (rest.length > 0) throw new ToolError(`unrecognized args: ${JSON.stringify(rest)}`, USAGE);
}

/** keyvalues.Parse(args, allowEmpty=true) from juju/utils. */
function parseKeyValues(args) {
  const out = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new ToolError(`expected "key=value", got "${arg}"`, USAGE);
    const key = arg.slice(0, eq);
    if (Object.prototype.hasOwnProperty.call(out, key)) throw new ToolError(`key "${key}" specified more than once`, USAGE);
    out[key] = arg.slice(eq + 1);
  }
  return out;
}

/** Reads a YAML map of strings from a path or `-` (stdin), as relation-set/state-set --file do. */
function readSettingsFile(file) {
  let text;
  try {
    text = file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ToolError(`open ${file}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`);
  }
  let data;
  try {
    data = YAML.parse(text);
  } catch (err) {
    throw new ToolError(`yaml: ${err.message.split('\n')[0]}`);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ToolError(`yaml: unmarshal errors: cannot unmarshal ${Array.isArray(data) ? '!!seq' : '!!str'} into map[string]string`);
  }
  const out = {};
  for (const [k, v] of Object.entries(data)) {
    if (v !== null && typeof v === 'object') throw new ToolError(`yaml: unmarshal errors: cannot unmarshal !!map into string (key "${k}")`);
    out[k] = v === null ? '' : String(v);
  }
  return out;
}

// ------------------------------------------------------------------------------- hook context

function env(name) {
  return process.env[name] ?? '';
}

function appOf(unit) {
  return unit.split('/')[0];
}

/** Loads the state and checks this process belongs to the running hook, as jujuc's context id does. */
function loadContext() {
  const doc = readDoc();
  const contextId = env('JUJU_CONTEXT_ID');
  if (!contextId) throw new ToolError('JUJU_CONTEXT_ID not set: run hook tools from within a hook (keep the hook environment for child processes)');
  if (doc.contextId !== contextId) throw new ToolError(`bad request: unknown context "${contextId}" (the hook it belongs to has ended)`);
  return doc;
}

/** Applies fn to the working state only: lost if the hook fails. */
function deferred(fn) {
  return updateDoc((doc) => {
    checkContext(doc);
    return fn(doc.working, doc);
  });
}

/** Applies fn to both copies: kept even if the hook fails. */
function immediate(fn) {
  return updateDoc((doc) => {
    checkContext(doc);
    fn(doc.working, doc);
    fn(doc.committed, doc);
  });
}

function checkContext(doc) {
  if (doc.contextId !== env('JUJU_CONTEXT_ID')) throw new ToolError(`bad request: unknown context "${env('JUJU_CONTEXT_ID')}"`);
}

function unitName(doc) {
  return doc.working.unitName;
}

function charmFile(name) {
  const dir = env('JUJU_CHARM_DIR') || env('CHARM_DIR');
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) return null;
  return YAML.parse(fs.readFileSync(file, 'utf8')) ?? {};
}

// ------------------------------------------------------------------------------------ relations

function findRelation(state, raw, flagName = '-r') {
  const trimmed = raw.includes(':') ? raw.slice(raw.lastIndexOf(':') + 1) : raw;
  if (!/^[0-9]+$/.test(trimmed)) throw new ToolError(`invalid value "${raw}" for option ${flagName}: invalid relation id`, USAGE);
  const rel = state.relations.find((r) => r.id === Number(trimmed));
  if (!rel) throw new ToolError(`invalid value "${raw}" for option ${flagName}: unknown relation id`, USAGE);
  return rel;
}

/** The relation named by -r/--relation, else the hook's own relation (JUJU_RELATION_ID). */
function relationFromFlags(state, flags) {
  if (flags.relation !== undefined) return findRelation(state, flags.relation);
  const current = env('JUJU_RELATION_ID');
  if (current) {
    const rel = findRelation(state, current);
    return rel;
  }
  throw new ToolError('no relation id specified', USAGE);
}

function relationKey(rel) {
  return `${rel.endpoint}:${rel.id}`;
}

function relationIds(args) {
  const { flags, positional } = parseArgs(args, { value: ['format'] });
  const format = formatOf(flags);
  const doc = loadContext();
  let endpoint = positional[0];
  if (endpoint === undefined) {
    endpoint = env('JUJU_RELATION');
    if (!endpoint) throw new ToolError('no endpoint name specified', USAGE);
  }
  checkEmpty(positional.slice(1));
  const ids = doc.working.relations.filter((r) => r.endpoint === endpoint).map(relationKey);
  emit(ids, format);
}

function relationList(args) {
  const { flags, positional } = parseArgs(args, { value: ['format', 'relation'], bool: ['app'], alias: { r: 'relation' } });
  const format = formatOf(flags);
  checkEmpty(positional);
  const doc = loadContext();
  const rel = relationFromFlags(doc.working, flags);
  if (flags.app) return emit(rel.remoteApp, format);
  emit([...rel.remoteUnits].sort(), format);
}

function relationGet(args) {
  const { flags, positional } = parseArgs(args, { value: ['format', 'relation'], bool: ['app'], alias: { r: 'relation' } });
  const format = formatOf(flags);
  const doc = loadContext();
  const state = doc.working;
  const rel = relationFromFlags(state, flags);
  let key = positional[0] ?? '';
  if (key === '-') key = '';
  const rest = positional.slice(1);
  let isApp = Boolean(flags.app);
  let target;
  if (rest.length > 0) {
    const supplied = rest.shift();
    target = isApp && supplied.includes('/') ? appOf(supplied) : supplied;
  } else if (isApp) {
    if (!env('JUJU_REMOTE_APP')) throw new ToolError('no unit or application specified', USAGE);
    target = env('JUJU_REMOTE_APP');
  } else if (env('JUJU_REMOTE_UNIT')) {
    target = env('JUJU_REMOTE_UNIT');
  } else if (env('JUJU_REMOTE_APP')) {
    target = env('JUJU_REMOTE_APP');
    isApp = true;
  } else {
    throw new ToolError('no unit or application specified', USAGE);
  }
  checkEmpty(rest);

  const own = unitName(doc);
  let bag;
  if (target === own) {
    bag = isApp ? readOwnAppBag(state, rel, own) : rel.localUnitData;
  } else if (target === appOf(own)) {
    bag = readOwnAppBag(state, rel, own);
  } else if (isApp) {
    if (target !== rel.remoteApp) throw new ToolError('permission denied');
    bag = rel.remoteAppData;
  } else {
    if (!target.includes('/')) throw new ToolError(`"${target}" is not a valid unit name`);
    if (!Object.prototype.hasOwnProperty.call(rel.remoteUnitsData, target) && !rel.remoteUnits.includes(target)) {
      throw new ToolError('permission denied');
    }
    bag = rel.remoteUnitsData[target] ?? {};
  }
  if (key === '') return emit(bag, format);
  emit(Object.prototype.hasOwnProperty.call(bag, key) ? bag[key] : null, format);
}

// Juju lets every unit read its own application's bag of a PEER relation (a peer relation's
// remote app is the unit's own app); in other relations only the leader may read it.
function readOwnAppBag(state, rel, own) {
  if (!state.leader && rel.remoteApp !== appOf(own)) throw new ToolError('permission denied');
  return rel.localAppData;
}

function relationSet(args) {
  const { flags, positional } = parseArgs(args, { value: ['format', 'relation', 'file'], bool: ['app'], alias: { r: 'relation' } });
  if (flags.format !== undefined) process.stderr.write('--format flag deprecated for command "relation-set"');
  const doc = loadContext();
  relationFromFlags(doc.working, flags);
  const overrides = parseKeyValues(positional);
  const settings = flags.file !== undefined ? { ...readSettingsFile(flags.file), ...overrides } : overrides;
  deferred((state) => {
    const rel = relationFromFlags(state, flags);
    let bag = rel.localUnitData;
    if (flags.app) {
      if (!state.leader) throw new ToolError('cannot write relation settings: permission denied (only the leader may write the application bag)');
      bag = rel.localAppData;
    }
    for (const [k, v] of Object.entries(settings)) {
      if (v === '') delete bag[k];
      else bag[k] = v;
    }
  });
}

// --------------------------------------------------------------------------------- simple tools

function configGet(args) {
  const { flags, positional } = parseArgs(args, { value: ['format'], bool: ['all'], alias: { a: 'all' } });
  const format = formatOf(flags);
  const key = positional[0];
  checkEmpty(positional.slice(1));
  const doc = loadContext();
  const options = charmFile('config.yaml')?.options ?? {};
  const values = {};
  for (const [name, opt] of Object.entries(options)) {
    const v = opt && Object.prototype.hasOwnProperty.call(opt, 'default') ? opt.default : null;
    if (v !== null && v !== undefined) values[name] = v;
    else if (flags.all) values[name] = null;
  }
  for (const [name, v] of Object.entries(doc.working.config)) values[name] = v;
  if (key === undefined) return emit(values, format);
  emit(Object.prototype.hasOwnProperty.call(values, key) ? values[key] : null, format);
}

function isLeader(args) {
  const { flags, positional } = parseArgs(args, { value: ['format'] });
  const format = formatOf(flags);
  checkEmpty(positional);
  emit(Boolean(loadContext().working.leader), format);
}

const STATUSES = ['maintenance', 'blocked', 'waiting', 'active'];

function statusSet(args) {
  const { flags, positional } = parseArgs(args, { bool: ['application'] });
  if (positional.length < 1) throw new ToolError('invalid args, require <status> [message]', USAGE);
  const [status, message = ''] = positional;
  if (!STATUSES.includes(status)) throw new ToolError(`invalid status "${status}", expected one of [${STATUSES.join(' ')}]`, USAGE);
  checkEmpty(positional.slice(2));
  const target = flags.application ? 'application' : 'unit';
  immediate((state) => {
    if (target === 'application' && !state.leader) throw new ToolError('setting application status: this unit is not the leader');
    const entry = { status, message };
    if (target === 'application') state.appStatus = entry;
    else state.unitStatus = entry;
    state.statusHistory.push({ target, status, message });
  });
}

function statusGet(args) {
  const { flags, positional } = parseArgs(args, { value: ['format'], bool: ['application', 'include-data'] });
  const format = formatOf(flags);
  checkEmpty(positional);
  const state = loadContext().working;
  const describe = (s) => ({ message: s.message, status: s.status, 'status-data': {} });
  if (flags.application) {
    if (!state.leader) throw new ToolError('finding application status: this unit is not the leader');
    return emit({
      'application-status': { ...describe(state.appStatus), units: { [state.unitName]: describe(state.unitStatus) } },
    }, format);
  }
  if (flags['include-data']) return emit(describe(state.unitStatus), format);
  emit(state.unitStatus.status, format);
}

function applicationVersionSet(args) {
  const { positional } = parseArgs(args, {});
  if (positional.length < 1) throw new ToolError('no version specified', USAGE);
  checkEmpty(positional.slice(1));
  immediate((state) => {
    state.workloadVersion = positional[0];
  });
}

const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];

function jujuLog(args) {
  const { flags, positional } = parseArgs(args, { value: ['log-level', 'format'], bool: ['debug'], alias: { l: 'log-level' } });
  if (positional.length === 0) throw new ToolError('no message specified', USAGE);
  if (flags.format !== undefined) process.stderr.write('--format flag deprecated for command "juju-log"');
  const message = positional.join(' ');
  const entries = [];
  let level = flags.debug ? 'DEBUG' : String(flags['log-level'] ?? 'INFO').toUpperCase();
  if (level === 'WARN') level = 'WARNING';
  if (!LOG_LEVELS.includes(level)) {
    entries.push({ level: 'WARNING', message: `Specified log level of "${flags['log-level']}" is not valid` });
    level = 'INFO';
  }
  entries.push({ level, message });
  immediate((state) => {
    state.logs.push(...entries.map((e) => ({ ...e })));
  });
}

function resourceGet(args) {
  const { positional } = parseArgs(args, {});
  if (positional.length < 1) throw new ToolError('missing required resource name', USAGE);
  checkEmpty(positional.slice(1));
  const name = positional[0];
  const state = loadContext().working;
  const file = state.resources[name];
  if (file === undefined || file === null) {
    throw new ToolError(`could not download resource: resource#${appOf(state.unitName)}/${name} not found`);
  }
  // jujuc prints the path with fmt.Fprint: no newline.
  process.stdout.write(path.resolve(file));
}

// -------------------------------------------------------------------------------------- actions

function actionOf(doc) {
  if (!env('JUJU_ACTION_NAME') || !doc.action) throw new ToolError('not running an action');
  return doc.action;
}

function dig(obj, keys) {
  let cur = obj;
  for (const k of keys) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, k)) return null;
    cur = cur[k];
  }
  return cur;
}

function actionGet(args) {
  const { flags, positional } = parseArgs(args, { value: ['format'] });
  const format = formatOf(flags);
  checkEmpty(positional.slice(1));
  const action = actionOf(loadContext());
  const key = positional[0];
  if (key === undefined || key === '-') return emit(action.params, format);
  emit(dig(action.params, key.split('.')), format);
}

const ACTION_KEY = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const RESERVED_ACTION_KEYS = ['stdout', 'stderr', 'stdout-encoding', 'stderr-encoding'];

function actionSet(args) {
  const { positional } = parseArgs(args, {});
  const pairs = [];
  for (const arg of positional) {
    const eq = arg.indexOf('=');
    if (eq === -1) throw new ToolError(`argument "${arg}" must be of the form key...=value`, USAGE);
    const keys = arg.slice(0, eq).split('.');
    for (const key of keys) {
      if (!ACTION_KEY.test(key)) {
        throw new ToolError(`key "${key}" must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods`, USAGE);
      }
    }
    pairs.push([keys, arg.slice(eq + 1)]);
  }
  updateDoc((doc) => {
    checkContext(doc);
    const action = actionOf(doc);
    for (const [keys] of pairs) {
      if (RESERVED_ACTION_KEYS.includes(keys[0])) throw new ToolError(`cannot set reserved action key "${keys[0]}"`);
    }
    for (const [keys, value] of pairs) {
      let cur = action.results;
      for (const k of keys.slice(0, -1)) {
        if (cur[k] === null || typeof cur[k] !== 'object') cur[k] = {};
        cur = cur[k];
      }
      cur[keys[keys.length - 1]] = value;
    }
  });
}

function actionFail(args) {
  const { positional } = parseArgs(args, {});
  if (positional.length > 1) throw new ToolError(`unrecognized args: ${JSON.stringify(positional.slice(1))}`, USAGE);
  const message = positional[0] ?? 'action failed without reason given, check action for errors';
  updateDoc((doc) => {
    checkContext(doc);
    const action = actionOf(doc);
    action.failed = true;
    action.message = message;
  });
}

function actionLog(args) {
  const { positional } = parseArgs(args, {});
  if (positional.length === 0) throw new ToolError('no message specified', USAGE);
  updateDoc((doc) => {
    checkContext(doc);
    actionOf(doc).logs.push(positional.join(' '));
  });
}

// ---------------------------------------------------------------------------------------- ports

/** Parses a port spec as jujuc/ports.go does and returns its canonical text. */
function canonicalPort(spec) {
  const arg = spec.toLowerCase();
  if (arg === 'icmp') return 'icmp';
  const m = /^([0-9]+)(?:-([0-9]+))?(?:\/([a-z0-9]+))?$/.exec(arg);
  if (!m) throw new ToolError(`expected <port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp; got "${spec}"`, USAGE);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  const proto = m[3] ?? 'tcp';
  if (proto === 'icmp') throw new ToolError(`protocol "icmp" doesn't support any ports; got "${from}"`, USAGE);
  if (from > to) throw new ToolError(`invalid port range ${from}-${to}/${proto}; expected fromPort <= toPort`, USAGE);
  if (from < 1 || from > 65535 || to < 1 || to > 65535) throw new ToolError(`port must be in the range [1, 65535]; got "${from < 1 || from > 65535 ? from : to}"`, USAGE);
  if (proto !== 'tcp' && proto !== 'udp') throw new ToolError(`protocol must be "tcp", "udp", or "icmp"; got "${m[3]}"`, USAGE);
  return from === to ? `${from}/${proto}` : `${from}-${to}/${proto}`;
}

function portCommand(args, open) {
  const { flags, positional } = parseArgs(args, { value: ['format', 'endpoints'] });
  if (positional.length === 0) throw new ToolError('no port or range specified', USAGE);
  const port = canonicalPort(positional[0]);
  checkEmpty(positional.slice(1));
  if (flags.format !== undefined) process.stderr.write(`--format flag deprecated for command "${open ? 'open-port' : 'close-port'}"`);
  deferred((state) => {
    const has = state.openedPorts.includes(port);
    if (open && !has) state.openedPorts.push(port);
    if (!open && has) state.openedPorts = state.openedPorts.filter((p) => p !== port);
  });
}

function openedPorts(args) {
  const { flags, positional } = parseArgs(args, { value: ['format'], bool: ['endpoints'] });
  const format = formatOf(flags);
  checkEmpty(positional);
  const ports = loadContext().working.openedPorts;
  emit(flags.endpoints ? ports.map((p) => `${p} (*)`) : ports, format);
}

// -------------------------------------------------------------------------------------- network

function networkInfo(state) {
  const a = state.addresses;
  const ingress = a.ingress;
  const bind = a.bind ?? ingress;
  const iface = a.interfaceName ?? 'eth0';
  const mac = a.macAddress ?? '';
  return {
    'bind-addresses': [
      {
        'mac-address': mac,
        'interface-name': iface,
        addresses: [{ hostname: '', value: bind, cidr: a.cidr ?? defaultCidr(bind) }],
        macaddress: mac,
        interfacename: iface,
      },
    ],
    'egress-subnets': a.egressSubnets ?? [`${ingress}/32`],
    'ingress-addresses': [ingress],
  };
}

function defaultCidr(ip) {
  const parts = ip.split('.');
  if (parts.length !== 4) return `${ip}/128`;
  return `${parts.slice(0, 3).join('.')}.0/24`;
}

function bindingNames() {
  const meta = charmFile('metadata.yaml') ?? {};
  const names = [];
  for (const section of ['provides', 'requires', 'peers', 'extra-bindings']) {
    names.push(...Object.keys(meta[section] ?? {}));
  }
  return names;
}

function networkGet(args) {
  const { flags, positional } = parseArgs(args, {
    value: ['format', 'relation'],
    bool: ['ingress-address', 'bind-address', 'egress-subnets', 'primary-address'],
    alias: { r: 'relation' },
  });
  const format = formatOf(flags);
  const doc = loadContext();
  const state = doc.working;
  if (flags.relation !== undefined) findRelation(state, flags.relation);
  if (positional.length === 0) throw new ToolError('no arguments specified', USAGE);
  const binding = positional[0];
  checkEmpty(positional.slice(1));
  if (!bindingNames().includes(binding)) throw new ToolError(`no network config found for binding "${binding}"`);
  const info = networkInfo(state);
  const picks = [];
  if (flags['bind-address'] || flags['primary-address']) picks.push(['bind-address', info['bind-addresses'][0].addresses[0].value]);
  if (flags['ingress-address']) picks.push(['ingress-address', info['ingress-addresses'][0]]);
  if (flags['egress-subnets']) picks.push(['egress-subnets', info['egress-subnets']]);
  if (picks.length === 0) return emit(info, format, { struct: true });
  if (picks.length === 1) return emit(picks[0][1], format);
  emit(Object.fromEntries(picks), format);
}

function unitGet(args) {
  const { flags, positional } = parseArgs(args, { value: ['format'] });
  const format = formatOf(flags);
  if (positional.length === 0) throw new ToolError('no setting specified', USAGE);
  checkEmpty(positional.slice(1));
  const setting = positional[0];
  if (setting !== 'private-address' && setting !== 'public-address') throw new ToolError(`unknown setting "${setting}"`, USAGE);
  const a = loadContext().working.addresses;
  emit(setting === 'private-address' ? a.ingress : (a.public ?? a.ingress), format);
}

// -------------------------------------------------------------------------- unit state, leader

function stateGet(args) {
  const { flags, positional } = parseArgs(args, { value: ['format'], bool: ['strict'] });
  const format = formatOf(flags);
  checkEmpty(positional.slice(1));
  const store = loadContext().working.unitState;
  const key = positional[0];
  if (key === undefined || key === '-') return emit(store, format);
  if (!Object.prototype.hasOwnProperty.call(store, key)) {
    if (flags.strict) throw new ToolError(`"${key}" not found`);
    return emit('', format);
  }
  emit(store[key], format);
}

function stateSet(args) {
  const { flags, positional } = parseArgs(args, { value: ['file'] });
  const overrides = parseKeyValues(positional);
  const values = flags.file !== undefined ? { ...readSettingsFile(flags.file), ...overrides } : overrides;
  loadContext();
  deferred((state) => {
    Object.assign(state.unitState, values);
  });
}

function stateDelete(args) {
  const { positional } = parseArgs(args, {});
  if (positional.length !== 1) throw new ToolError('state-delete takes exactly one key', USAGE);
  deferred((state) => {
    delete state.unitState[positional[0]];
  });
}

function leaderGet(args) {
  const { flags, positional } = parseArgs(args, { value: ['format'] });
  const format = formatOf(flags);
  checkEmpty(positional.slice(1));
  const data = loadContext().working.leaderData;
  const key = positional[0];
  if (key === undefined || key === '-') return emit(data, format);
  emit(Object.prototype.hasOwnProperty.call(data, key) ? data[key] : null, format);
}

function leaderSet(args) {
  const { flags, positional } = parseArgs(args, { value: ['file'] });
  const overrides = parseKeyValues(positional);
  const values = flags.file !== undefined ? { ...readSettingsFile(flags.file), ...overrides } : overrides;
  // Leader settings are written through the API at once, not at hook end.
  immediate((state) => {
    if (!state.leader) throw new ToolError('cannot write leadership settings: cannot write settings: not the leader');
    for (const [k, v] of Object.entries(values)) {
      if (v === '') delete state.leaderData[k];
      else state.leaderData[k] = v;
    }
  });
}

// -------------------------------------------------------------------------------------- secrets

const SECRET_KEY = /^([a-z](?:-?[a-z0-9]){2,})$/;
const XID = /^[0-9a-v]{20}$/;

function newSecretId() {
  const alphabet = '0123456789abcdefghijklmnopqrstuv';
  let id = '';
  for (let i = 0; i < 20; i++) id += alphabet[Math.floor(Math.random() * 32)];
  return id;
}

/** Accepts `secret:<id>`, `secret://<model-uuid>/<id>` or a bare id; returns the id. */
function secretIdOf(uri) {
  let id = uri;
  const m = /^secret:(?:\/\/[^/]+\/)?(.+)$/.exec(uri);
  if (m) id = m[1];
  if (!XID.test(id)) throw new ToolError(`secret URI "${uri}" not valid`, USAGE);
  return id;
}

/** Parses key=value, key#base64=value and key#file=path into plain string content. */
function secretContent(args, file) {
  const content = {};
  const put = (rawKey, value) => {
    let key = rawKey;
    let text = value;
    if (key.endsWith('#base64')) {
      key = key.slice(0, -7);
      text = Buffer.from(value, 'base64').toString('utf8');
    } else if (key.endsWith('#file')) {
      key = key.slice(0, -5);
      try {
        text = fs.readFileSync(value, 'utf8');
      } catch (err) {
        throw new ToolError(`reading secret value from ${value}: ${err.message}`);
      }
    }
    if (!SECRET_KEY.test(key)) throw new ToolError(`key "${key}" not valid`, USAGE);
    content[key] = text;
  };
  if (file !== undefined) {
    for (const [k, v] of Object.entries(readSettingsFile(file))) put(k, v);
  }
  for (const [k, v] of Object.entries(parseKeyValues(args))) put(k, v);
  return content;
}

function findSecret(state, flags, uri) {
  if (uri !== undefined) {
    const id = secretIdOf(uri);
    const secret = state.secrets.find((s) => s.id === id);
    if (!secret) throw new ToolError(`secret "${id}" not found`);
    return secret;
  }
  if (flags.label !== undefined) {
    const secret = state.secrets.find((s) => s.label === flags.label);
    if (!secret) throw new ToolError(`secret with label "${flags.label}" not found`);
    return secret;
  }
  throw new ToolError('require either a secret URI or label', USAGE);
}

function requireSecretOwner(state, secret) {
  if (secret.owner === 'unit') return;
  if (secret.owner === 'application' && state.leader) return;
  throw new ToolError('permission denied');
}

function secretAdd(args) {
  const { flags, positional } = parseArgs(args, { value: ['owner', 'label', 'description', 'file', 'expire', 'rotate'] });
  const owner = flags.owner ?? 'application';
  if (owner !== 'application' && owner !== 'unit') throw new ToolError(`secret owner "${owner}" not valid`, USAGE);
  if (positional.length === 0 && flags.file === undefined) throw new ToolError('missing secret value or filename', USAGE);
  const content = secretContent(positional, flags.file);
  if (Object.keys(content).length === 0) throw new ToolError('empty secret value not valid');
  const id = newSecretId();
  deferred((state) => {
    if (owner === 'application' && !state.leader) throw new ToolError('permission denied');
    if (flags.label !== undefined && state.secrets.some((s) => s.label === flags.label)) {
      throw new ToolError(`secret with label "${flags.label}" already exists`);
    }
    const secret = { id, owner, revisions: [content], grants: [] };
    if (flags.label !== undefined) secret.label = flags.label;
    if (flags.description !== undefined) secret.description = flags.description;
    if (flags.expire !== undefined) secret.expire = flags.expire;
    if (flags.rotate !== undefined) secret.rotate = flags.rotate;
    state.secrets.push(secret);
  });
  process.stdout.write(`secret:${id}\n`);
}

function secretGet(args) {
  const { flags, positional } = parseArgs(args, { value: ['format', 'label'], bool: ['peek', 'refresh'] });
  const format = formatOf(flags, 'yaml');
  if (flags.peek && flags.refresh) throw new ToolError('specify one of --peek or --refresh but not both', USAGE);
  const [uri, key] = positional;
  checkEmpty(positional.slice(2));
  const result = deferred((state) => {
    const secret = findSecret(state, flags, uri);
    const latest = secret.revisions.length;
    let revision = latest;
    if (secret.owner === 'remote') {
      revision = secret.trackedRevision ?? latest;
      if (flags.peek || flags.refresh) revision = latest;
      if (flags.refresh) secret.trackedRevision = latest;
      if (uri !== undefined && flags.label !== undefined) secret.label = flags.label;
    }
    return secret.revisions[revision - 1];
  });
  if (key !== undefined) return emit(Object.prototype.hasOwnProperty.call(result, key) ? result[key] : null, format);
  emit(result, format);
}

function secretSet(args) {
  const { flags, positional } = parseArgs(args, { value: ['owner', 'label', 'description', 'file', 'expire', 'rotate'] });
  if (positional.length === 0) throw new ToolError('missing secret URI', USAGE);
  const uri = positional[0];
  const content = secretContent(positional.slice(1), flags.file);
  deferred((state) => {
    const secret = findSecret(state, {}, uri);
    requireSecretOwner(state, secret);
    if (Object.keys(content).length > 0) secret.revisions.push(content);
    if (flags.label !== undefined) secret.label = flags.label;
    if (flags.description !== undefined) secret.description = flags.description;
    if (flags.expire !== undefined) secret.expire = flags.expire;
    if (flags.rotate !== undefined) secret.rotate = flags.rotate;
  });
}

function secretGrant(args) {
  const { flags, positional } = parseArgs(args, { value: ['relation', 'unit'], alias: { r: 'relation' } });
  if (positional.length === 0) throw new ToolError('missing secret URI', USAGE);
  checkEmpty(positional.slice(1));
  if (flags.relation === undefined) throw new ToolError('missing relation', USAGE);
  deferred((state) => {
    const rel = findRelation(state, flags.relation);
    const secret = findSecret(state, {}, positional[0]);
    requireSecretOwner(state, secret);
    if (flags.unit !== undefined && !rel.remoteUnits.includes(flags.unit)) {
      throw new ToolError(`unit "${flags.unit}" is not in relation ${relationKey(rel)}`);
    }
    const grant = flags.unit !== undefined ? { relationId: rel.id, unit: flags.unit } : { relationId: rel.id };
    if (!secret.grants.some((g) => g.relationId === grant.relationId && g.unit === grant.unit)) secret.grants.push(grant);
  });
}

function secretIds(args) {
  const { flags, positional } = parseArgs(args, { value: ['format'] });
  const format = formatOf(flags, 'yaml');
  checkEmpty(positional);
  const state = loadContext().working;
  emit(state.secrets.filter((s) => s.owner === 'application' || s.owner === 'unit').map((s) => `secret:${s.id}`), format);
}

// ------------------------------------------------------------------------------------- dispatch

const TOOLS = {
  'config-get': configGet,
  'status-set': statusSet,
  'status-get': statusGet,
  'application-version-set': applicationVersionSet,
  'juju-log': jujuLog,
  'is-leader': isLeader,
  'relation-ids': relationIds,
  'relation-list': relationList,
  'relation-get': relationGet,
  'relation-set': relationSet,
  'resource-get': resourceGet,
  'action-get': actionGet,
  'action-set': actionSet,
  'action-fail': actionFail,
  'action-log': actionLog,
  'open-port': (args) => portCommand(args, true),
  'close-port': (args) => portCommand(args, false),
  'opened-ports': openedPorts,
  'network-get': networkGet,
  'unit-get': unitGet,
  'state-get': stateGet,
  'state-set': stateSet,
  'state-delete': stateDelete,
  'secret-add': secretAdd,
  'secret-get': secretGet,
  'secret-set': secretSet,
  'secret-grant': secretGrant,
  'secret-ids': secretIds,
  'leader-get': leaderGet,
  'leader-set': leaderSet,
};

export const TOOL_NAMES = Object.keys(TOOLS);

function main() {
  const [tool, ...args] = process.argv.slice(2);
  const run = TOOLS[tool];
  if (!run) {
    process.stderr.write(`ERROR unknown hook tool "${tool}"\n`);
    process.exit(2);
  }
  try {
    run(args);
  } catch (err) {
    exitWithError(err);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) main();
