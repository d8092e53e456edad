import {
  type CommandRunner,
  CommandError,
  actionSet,
  configGet,
  flattenResults,
  hookContextFromEnv,
  relationSet,
  resourceGet,
  secretAdd,
  statusSet,
} from '../../src/juju/index.js';

function recordingRunner(answers: Record<string, string | CommandError> = {}) {
  const calls: { tool: string; args: string[]; input?: string }[] = [];
  const runner: CommandRunner = {
    async run(tool, args, input) {
      calls.push({ tool, args, input });
      const answer = answers[tool];
      if (answer instanceof CommandError) throw answer;
      return answer ?? '';
    },
  };
  return { runner, calls };
}

test('the event comes from JUJU_DISPATCH_PATH, also for actions where JUJU_HOOK_NAME is empty', () => {
  expect(hookContextFromEnv({ JUJU_DISPATCH_PATH: 'actions/load-images', JUJU_HOOK_NAME: '', JUJU_UNIT_NAME: 'offline-registry/0' })).toMatchObject({ kind: 'action', name: 'load-images', appName: 'offline-registry' });
  const rel = hookContextFromEnv({ JUJU_DISPATCH_PATH: 'hooks/docker-registry-relation-joined', JUJU_RELATION: 'docker-registry', JUJU_RELATION_ID: 'docker-registry:3', JUJU_REMOTE_UNIT: 'containerd/0', JUJU_REMOTE_APP: 'containerd' });
  expect(rel).toMatchObject({ kind: 'hook', relationEvent: 'joined', relation: { endpoint: 'docker-registry', id: 'docker-registry:3', remoteUnit: 'containerd/0' } });
  expect(() => hookContextFromEnv({ JUJU_HOOK_NAME: 'install' })).toThrow(/JUJU_DISPATCH_PATH/);
});

test('hook tools are called with --format=json and -- before free text', async () => {
  const { runner, calls } = recordingRunner({ 'config-get': '{"port":5000}\n' });
  expect(await configGet(runner)).toEqual({ port: 5000 });
  await statusSet(runner, { name: 'blocked', message: '-starts with a dash' });
  expect(calls).toEqual([
    { tool: 'config-get', args: ['--format=json'], input: undefined },
    { tool: 'status-set', args: ['blocked', '--', '-starts with a dash'], input: undefined },
  ]);
});

test('relation data goes through stdin, not argv', async () => {
  const { runner, calls } = recordingRunner();
  await relationSet(runner, 'docker-registry:3', { registry_netloc: '"10.0.0.7:5000"' });
  expect(calls[0].args).toEqual(['-r', 'docker-registry:3', '--file', '-']);
  expect(JSON.parse(calls[0].input!)).toEqual({ registry_netloc: '"10.0.0.7:5000"' });
});

test('secret content never reaches argv', async () => {
  const { runner, calls } = recordingRunner({ 'secret-add': 'secret:abc\n' });
  expect(await secretAdd(runner, { password: 'hunter2-very-secret' }, { label: 'auth' })).toBe('secret:abc');
  expect(calls[0].args.join(' ')).not.toContain('hunter2');
});

test('an unsupplied resource is null; other resource-get failures surface', async () => {
  const missing = recordingRunner({ 'resource-get': new CommandError('resource-get', 1, 'ERROR could not download resource: resource#offline-registry/images not found') });
  expect(await resourceGet(missing.runner, 'images')).toBeNull();
  const broken = recordingRunner({ 'resource-get': new CommandError('resource-get', 1, 'ERROR connection refused') });
  await expect(resourceGet(broken.runner, 'images')).rejects.toThrow(/connection refused/);
  const present = recordingRunner({ 'resource-get': '/var/lib/juju/resources/images/images.tar' });
  expect(await resourceGet(present.runner, 'images')).toBe('/var/lib/juju/resources/images/images.tar');
});

test('action results flatten to dotted keys', async () => {
  expect(flattenResults({ loaded: 2, images: { a: { digest: 'sha256:1' } }, skipped: undefined })).toEqual(['loaded=2', 'images.a.digest=sha256:1']);
  const { runner, calls } = recordingRunner();
  await actionSet(runner, {});
  expect(calls).toHaveLength(0);
});
