// The probe's reading of a registry whose storage health check fails, as distribution 2.8 answers
// (503, errcode UNAVAILABLE, no API version header): up, but its store is not.
import { storageUnavailable } from '../../src/registry/health.js';

const BODY = '{"errors":[{"code":"UNAVAILABLE","message":"service unavailable","detail":"health check failed: please see /debug/health"}]}\n';

test('a 503 with the UNAVAILABLE errcode is a store problem; other answers are not', () => {
  expect(storageUnavailable(503, BODY)).toBe('health check failed: please see /debug/health');
  expect(storageUnavailable(503, '{"errors":[{"code":"UNAVAILABLE"}]}')).toBe('service unavailable');
  expect(storageUnavailable(503, '<html>bad gateway</html>')).toBeNull();
  expect(storageUnavailable(503, '{"errors":[{"code":"UNKNOWN"}]}')).toBeNull();
  expect(storageUnavailable(500, BODY)).toBeNull();
});
