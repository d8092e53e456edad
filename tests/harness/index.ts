export { Simulator, SIM_BIN_DIR, JUJU_VERSION } from './simulator.js';
export type { SimulatorOptions, Event, RunOptions, RunOutput, ActionOutput } from './simulator.js';
export { normalizeState, secretId, DEFAULT_UNIT, DEFAULT_MODEL_UUID } from './state.js';
export type { State, NormalizedState, RelationState, SecretState, Addresses, StatusEntry, StatusValue, LogEntry, Bag, ConfigValue } from './state.js';
export { extractCharm } from './charm.js';
export { readCharmMeta, validateConfig, actionParams, classifyHook } from './charm-meta.js';
export type { CharmMeta } from './charm-meta.js';
