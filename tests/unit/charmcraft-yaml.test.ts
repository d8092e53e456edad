// charmcraft.yaml checked against the fields charmcraft 3 documents for charms, so a `charmcraft pack`
// refusal shows up here first. Sources (charmcraft 3.x docs):
//   https://documentation.ubuntu.com/charmcraft/stable/reference/platforms/  (standard, shorthand, multi-base notation;
//     "Multi-base charms define a base in each platform entry instead of the top-level base and build-base keys.
//      Within each platform entry, the base must be the same for all build-on and build-for entries.")
//   https://canonical.com/juju/docs/charmcraft/latest/reference/platforms/  (platform naming rules; `any` reserved)
//   https://documentation.ubuntu.com/charmcraft/stable/howto/build-guides/select-platforms/  (base: <distribution>@<series>)
//   Ubuntu 24.04 and later refuse the deprecated `bases` key: it must be replaced by `base` + `platforms`.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

const repo = path.resolve(new URL('../..', import.meta.url).pathname);
const project = YAML.parse(fs.readFileSync(path.join(repo, 'charmcraft.yaml'), 'utf8'));

// Top-level keys of a charm project (charmcraft.yaml reference); metadata.yaml/config.yaml/actions.yaml may hold the rest.
const TOP_LEVEL = new Set([
  'type', 'name', 'title', 'summary', 'description', 'base', 'build-base', 'platforms', 'parts', 'actions', 'analysis',
  'assumes', 'charm-libs', 'charmhub', 'config', 'containers', 'devices', 'extensions', 'extra-bindings', 'links',
  'peers', 'provides', 'requires', 'resources', 'storage', 'subordinate', 'terms', 'charm-user', 'bases',
]);
const DEBIAN_ARCHES = new Set(['amd64', 'arm64', 'armhf', 'i386', 'ppc64el', 'riscv64', 's390x']);
const PLATFORM_KEYS = new Set(['build-on', 'build-for']);
const BASE = /^[a-z]+@[0-9][0-9.]*$/;
// Naming rules: begins and ends with a letter or number; inside, also '-', '@', '.', ':'; `any` is reserved.
const PLATFORM_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9\-@.:]*[A-Za-z0-9])?$/;

interface Target { base: string; arch: string }

// Returns the problems charmcraft would report, and the (base, arch) pairs the charm is built for.
function validate(doc: Record<string, any>): { problems: string[]; targets: Target[] } {
  const problems: string[] = [];
  const targets: Target[] = [];
  for (const key of Object.keys(doc)) if (!TOP_LEVEL.has(key)) problems.push(`unknown top-level key ${key}`);
  if (doc.type !== 'charm') problems.push(`type must be charm, not ${doc.type}`);
  if ('bases' in doc) problems.push('bases is the deprecated charmcraft 2 form: use base + platforms (or multi-base platforms)');
  if (doc.base !== undefined && !BASE.test(doc.base)) problems.push(`base ${doc.base} is not <distribution>@<series>`);
  if (doc['build-base'] !== undefined && doc.base === undefined) problems.push('build-base needs base');
  if (!doc.platforms || typeof doc.platforms !== 'object') problems.push('platforms is required');
  const splitEntry = (entry: string): Target | null => {
    if (doc.base !== undefined) return DEBIAN_ARCHES.has(entry) ? { base: doc.base, arch: entry } : null;
    const match = /^([a-z]+@[0-9][0-9.]*):([a-z0-9]+)$/.exec(entry);
    return match && DEBIAN_ARCHES.has(match[2]) ? { base: match[1], arch: match[2] } : null;
  };
  for (const [name, platform] of Object.entries<any>(doc.platforms ?? {})) {
    if (name === 'any' || !PLATFORM_NAME.test(name)) problems.push(`platform name ${name} breaks the naming rules`);
    if (platform === null) {
      // Shorthand: the name is an architecture (with base) or <base>:<arch> (multi-base shorthand).
      const target = splitEntry(name);
      if (target) targets.push(target);
      else problems.push(`shorthand platform ${name} is not ${doc.base ? 'an architecture' : '<base>:<arch>'}`);
      continue;
    }
    for (const key of Object.keys(platform)) if (!PLATFORM_KEYS.has(key)) problems.push(`platform ${name}: unknown key ${key}`);
    const on = (platform['build-on'] ?? []).map(splitEntry);
    const forEntries = (platform['build-for'] ?? []).map(splitEntry);
    if (!on.length) problems.push(`platform ${name}: build-on is empty`);
    if (forEntries.length !== 1) problems.push(`platform ${name}: build-for needs exactly one entry`);
    if ([...on, ...forEntries].some((t: Target | null) => t === null)) problems.push(`platform ${name}: entries must be ${doc.base ? 'architectures' : '<base>:<arch>'}`);
    const bases = new Set([...on, ...forEntries].filter(Boolean).map((t: Target) => t.base));
    if (bases.size > 1) problems.push(`platform ${name}: build-on and build-for must share one base`);
    if (forEntries[0]) targets.push(forEntries[0]);
  }
  if (!doc.parts || typeof doc.parts !== 'object') problems.push('parts is required for a charm that is not built by the charm plugin defaults');
  return { problems, targets };
}

test('charmcraft.yaml uses only charmcraft 3 fields and valid platforms', () => {
  expect(validate(project).problems).toEqual([]);
});

test('charmcraft.yaml builds for Ubuntu 22.04 and 24.04 on amd64 and arm64, one platform each', () => {
  const { targets } = validate(project);
  const got = targets.map((t) => `${t.base}:${t.arch}`).sort();
  expect(got).toEqual(['ubuntu@22.04:amd64', 'ubuntu@22.04:arm64', 'ubuntu@24.04:amd64', 'ubuntu@24.04:arm64']);
  // Recommended multi-base platform name: <distribution>-<series>-<arch>; charmcraft puts it in the file name.
  for (const [name, platform] of Object.entries<any>(project.platforms)) {
    const [base, arch] = platform['build-for'][0].split(':');
    expect(name).toBe(`${base.replace('@', '-')}-${arch}`);
  }
});

test('the schema check catches what charmcraft 3 refuses', () => {
  const bad = (doc: Record<string, unknown>) => validate({ type: 'charm', parts: {}, ...doc }).problems;
  expect(bad({ bases: [{ 'build-on': [{ name: 'ubuntu', channel: '24.04' }] }] })).toContain('bases is the deprecated charmcraft 2 form: use base + platforms (or multi-base platforms)');
  expect(bad({ base: 'ubuntu@24.04', platforms: { amd64: null, sparc: null } })).toEqual(['shorthand platform sparc is not an architecture']);
  expect(bad({ base: 'ubuntu@24.04', platforms: { amd64: null } })).toEqual([]);
  expect(bad({ platforms: { 'ubuntu@24.04:amd64': null } })).toEqual([]);
  expect(bad({ platforms: { x: { 'build-on': ['ubuntu@22.04:amd64'], 'build-for': ['ubuntu@24.04:amd64'] } } })).toEqual(['platform x: build-on and build-for must share one base']);
  expect(bad({ platforms: { any: { 'build-on': ['ubuntu@22.04:amd64'], 'build-for': ['ubuntu@22.04:amd64'] } } })).toEqual(['platform name any breaks the naming rules']);
  expect(bad({ base: '24.04', platforms: { amd64: null }, series: 'noble' })).toEqual(['unknown top-level key series', 'base 24.04 is not <distribution>@<series>']);
});

test('the part primes every file the packed charm holds', () => {
  const prime: string[] = project.parts.charm.prime;
  for (const file of ['dispatch', 'dist/charm.cjs', 'dist/bundle.cjs', 'dist/kube.cjs', 'dist/exporter.mjs', 'runtime/node', 'metadata.yaml', 'config.yaml', 'actions.yaml', 'manifest.yaml']) expect(prime).toContain(file);
  expect(project.parts.charm['override-build']).toMatch(/node-linux-/);
});
