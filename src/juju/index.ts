// The Juju layer: typed hook tools over an injectable command runner. No charm logic here.
export * from './runner.js';
export * from './context.js';
export * from './config.js';
export * from './status.js';
export * from './log.js';
export * from './leader.js';
export * from './relation.js';
export * from './resource.js';
export * from './action.js';
export * from './ports.js';
export * from './network.js';
export * from './state.js';
export * from './secret.js';
