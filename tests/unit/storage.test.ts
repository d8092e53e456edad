import YAML from 'yaml';
import { renderRegistryConfig } from '../../src/registry/config.js';
import { SettingsError, parseSettings } from '../../src/settings.js';
import { type S3Settings, s3DriverConfig } from '../../src/storage/index.js';
import { loaderRole, storeWriteRefusal } from '../../src/storage/loader-role.js';

const SECRET = 'secret:d0m2tt6v8kasajfo3bc0';
const s3Config = { 'storage-backend': 's3', 's3-bucket': 'images', 's3-region': 'us-east-1', 's3-credentials': SECRET };

test('the default store is the filesystem', () => {
  expect(parseSettings({}).storage).toEqual({ backend: 'filesystem' });
  expect(parseSettings({ 'storage-backend': 'filesystem', 's3-bucket': 'ignored' }).storage).toEqual({ backend: 'filesystem' });
});

test('s3 options parse; the endpoint loses a trailing slash', () => {
  expect(parseSettings({ ...s3Config, 's3-endpoint': 'http://10.0.0.9:7480/', 's3-root-directory': '/offline-registry' }).storage).toEqual({
    backend: 's3',
    s3: { bucket: 'images', region: 'us-east-1', endpoint: 'http://10.0.0.9:7480', rootDirectory: '/offline-registry', credentials: SECRET },
  });
});

test.each([
  [{ 'storage-backend': 'nfs' }, 'storage-backend', /expected one of filesystem, s3/],
  [{ ...s3Config, 's3-bucket': '' }, 's3-bucket', /s3-bucket is empty/],
  [{ ...s3Config, 's3-bucket': 'Bad_Bucket' }, 's3-bucket', /invalid s3-bucket/],
  [{ ...s3Config, 's3-region': '' }, 's3-region', /s3-region is empty/],
  [{ ...s3Config, 's3-endpoint': 'rgw.internal:7480' }, 's3-endpoint', /expected http\(s\):\/\/host\[:port\]/],
  [{ ...s3Config, 's3-endpoint': 'https://rgw.internal/bucket' }, 's3-endpoint', /invalid s3-endpoint/],
  [{ ...s3Config, 's3-root-directory': 'a b' }, 's3-root-directory', /invalid s3-root-directory/],
  [{ ...s3Config, 's3-credentials': '' }, 's3-credentials', /juju add-secret/],
  [{ ...s3Config, 's3-credentials': 'AKIA1234' }, 's3-credentials', /expected a Juju secret URI/],
])('bad storage options name the option: %j', (config, option, message) => {
  let error: unknown;
  try {
    parseSettings(config);
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(SettingsError);
  expect((error as SettingsError).option).toBe(option);
  expect((error as Error).message).toMatch(message);
});

const s3: S3Settings = { bucket: 'images', region: 'us-east-1', endpoint: 'http://10.0.0.9:7480', rootDirectory: '/offline-registry', credentials: SECRET };
const keys = { accessKey: 'AKIAEXAMPLE', secretKey: 'wJalrXUtnFEMI' };
const base = { dataDir: '/var/lib/offline-registry/data', httpSecret: 'h', logLevel: 'info', listen: '127.0.0.1:5001', hostUrl: 'http://127.0.0.1:5001' };

test('the s3 store renders the s3 driver with redirects off, path-style for a non-AWS endpoint, and no filesystem', async () => {
  const writer = YAML.parse(await renderRegistryConfig({ ...base, role: 'writer', s3: s3DriverConfig(s3, keys) }));
  expect(writer.storage.filesystem).toBeUndefined();
  expect(writer.storage.s3).toEqual({
    accesskey: 'AKIAEXAMPLE',
    secretkey: 'wJalrXUtnFEMI',
    region: 'us-east-1',
    bucket: 'images',
    regionendpoint: 'http://10.0.0.9:7480',
    forcepathstyle: true,
    secure: false,
    v4auth: true,
    rootdirectory: '/offline-registry',
  });
  expect(writer.storage.redirect).toEqual({ disable: true });
  expect(writer.storage.delete.enabled).toBe(true);
  expect(writer.storage.maintenance.readonly.enabled).toBe(false);
  const pub = YAML.parse(await renderRegistryConfig({ ...base, role: 'public', listen: ':5000', hostUrl: 'https://h:5000', s3: s3DriverConfig(s3, keys) }));
  expect(pub.storage.s3).toEqual(writer.storage.s3);
  expect(pub.storage.maintenance.readonly.enabled).toBe(true);
});

test('AWS itself (no endpoint) is virtual-hosted over TLS; https endpoints stay secure', () => {
  expect(s3DriverConfig({ ...s3, endpoint: '', rootDirectory: '' }, keys)).toEqual({ accesskey: 'AKIAEXAMPLE', secretkey: 'wJalrXUtnFEMI', region: 'us-east-1', bucket: 'images', secure: true, v4auth: true });
  expect(s3DriverConfig({ ...s3, endpoint: 'https://rgw:7480' }, keys)).toMatchObject({ regionendpoint: 'https://rgw:7480', forcepathstyle: true, secure: true });
});

test('the filesystem store renders no s3 section and no redirect', async () => {
  const writer = YAML.parse(await renderRegistryConfig({ ...base, role: 'writer' }));
  expect(writer.storage.filesystem.rootdirectory).toBe('/var/lib/offline-registry/data');
  expect(writer.storage.s3).toBeUndefined();
  expect(writer.storage.redirect).toBeUndefined();
});

test('on a shared S3 store only the leader loads; on the filesystem every unit does', () => {
  expect(loaderRole('filesystem', false)).toEqual({ loads: true });
  expect(loaderRole('s3', true)).toEqual({ loads: true });
  expect(loaderRole('s3', false)).toEqual({ loads: false, reason: 'shared S3 store: the leader loads images' });
  expect(storeWriteRefusal('s3', true, 'load-images')).toBeNull();
  expect(storeWriteRefusal('s3', false, 'load-images')).toMatch(/^load-images runs on the leader only/);
  expect(storeWriteRefusal('filesystem', false, 'remove-images')).toBeNull();
});
