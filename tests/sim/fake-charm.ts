// A throwaway charm directory for testing the simulator without the real charm: metadata,
// config and actions like the real charm's, and a dispatch that runs whatever hook.sh the test wrote.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface FakeCharm {
  dir: string;
  /** Replaces the shell body dispatch runs (with `set -u`; the hook fails when the body does). */
  setHook(body: string): void;
  remove(): void;
}

const METADATA = `name: offline-registry
summary: test charm
description: test charm for the simulator
provides:
  docker-registry:
    interface: docker-registry
peers:
  replicas:
    interface: offline-registry-peers
resources:
  images:
    type: file
    filename: images.tar
    description: image archive
storage:
  registry-data:
    type: filesystem
    location: /var/lib/offline-registry
`;

const CONFIG = `options:
  port:
    type: int
    default: 5000
    description: port
  read-only:
    type: boolean
    default: false
    description: ro
  gc-ratio:
    type: float
    default: 0.5
    description: ratio
  hostname:
    type: string
    default: ""
    description: empty default is still a default
  tls-cert:
    type: string
    description: no default
`;

const ACTIONS = `load-images:
  description: load
  params:
    prefix:
      type: string
      default: library
    dry-run:
      type: boolean
      default: false
    limit:
      type: integer
  additionalProperties: false
list-images:
  description: list
`;

export function makeFakeCharm(): FakeCharm {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-charm-'));
  fs.writeFileSync(path.join(dir, 'metadata.yaml'), METADATA);
  fs.writeFileSync(path.join(dir, 'config.yaml'), CONFIG);
  fs.writeFileSync(path.join(dir, 'actions.yaml'), ACTIONS);
  fs.writeFileSync(path.join(dir, 'dispatch'), '#!/bin/sh\nexec /bin/sh -u "$JUJU_CHARM_DIR/hook.sh"\n', { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'hook.sh'), 'true\n');
  return {
    dir,
    setHook(body: string) {
      fs.writeFileSync(path.join(dir, 'hook.sh'), body);
    },
    remove() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
