// Reads the cluster's workloads through @kubernetes/client-node (pinned to 1.x: 2.x needs Node >= 22).
// Built as its own bundle, dist/kube.cjs, loaded only by audit-cluster: client-node is ~1.9 MB (minified) that no
// other hook should parse. The kubeconfig text and its credentials never appear in errors or logs.
import { ApiException, AppsV1Api, BatchV1Api, CoreV1Api, KubeConfig, Observable, type ConfigurationOptions, type RequestContext, type ResponseContext } from '@kubernetes/client-node';
import fs from 'node:fs';
import YAML from 'yaml';
import type { CronJobLike, PodLike, TemplatedLike, Workloads } from './audit.js';

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => !!v && typeof v === 'object' && !Array.isArray(v);

const KUBECONFIG_SHAPE = 'give a kubeconfig with clusters, users, contexts and current-context';

/** Errors client-node raises while loading entries: they name a field and an index, never a value. */
const LOADER_FIELD_ERROR = /^(clusters|users|contexts)\[\d+\](\.[\w.-]+)? is missing$/;

/**
 * Loads the kubeconfig with client-node and checks what client-node would act on. Refuses exec and
 * auth-provider users: an offline unit must not run whatever command an operator-supplied kubeconfig names.
 * Returns the server URL for messages.
 */
export function loadKubeconfig(text: string): { kc: KubeConfig; server: string } {
  if (!text.trim()) throw new Error('the kubeconfig is empty: give the YAML of a kubeconfig (e.g. the content of ~/.kube/config)');
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    // The parser's message quotes the source around the error, which may hold a token: give the line only.
    const line = (err as { linePos?: Array<{ line: number }> }).linePos?.[0]?.line;
    throw new Error(`the kubeconfig is not valid YAML${line ? ` (line ${line})` : ''}: ${KUBECONFIG_SHAPE}`);
  }
  if (!isDict(doc)) throw new Error(`the kubeconfig is not a kubeconfig (a YAML mapping): ${KUBECONFIG_SHAPE}`);

  const kc = new KubeConfig();
  try {
    kc.loadFromString(text);
  } catch (err) {
    const message = (err as Error)?.message ?? '';
    const code = (err as NodeJS.ErrnoException)?.code;
    const path = (err as NodeJS.ErrnoException)?.path;
    if (LOADER_FIELD_ERROR.test(message)) throw new Error(`the kubeconfig's ${message}: ${KUBECONFIG_SHAPE}`);
    // client-node reads token-file while loading; the error names the file, not its content.
    if (code && path) throw new Error(`the kubeconfig's token-file ${path} cannot be read (${code}); put the token inline`);
    const line = (err as { mark?: { line?: number } }).mark?.line;
    throw new Error(`the kubeconfig cannot be loaded${line !== undefined ? ` (line ${line + 1})` : ''}: ${KUBECONFIG_SHAPE}`);
  }

  const contextName = kc.getCurrentContext();
  if (typeof contextName !== 'string' || !contextName) throw new Error('the kubeconfig has no current-context: set it to one of its contexts');
  const context = kc.getContextObject(contextName);
  if (!context) throw new Error(`the kubeconfig's current-context ${JSON.stringify(contextName)} is not among its contexts`);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`the kubeconfig's context ${JSON.stringify(contextName)} names no cluster that the kubeconfig defines`);
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    throw new Error(`the kubeconfig's cluster ${JSON.stringify(cluster.name)} has no usable server URL (e.g. https://10.0.0.5:6443)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`the kubeconfig's server ${url.origin} is not http(s)`);
  const server = url.href.replace(/\/+$/, '');
  const user = kc.getCurrentUser();
  if (user?.exec || user?.authProvider) {
    throw new Error(
      "the kubeconfig's user authenticates through an exec or auth-provider plugin, which the audit does not run: give a kubeconfig with a token, basic auth or a client certificate",
    );
  }
  if (!!(user?.certData || user?.certFile) !== !!(user?.keyData || user?.keyFile)) {
    throw new Error("the kubeconfig's user has a client certificate without its key (or a key without its certificate)");
  }
  // client-node reads these files at each request, where a failure would look like an unreachable server.
  const files: Array<[string | undefined, string]> = [
    [cluster.caFile, 'cluster certificate-authority'],
    [user?.certFile, 'user client-certificate'],
    [user?.keyFile, 'user client-key'],
  ];
  for (const [file, field] of files) {
    if (!file) continue;
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch (err) {
      throw new Error(`the kubeconfig's ${field} names ${file}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); use ${field.split(' ')[1]}-data with the content inline`);
    }
  }
  // Where client-node differs from kubectl: it refuses an http:// server unless insecure-skip-tls-verify
  // is set (kubectl takes it as written; there is no TLS to verify), reads only `token-file` (kubectl
  // writes `tokenFile`) and sends a token file's trailing newline, which no HTTP header may hold.
  const plainHttp = url.protocol === 'http:' && !cluster.skipTLSVerify;
  let token = user?.token ?? (user ? readTokenFile(doc, user.name) : undefined);
  token = token?.trim();
  if (plainHttp || token !== user?.token) {
    kc.loadFromOptions({
      clusters: kc.getClusters().map((c) => (c === cluster && plainHttp ? { ...c, skipTLSVerify: true } : c)),
      contexts: kc.getContexts(),
      users: kc.getUsers().map((u) => (u === user ? { ...u, token } : u)),
      currentContext: contextName,
    });
  }
  return { kc, server };
}

/** The token in the file a user's `tokenFile` names; errors name the file, never its content. */
function readTokenFile(doc: Dict, userName: string): string | undefined {
  const entry = Array.isArray(doc.users) ? doc.users.find((u) => isDict(u) && u.name === userName) : undefined;
  const file = isDict(entry) && isDict(entry.user) ? entry.user.tokenFile : undefined;
  if (typeof file !== 'string' || !file) return undefined;
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`the kubeconfig's tokenFile ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); put the token inline`);
  }
}

/** Renders a failed list call as a message naming the server and the fix, never the credentials. */
export function describeFailure(err: unknown, server: string, what: string): Error {
  if (err instanceof ApiException) {
    const status = err.code;
    // A Kubernetes Status message says what is wrong (forbidden verb, missing resource) and holds no secret.
    let body: unknown = err.body;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        body = undefined;
      }
    }
    const said = isDict(body) && typeof body.message === 'string' ? `: ${body.message}` : '';
    const hint = status === 401 ? 'the kubeconfig credentials were refused' : status === 403 ? 'the kubeconfig user may not list them cluster-wide' : 'check the cluster';
    return new Error(`the Kubernetes API server at ${server} answered HTTP ${status}${said} to list ${what}: ${hint}`);
  }
  const code = (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.name ?? 'error';
  const tlsHint = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(String(code)) ? "; check the kubeconfig's certificate-authority-data" : '';
  return new Error(`cannot reach the Kubernetes API server at ${server} (${code}) listing ${what}; check the kubeconfig's server address and that the cluster is up${tlsHint}`);
}

interface Page<T> {
  items: T[];
  metadata?: { _continue?: string };
}

/** Every item of a LIST call, following `continue` in pages of `limit`. */
export async function listAll<T>(what: string, page: (limit: number, cont?: string) => Promise<Page<T>>, limit = 500): Promise<T[]> {
  const items: T[] = [];
  const seen = new Set<string>();
  let next: string | undefined;
  do {
    const answer = await page(limit, next);
    items.push(...(answer.items ?? []));
    const cont = answer.metadata?._continue ?? '';
    // A server repeating a token would page forever.
    if (cont && seen.has(cont)) throw new Error(`the Kubernetes API server repeats the continue token listing ${what}`);
    seen.add(cont);
    next = cont || undefined;
  } while (next);
  return items;
}

/** Per-request options that tie every call to one AbortSignal. */
function withSignal(signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (context: RequestContext) => {
          context.setSignal(signal);
          return new Observable(Promise.resolve(context));
        },
        post: (context: ResponseContext) => new Observable(Promise.resolve(context)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

/** Lists every workload kind in all namespaces; bounded by timeoutMs as a whole. */
export async function fetchWorkloads(kubeconfig: string, timeoutMs = 10_000): Promise<{ server: string; workloads: Workloads }> {
  const { kc, server } = loadKubeconfig(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const options = withSignal(controller.signal);
  const list = async <T>(what: string, page: (limit: number, cont?: string) => Promise<Page<T>>): Promise<T[]> => {
    try {
      return await listAll(what, page);
    } catch (err) {
      if (controller.signal.aborted && !(err instanceof ApiException)) {
        throw new Error(`the Kubernetes API server at ${server} did not answer within ${timeoutMs / 1000} s; check that the cluster is up and reachable from this unit`);
      }
      if (err instanceof Error && err.message.startsWith('the Kubernetes API server repeats')) throw err;
      throw describeFailure(err, server, what);
    }
  };
  try {
    // client-node's models are structurally the audit's *Like shapes (camelCase fields, optional parts).
    const [pods, deployments, daemonsets, statefulsets, jobs, cronjobs] = await Promise.all([
      list<PodLike>('pods', (limit, cont) => core.listPodForAllNamespaces({ limit, _continue: cont }, options)),
      list<TemplatedLike>('deployments', (limit, cont) => apps.listDeploymentForAllNamespaces({ limit, _continue: cont }, options)),
      list<TemplatedLike>('daemonsets', (limit, cont) => apps.listDaemonSetForAllNamespaces({ limit, _continue: cont }, options)),
      list<TemplatedLike>('statefulsets', (limit, cont) => apps.listStatefulSetForAllNamespaces({ limit, _continue: cont }, options)),
      list<TemplatedLike>('jobs', (limit, cont) => batch.listJobForAllNamespaces({ limit, _continue: cont }, options)),
      list<CronJobLike>('cronjobs', (limit, cont) => batch.listCronJobForAllNamespaces({ limit, _continue: cont }, options)),
    ]);
    return { server, workloads: { pods, deployments, daemonsets, statefulsets, jobs, cronjobs } };
  } finally {
    clearTimeout(timer);
    // Ends the other lists after the first failure (and any response client-node left unread: it does
    // not read a 401's body), so no socket keeps the action process alive.
    controller.abort();
  }
}
