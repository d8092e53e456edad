import { failureFromStatus, renderUnitFile } from '../../src/registry/service.js';

const unitFor = (role: 'public' | 'writer') => renderUnitFile({ role, binary: '/usr/bin/docker-registry', configPath: `/etc/offline-registry/${role}.yml`, user: 'docker-registry' });
const capabilityLines = (unit: string) => unit.split('\n').filter((l) => /Capabilit/.test(l));

test('the public instance may bind a port below 1024 and nothing more; the writer gets no capability', () => {
  expect(capabilityLines(unitFor('public'))).toEqual(['AmbientCapabilities=CAP_NET_BIND_SERVICE', 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE']);
  expect(unitFor('public')).toContain('NoNewPrivileges=true');
  expect(capabilityLines(unitFor('writer'))).toEqual([]);
});

test("a failed unit's reason is the registry's last fatal or error msg in systemctl status's journal tail", () => {
  const status = [
    '× offline-registry-public.service - offline-registry public read-only registry (distribution)',
    '     Active: failed (Result: exit-code) since Thu 2026-12-03 08:00:00 UTC; 2s ago',
    'Dec 03 08:00:00 unit-0 docker-registry[812]: time="2026-12-03T08:00:00Z" level=info msg="redis not configured" go.version=go1.19',
    'Dec 03 08:00:00 unit-0 docker-registry[812]: time="2026-12-03T08:00:00Z" level=fatal msg="listen tcp :443: bind: permission denied"',
    'Dec 03 08:00:00 unit-0 systemd[1]: offline-registry-public.service: Main process exited, code=exited, status=1/FAILURE',
  ].join('\n');
  expect(failureFromStatus(status)).toBe('listen tcp :443: bind: permission denied');
  expect(failureFromStatus('     Active: failed (Result: exit-code)\n')).toBeNull();
});
