// The registry's http.secret (it signs upload state) is the same on every unit, like the CA: the
// leader keeps it in an application-owned Juju secret whose id is in the peer relation's app bag,
// so it survives the leader changing. Run in thorough hooks only; update-status reads the file.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type CommandRunner, CommandError, relationGet, relationIds, relationSet, secretAdd, secretGet } from '../juju/index.js';
import { readJsonFile, writeFileIfChanged, writeJsonFile } from '../localstate.js';
import { type UnitPaths, registryFiles } from '../registry/index.js';
import { PEER_ENDPOINT } from './index.js';

export const HTTP_SECRET_LABEL = 'offline-registry-http-secret';
export const HTTP_SECRET_ID_KEY = 'http-secret-id';

interface Record_ { id?: string; publishedTo?: string }

function readLocal(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Writes the app's http.secret into the unit's file; true when it changed (the instances restart on the new config). */
export async function shareHttpSecret(input: { runner: CommandRunner; paths: UnitPaths; isLeader: () => Promise<boolean>; appName: string }): Promise<boolean> {
  const { runner, paths } = input;
  const file = registryFiles(paths).httpSecret;
  const recordFile = path.join(paths.stateDir, 'http-secret.json');
  const record = readJsonFile<Record_>(recordFile, {});
  const relationId = (await relationIds(runner, PEER_ENDPOINT))[0];
  let value = '';
  if (await input.isLeader()) {
    try {
      value = (await secretGet(runner, { label: HTTP_SECRET_LABEL }))['http-secret'] ?? '';
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
    }
    if (!value) {
      // The first leader keeps the secret its instances already run with.
      value = readLocal(file) || crypto.randomBytes(32).toString('base64url');
      record.id = await secretAdd(runner, { 'http-secret': value }, { label: HTTP_SECRET_LABEL, owner: 'application', description: 'http.secret of the offline registry' });
      record.publishedTo = undefined;
    }
    if (relationId && record.id && record.publishedTo !== relationId) {
      await relationSet(runner, relationId, { [HTTP_SECRET_ID_KEY]: record.id }, { app: true });
      record.publishedTo = relationId;
    }
  } else if (relationId) {
    const id = (await relationGet(runner, relationId, input.appName, { app: true }))[HTTP_SECRET_ID_KEY];
    if (id) value = (await secretGet(runner, { id }))['http-secret'] ?? '';
  }
  writeJsonFile(recordFile, record, 0o600);
  if (!value) return false;
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  return writeFileIfChanged(file, `${value}\n`, 0o600);
}
