// The packed charm as Juju would get it: offline-registry.charm (built by `npm test` before jest)
// extracted into a temp dir, run under the simulator with loopback-only registry ports.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunOutput, type State, Simulator, extractCharm } from '../harness/index.js';
import { freePort } from '../support/ports.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CHARM_FILE = path.join(REPO, 'offline-registry.charm');
export const FIXTURES = path.resolve(REPO, '../shared/fixtures');

let extracted: Promise<string> | undefined;

export function packedCharmDir(): Promise<string> {
  if (!fs.existsSync(CHARM_FILE)) {
    throw new Error(`${CHARM_FILE} is missing: run "npm test" (it packs the charm first) or "npm run pack"`);
  }
  extracted ??= extractCharm(CHARM_FILE);
  return extracted;
}

export async function newUnit(): Promise<Simulator> {
  return Simulator.create({ charmDir: await packedCharmDir() });
}

const started: Simulator[] = [];

/** A fresh simulated unit that `cleanupUnits` (an afterAll of the test file) stops and removes. */
export async function unit(): Promise<Simulator> {
  const sim = await newUnit();
  started.push(sim);
  return sim;
}

export async function cleanupUnits(): Promise<void> {
  for (const sim of started.splice(0)) await sim.cleanup();
}

/**
 * A state for a fresh leader unit whose registry listens on free loopback ports only, over plain
 * HTTP unless the test asks for TLS (the TLS default is covered by tests/integration/security).
 */
export async function loopbackState(extra: State = {}): Promise<State> {
  const port = await freePort();
  let writerPort = await freePort();
  while (writerPort === port) writerPort = await freePort();
  return {
    leader: true,
    apt: { available: ['docker-registry', 'nodejs'] },
    ...extra,
    config: { port, 'writer-port': writerPort, 'bind-address': '127.0.0.1', tls: false, ...(extra.config ?? {}) },
  };
}

/** Runs events in order, feeding each output state to the next; fails loudly on a hook error. */
export async function runAll(sim: Simulator, events: string[], state: State): Promise<RunOutput> {
  let current: State = state;
  let out: RunOutput | undefined;
  for (const event of events) {
    out = await sim.run(event, current);
    if (out.exitCode !== 0) throw new Error(`${event} failed (exit ${out.exitCode}):\n${out.stderr}`);
    current = out;
  }
  return out!;
}

export const DEPLOY = ['install', 'leader-elected', 'config-changed', 'start'];

export function portsOf(state: State): { port: number; writerPort: number } {
  return { port: Number(state.config!.port), writerPort: Number(state.config!['writer-port']) };
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Matches the active status message of a test unit serving `images` images at `url`. */
export function serving(images: number, url: string, note?: string): string {
  return expect.stringMatching(new RegExp(`^Serving ${images} images \\(\\d+(\\.\\d)? [KMGT]?i?B\\) at ${escape(url)}${note ? ` \\(${escape(note)}\\)` : ''}$`));
}

/** Matches the active status message of a plain-HTTP test unit. */
export function servingPlain(images: number, port: number): string {
  return serving(images, `http://127.0.0.1:${port}`, 'plain HTTP: the containerd relation needs tls=true');
}
