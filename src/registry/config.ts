// Renders the distribution registry's config.yml for the two instances sharing one storage:
// the public one (read-only, every address) and the writer (loopback, used by the charm to push).

export type InstanceRole = 'public' | 'writer';

export interface InstanceConfigInput {
  role: InstanceRole;
  dataDir: string;
  listen: string; // host:port (host may be empty: every address)
  hostUrl: string; // the URL clients reach this instance at (http.host)
  httpSecret: string;
  logLevel: string;
  /** Public instance only: serve HTTPS. No clientcas: containerd presents the node's own cert. */
  tls?: { certificate: string; key: string };
  /** Public instance only: basic auth from this htpasswd file. */
  htpasswd?: string;
  /** 127.0.0.1:port of this instance's debug server with Prometheus /metrics; absent: none. */
  metricsListen?: string;
  /**
   * 127.0.0.1:port of this instance's debug server without metrics, when metricsListen is absent:
   * its /debug/health says why the storage health check fails (kept on with a shared S3 store).
   */
  healthListen?: string;
  /** The `storage.s3` driver section when the store is a shared S3 bucket (else the filesystem at dataDir). */
  s3?: Record<string, unknown>;
}

// yaml is loaded only when a config is rendered: a converged unit's hooks skip it.
export async function renderRegistryConfig(input: InstanceConfigInput): Promise<string> {
  const isPublic = input.role === 'public';
  const config = {
    version: 0.1,
    log: { level: input.logLevel, formatter: 'text', fields: { service: `offline-registry-${input.role}` } },
    storage: {
      // Air-gapped clients reach the registry, never the bucket: no redirects to presigned S3 URLs.
      ...(input.s3 ? { s3: input.s3, redirect: { disable: true } } : { filesystem: { rootdirectory: input.dataDir } }),
      delete: { enabled: true },
      maintenance: {
        // Only the writer may purge stale uploads; the public instance must never modify storage.
        uploadpurging: isPublic ? { enabled: false } : { enabled: true, age: '168h', interval: '24h', dryrun: false },
        readonly: { enabled: isPublic },
      },
      // No blob-descriptor cache: an in-memory cache on one instance goes stale when the other deletes.
    },
    http: {
      addr: input.listen,
      host: input.hostUrl,
      secret: input.httpSecret,
      headers: { 'X-Content-Type-Options': ['nosniff'] },
      ...(input.metricsListen
        ? { debug: { addr: input.metricsListen, prometheus: { enabled: true, path: '/metrics' } } }
        : input.healthListen
          ? { debug: { addr: input.healthListen } }
          : {}),
      ...(input.tls ? { tls: { certificate: input.tls.certificate, key: input.tls.key, minimumtls: 'tls1.2' } } : {}),
    },
    ...(input.htpasswd ? { auth: { htpasswd: { realm: 'offline-registry', path: input.htpasswd } } } : {}),
    health: { storagedriver: { enabled: true, interval: '10s', threshold: 3 } },
  };
  const { default: YAML } = await import('yaml');
  return YAML.stringify(config);
}

/** `host:port` for http.addr; IPv6 literals get brackets, an empty host means every address. */
export function listenAddress(host: string, port: number): string {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare.includes(':') ? `[${bare}]:${port}` : `${bare}:${port}`;
}
