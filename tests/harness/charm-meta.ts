// Reads what Juju reads from a charm directory and applies Juju's checks on config and action
// params before a hook or action runs (the controller rejects bad ones before the unit sees them).
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { ConfigValue } from './state.js';

export interface ConfigOption {
  type?: 'string' | 'int' | 'float' | 'boolean' | 'secret';
  default?: unknown;
  description?: string;
}

export interface ActionSpec {
  description?: string;
  params?: Record<string, { type?: string; default?: unknown; description?: string }>;
  required?: string[];
  additionalProperties?: boolean;
}

export interface CharmMeta {
  name: string;
  endpoints: Record<string, 'provides' | 'requires' | 'peers'>;
  storage: string[];
  extraBindings: string[];
  resources: Record<string, { type?: string; filename?: string }>;
  options: Record<string, ConfigOption>;
  actions: Record<string, ActionSpec>;
}

function readYaml(file: string): Record<string, unknown> | null {
  if (!fs.existsSync(file)) return null;
  const data: unknown = YAML.parse(fs.readFileSync(file, 'utf8'));
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new Error(`${file} must hold a YAML map`);
  return data as Record<string, unknown>;
}

export function readCharmMeta(charmDir: string): CharmMeta {
  const metaFile = path.join(charmDir, 'metadata.yaml');
  const meta = readYaml(metaFile);
  if (!meta) throw new Error(`${metaFile} is missing: Juju needs metadata.yaml in the charm directory`);
  if (typeof meta.name !== 'string') throw new Error(`${metaFile} has no name`);
  const endpoints: CharmMeta['endpoints'] = {};
  for (const kind of ['provides', 'requires', 'peers'] as const) {
    for (const name of Object.keys((meta[kind] as object | undefined) ?? {})) endpoints[name] = kind;
  }
  const config = readYaml(path.join(charmDir, 'config.yaml'));
  const actions = readYaml(path.join(charmDir, 'actions.yaml'));
  return {
    name: meta.name,
    endpoints,
    storage: Object.keys((meta.storage as object | undefined) ?? {}),
    extraBindings: Object.keys((meta['extra-bindings'] as object | undefined) ?? {}),
    resources: (meta.resources as CharmMeta['resources'] | undefined) ?? {},
    options: ((config?.options as CharmMeta['options'] | undefined) ?? {}),
    actions: (actions as CharmMeta['actions'] | null) ?? {},
  };
}

/** Coerces user config like `juju config` does; unknown options and bad values throw. */
export function validateConfig(meta: CharmMeta, config: Record<string, ConfigValue>): Record<string, ConfigValue> {
  const out: Record<string, ConfigValue> = {};
  for (const [key, value] of Object.entries(config)) {
    const option = meta.options[key];
    if (!option) throw new Error(`config option "${key}" is not in config.yaml (known: ${Object.keys(meta.options).join(', ') || 'none'})`);
    const type = option.type ?? 'string';
    const bad = () => new Error(`config option "${key}" expects type ${type}, got ${JSON.stringify(value)}`);
    switch (type) {
      case 'int': {
        const n = typeof value === 'string' && /^-?[0-9]+$/.test(value.trim()) ? Number(value) : value;
        if (typeof n !== 'number' || !Number.isInteger(n)) throw bad();
        out[key] = n;
        break;
      }
      case 'float': {
        const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
        if (typeof n !== 'number' || Number.isNaN(n)) throw bad();
        out[key] = n;
        break;
      }
      case 'boolean': {
        const b = value === 'true' ? true : value === 'false' ? false : value;
        if (typeof b !== 'boolean') throw bad();
        out[key] = b;
        break;
      }
      default:
        if (typeof value !== 'string') throw bad();
        out[key] = value;
    }
  }
  return out;
}

const JSON_TYPES: Record<string, (v: unknown) => boolean> = {
  string: (v) => typeof v === 'string',
  integer: (v) => typeof v === 'number' && Number.isInteger(v),
  number: (v) => typeof v === 'number',
  boolean: (v) => typeof v === 'boolean',
  array: (v) => Array.isArray(v),
  object: (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
};

/** The action's params with actions.yaml defaults filled in, checked against its schema. */
export function actionParams(meta: CharmMeta, name: string, given: Record<string, unknown>): Record<string, unknown> {
  const spec = meta.actions[name];
  if (!spec) throw new Error(`action "${name}" is not defined in actions.yaml (defined: ${Object.keys(meta.actions).join(', ') || 'none'})`);
  const schema = spec.params ?? {};
  const params: Record<string, unknown> = {};
  for (const [key, p] of Object.entries(schema)) {
    if (p && p.default !== undefined) params[key] = JSON.parse(JSON.stringify(p.default));
  }
  for (const [key, value] of Object.entries(given)) {
    const p = schema[key];
    if (!p && spec.additionalProperties === false) throw new Error(`action "${name}": additional property "${key}" is not allowed`);
    if (p?.type && JSON_TYPES[p.type] && !JSON_TYPES[p.type](value)) {
      throw new Error(`action "${name}": param "${key}" expects type ${p.type}, got ${JSON.stringify(value)}`);
    }
    params[key] = value;
  }
  for (const key of spec.required ?? []) {
    if (!(key in params)) throw new Error(`action "${name}": missing required param "${key}"`);
  }
  return params;
}

const PLAIN_HOOKS = new Set([
  'install', 'start', 'stop', 'remove', 'config-changed', 'upgrade-charm', 'leader-elected',
  'leader-settings-changed', 'update-status', 'collect-metrics', 'pre-series-upgrade',
  'post-series-upgrade', 'secret-changed', 'secret-expired', 'secret-remove', 'secret-rotate',
]);

export type HookKind =
  | { kind: 'plain' }
  | { kind: 'relation'; endpoint: string; phase: 'created' | 'joined' | 'changed' | 'departed' | 'broken' }
  | { kind: 'storage'; storage: string; phase: 'attached' | 'detaching' };

/** Classifies a hook name, refusing names Juju would never run for this charm. */
export function classifyHook(meta: CharmMeta, hook: string): HookKind {
  if (PLAIN_HOOKS.has(hook)) return { kind: 'plain' };
  const rel = /^(.+)-relation-(created|joined|changed|departed|broken)$/.exec(hook);
  if (rel) {
    if (!meta.endpoints[rel[1]]) throw new Error(`hook "${hook}": "${rel[1]}" is not an endpoint in metadata.yaml`);
    return { kind: 'relation', endpoint: rel[1], phase: rel[2] as 'created' };
  }
  const st = /^(.+)-storage-(attached|detaching)$/.exec(hook);
  if (st) {
    if (!meta.storage.includes(st[1])) throw new Error(`hook "${hook}": "${st[1]}" is not a storage in metadata.yaml`);
    return { kind: 'storage', storage: st[1], phase: st[2] as 'attached' };
  }
  throw new Error(`"${hook}" is not a Juju hook name`);
}
