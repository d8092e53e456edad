import { type CommandRunner, parseJson } from './runner.js';

export type RelationData = Record<string, string>;

export async function relationIds(runner: CommandRunner, endpoint: string): Promise<string[]> {
  return parseJson<string[] | null>('relation-ids', await runner.run('relation-ids', [endpoint, '--format=json'])) ?? [];
}

export async function relationList(runner: CommandRunner, relationId: string): Promise<string[]> {
  return parseJson<string[] | null>('relation-list', await runner.run('relation-list', ['-r', relationId, '--format=json'])) ?? [];
}

/** The whole data bag of `unitOrApp` (a unit name, or an app name with `app`). */
export async function relationGet(runner: CommandRunner, relationId: string, unitOrApp: string, opts: { app?: boolean } = {}): Promise<RelationData> {
  const args = ['--format=json', '-r', relationId, ...(opts.app ? ['--app'] : []), '-', unitOrApp];
  return parseJson<RelationData | null>('relation-get', await runner.run('relation-get', args)) ?? {};
}

/** Writes keys into this unit's (or, for the leader, the app's) bag; an empty string deletes a key. */
export async function relationSet(runner: CommandRunner, relationId: string, data: RelationData, opts: { app?: boolean } = {}): Promise<void> {
  const args = ['-r', relationId, ...(opts.app ? ['--app'] : []), '--file', '-'];
  await runner.run('relation-set', args, JSON.stringify(data));
}

/** The remote application of a relation (`relation-list --app`). */
export async function relationRemoteApp(runner: CommandRunner, relationId: string): Promise<string> {
  return parseJson<string | null>('relation-list', await runner.run('relation-list', ['-r', relationId, '--app', '--format=json'])) ?? '';
}
