import { formatReference, parseReference, registryPath, ReferenceError } from '../../src/images/reference.js';

test.each([
  ['nginx', 'docker.io/library/nginx:latest', 'library/nginx:latest'],
  ['nginx:1.25', 'docker.io/library/nginx:1.25', 'library/nginx:1.25'],
  ['docker.io/nginx', 'docker.io/library/nginx:latest', 'library/nginx:latest'],
  ['index.docker.io/library/nginx:1.25', 'docker.io/library/nginx:1.25', 'library/nginx:1.25'],
  ['docker.io/library/nginx:1.25', 'docker.io/library/nginx:1.25', 'library/nginx:1.25'],
  ['bitnami/redis:7', 'docker.io/bitnami/redis:7', 'bitnami/redis:7'],
  ['rocks.canonical.com:443/cdk/pause:3.9', 'rocks.canonical.com:443/cdk/pause:3.9', 'cdk/pause:3.9'],
  ['rocks.canonical.com/cdk/pause:3.9', 'rocks.canonical.com/cdk/pause:3.9', 'cdk/pause:3.9'],
  ['registry.k8s.io/pause', 'registry.k8s.io/pause:latest', 'pause:latest'],
  ['localhost/app', 'localhost/app:latest', 'app:latest'],
  ['localhost:5000/team/app:v1', 'localhost:5000/team/app:v1', 'team/app:v1'],
  ['bazel/v1/tarball:test_image_1', 'docker.io/bazel/v1/tarball:test_image_1', 'bazel/v1/tarball:test_image_1'],
  [`busybox@sha256:${'a'.repeat(64)}`, `docker.io/library/busybox@sha256:${'a'.repeat(64)}`, `library/busybox@sha256:${'a'.repeat(64)}`],
  [`quay.io/x/y:1@sha256:${'b'.repeat(64)}`, `quay.io/x/y:1@sha256:${'b'.repeat(64)}`, 'x/y:1'],
])('%s normalises to %s, served as %s', (input, full, servedAs) => {
  expect(formatReference(parseReference(input))).toBe(full);
  expect(registryPath(input)).toBe(servedAs);
});

test('the parts are split as containerd does', () => {
  expect(parseReference('rocks.canonical.com:443/cdk/pause:3.9')).toEqual({ host: 'rocks.canonical.com:443', repository: 'cdk/pause', tag: '3.9' });
});

test.each([
  ['', /empty reference/],
  ['Nginx', /must be lowercase/],
  ['nginx:', /malformed tag/],
  ['nginx:bad tag', /malformed tag/],
  ['nginx@sha256:abc', /64 lowercase hex/],
  ['a//b', /malformed path component/],
  ['quay.io/', /malformed path component|missing repository/],
  [`x/${'a'.repeat(300)}`, /longer than 255/],
])('%j is refused with a message naming it', (input, why) => {
  expect(() => parseReference(input)).toThrow(ReferenceError);
  expect(() => parseReference(input)).toThrow(why);
  if (input) expect(() => parseReference(input)).toThrow(JSON.stringify(input));
});
