// Where the registry keeps blobs and manifests: the unit's filesystem (default) or an S3 bucket all
// units share (distribution's s3 driver). Parsing is pure; the credentials come from a Juju secret
// (a user secret granted to the application) and never reach logs or status.
import type { CommandRunner, ConfigValue } from '../juju/index.js';
import { secretGet } from '../juju/index.js';

export type StorageBackend = 'filesystem' | 's3';

export interface S3Settings {
  bucket: string;
  region: string;
  /** Full URL of a non-AWS endpoint (radosgw, MinIO...), empty for AWS itself. */
  endpoint: string;
  rootDirectory: string;
  /** The Juju secret URI holding access-key and secret-key. */
  credentials: string;
}

export interface StorageSettings {
  backend: StorageBackend;
  s3?: S3Settings;
}

/** A bad or missing storage option: the message names it and what it accepts. */
export class StorageSettingsError extends Error {
  constructor(readonly option: string, message: string) {
    super(message);
    this.name = 'StorageSettingsError';
  }
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const REGION = /^[a-z0-9-]+$/;
const SECRET_URI = /^secret:(\/\/[^/]+\/)?[0-9a-v]{20}$/;

function text(config: Record<string, ConfigValue>, option: string): string {
  return String(config[option] ?? '').trim();
}

export function parseStorageSettings(config: Record<string, ConfigValue>): StorageSettings {
  const backend = text(config, 'storage-backend').toLowerCase() || 'filesystem';
  if (backend === 'filesystem') return { backend };
  if (backend !== 's3') {
    throw new StorageSettingsError('storage-backend', `invalid storage-backend ${JSON.stringify(config['storage-backend'])}: expected one of filesystem, s3`);
  }
  const bucket = text(config, 's3-bucket');
  if (!bucket) throw new StorageSettingsError('s3-bucket', 'storage-backend is s3 but s3-bucket is empty: give the bucket name');
  if (!BUCKET.test(bucket)) throw new StorageSettingsError('s3-bucket', `invalid s3-bucket ${JSON.stringify(bucket)}: expected an S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)`);
  const region = text(config, 's3-region');
  if (!region) throw new StorageSettingsError('s3-region', 'storage-backend is s3 but s3-region is empty: give the bucket region (any name, e.g. us-east-1, for an s3-endpoint that ignores regions)');
  if (!REGION.test(region)) throw new StorageSettingsError('s3-region', `invalid s3-region ${JSON.stringify(region)}: expected a region name such as us-east-1`);
  const endpoint = text(config, 's3-endpoint').replace(/\/+$/, '');
  if (endpoint) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || (url.pathname !== '/' && url.pathname !== '') || url.search || url.username) {
      throw new StorageSettingsError('s3-endpoint', `invalid s3-endpoint ${JSON.stringify(endpoint)}: expected http(s)://host[:port] of the S3 service, or empty for AWS`);
    }
  }
  const rootDirectory = text(config, 's3-root-directory');
  if (rootDirectory && !/^\/?[A-Za-z0-9._\/-]+$/.test(rootDirectory)) {
    throw new StorageSettingsError('s3-root-directory', `invalid s3-root-directory ${JSON.stringify(rootDirectory)}: expected a key prefix such as /offline-registry`);
  }
  const credentials = text(config, 's3-credentials');
  if (!credentials) {
    throw new StorageSettingsError('s3-credentials', 'storage-backend is s3 but s3-credentials is empty: juju add-secret s3-creds access-key=... secret-key=..., juju grant-secret s3-creds offline-registry, then juju config offline-registry s3-credentials=<secret URI>');
  }
  if (!SECRET_URI.test(credentials)) throw new StorageSettingsError('s3-credentials', `invalid s3-credentials ${JSON.stringify(credentials)}: expected a Juju secret URI (secret:...)`);
  return { backend, s3: { bucket, region, endpoint, rootDirectory, credentials } };
}

export interface S3Credentials {
  accessKey: string;
  secretKey: string;
}

/** Reads access-key and secret-key from the s3-credentials secret; problems name the option, never the values. */
export async function readS3Credentials(runner: CommandRunner, uri: string, opts: { refresh?: boolean } = {}): Promise<S3Credentials> {
  let content: Record<string, string>;
  try {
    content = await secretGet(runner, { id: uri }, opts);
  } catch {
    throw new StorageSettingsError('s3-credentials', `s3-credentials: secret ${uri} cannot be read: grant it to the application (juju grant-secret <secret> offline-registry)`);
  }
  const accessKey = (content['access-key'] ?? '').trim();
  const secretKey = (content['secret-key'] ?? '').trim();
  const missing = [accessKey ? '' : 'access-key', secretKey ? '' : 'secret-key'].filter(Boolean);
  if (missing.length) throw new StorageSettingsError('s3-credentials', `s3-credentials: secret ${uri} has no ${missing.join(' and ')}: juju update-secret <secret> access-key=... secret-key=...`);
  return { accessKey, secretKey };
}

/** The `storage.s3` section of the registry config. Redirects stay off: clients of an air gap reach the registry, not the bucket. */
export function s3DriverConfig(s3: S3Settings, credentials: S3Credentials): Record<string, unknown> {
  return {
    accesskey: credentials.accessKey,
    secretkey: credentials.secretKey,
    region: s3.region,
    bucket: s3.bucket,
    ...(s3.endpoint
      ? {
          regionendpoint: s3.endpoint,
          // Non-AWS services (radosgw, MinIO) serve buckets by path, not by virtual host name.
          forcepathstyle: true,
          secure: s3.endpoint.startsWith('https:'),
        }
      : { secure: true }),
    v4auth: true,
    ...(s3.rootDirectory ? { rootdirectory: s3.rootDirectory } : {}),
  };
}
