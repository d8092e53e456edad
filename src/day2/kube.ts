// A minimal read-only Kubernetes API client: kubeconfig (token, client certificate, basic auth, CA,
// insecure-skip-tls-verify) and paged LIST requests over node:http/https.
//
// Why not @kubernetes/client-node: 2.x needs undici 8, which needs Node >= 22.19 (on Node 20 the import
// itself throws in undici's zstd setup) while units run Node 18.19+; and its exec/auth-provider plugins
// would run whatever command an operator-supplied kubeconfig names. Kubeconfig text and credentials never
// appear in errors.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import YAML from 'yaml';

export interface KubeTarget {
  server: string;
  headers: Record<string, string>;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean; servername?: string };
}

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => !!v && typeof v === 'object' && !Array.isArray(v);

function named(list: unknown, name: string, key: string): Dict | undefined {
  if (!Array.isArray(list)) return undefined;
  const entry = list.find((e) => isDict(e) && e.name === name) as Dict | undefined;
  return entry && isDict(entry[key]) ? (entry[key] as Dict) : undefined;
}

/** Inline base64 `<field>-data`, or the file named by `<field>`; errors name the field and path, never the content. */
function material(section: Dict, field: string, where: string): Buffer | undefined {
  const data = section[`${field}-data`];
  if (typeof data === 'string' && data.trim()) return Buffer.from(data, 'base64');
  const file = section[field];
  if (typeof file !== 'string' || !file) return undefined;
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`the kubeconfig's ${where} ${field} names ${file}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); use ${field}-data with the content inline`);
  }
}

/** The current context's server and credentials. Throws with the problem and the fix, never echoing the text. */
export function parseKubeconfig(text: string): KubeTarget {
  if (!text.trim()) throw new Error('the kubeconfig is empty: give the YAML of a kubeconfig (e.g. the content of ~/.kube/config)');
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    // The parser's message quotes the source around the error, which may hold a token: give the line only.
    const line = (err as { linePos?: Array<{ line: number }> }).linePos?.[0]?.line;
    throw new Error(`the kubeconfig is not valid YAML${line ? ` (line ${line})` : ''}: give a kubeconfig with clusters, users, contexts and current-context`);
  }
  if (!isDict(doc)) throw new Error('the kubeconfig is not a kubeconfig (a YAML mapping with clusters, users, contexts and current-context)');
  const contextName = doc['current-context'];
  if (typeof contextName !== 'string' || !contextName) throw new Error('the kubeconfig has no current-context: set it to one of its contexts');
  const context = named(doc.contexts, contextName, 'context');
  if (!context) throw new Error(`the kubeconfig's current-context ${JSON.stringify(contextName)} is not among its contexts`);
  const cluster = typeof context.cluster === 'string' ? named(doc.clusters, context.cluster, 'cluster') : undefined;
  if (!cluster) throw new Error(`the kubeconfig's context ${JSON.stringify(contextName)} names no cluster that the kubeconfig defines`);
  const server = cluster.server;
  let url: URL;
  try {
    url = new URL(String(server));
  } catch {
    throw new Error(`the kubeconfig's cluster ${JSON.stringify(context.cluster)} has no usable server URL (e.g. https://10.0.0.5:6443)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`the kubeconfig's server ${url.origin} is not http(s)`);
  const user = typeof context.user === 'string' ? (named(doc.users, context.user, 'user') ?? {}) : {};

  const headers: Record<string, string> = { accept: 'application/json' };
  const tls: KubeTarget['tls'] = { rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true };
  tls.ca = material(cluster, 'certificate-authority', 'cluster');
  if (typeof cluster['tls-server-name'] === 'string') tls.servername = cluster['tls-server-name'];
  tls.cert = material(user, 'client-certificate', 'user');
  tls.key = material(user, 'client-key', 'user');
  let token = typeof user.token === 'string' ? user.token : undefined;
  if (!token && typeof user.tokenFile === 'string') {
    try {
      token = fs.readFileSync(user.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new Error(`the kubeconfig's tokenFile ${user.tokenFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); put the token inline`);
    }
  }
  if (token) headers.authorization = `Bearer ${token}`;
  else if (typeof user.username === 'string' && typeof user.password === 'string') {
    headers.authorization = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
  } else if (!tls.cert && (user.exec || user['auth-provider'])) {
    throw new Error("the kubeconfig's user authenticates through an exec or auth-provider plugin, which the audit does not run: give a kubeconfig with a token, basic auth or a client certificate");
  }
  if (!!tls.cert !== !!tls.key) throw new Error("the kubeconfig's user has a client certificate without its key (or a key without its certificate)");
  return { server: url.href.replace(/\/+$/, ''), headers, tls };
}

export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

const MAX_BODY = 256 * 1024 * 1024;

function getJson(target: KubeTarget, path: string, signal: AbortSignal): Promise<Dict> {
  const url = new URL(target.server + path);
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, { method: 'GET', headers: target.headers, signal, agent: false, ...(url.protocol === 'https:' ? target.tls : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy(new Error(`the answer to ${path} is larger than ${MAX_BODY} bytes`));
        else chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        const status = res.statusCode ?? 0;
        if (status === 200 && isDict(json)) return resolve(json);
        // A Kubernetes Status message says what is wrong (forbidden verb, missing resource) and holds no secret.
        const said = isDict(json) && typeof json.message === 'string' ? `: ${json.message}` : '';
        reject(new KubeApiError(`HTTP ${status}${said}`, status));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Every item of a LIST endpoint, following `continue` in pages of `limit`. */
export async function listAll(target: KubeTarget, path: string, signal: AbortSignal, limit = 500): Promise<Dict[]> {
  const items: Dict[] = [];
  let next: string | undefined;
  const seen = new Set<string>();
  do {
    const query = new URLSearchParams({ limit: String(limit), ...(next ? { continue: next } : {}) });
    const page = await getJson(target, `${path}?${query}`, signal);
    if (Array.isArray(page.items)) items.push(...page.items.filter(isDict));
    const cont = isDict(page.metadata) && typeof page.metadata.continue === 'string' ? page.metadata.continue : '';
    if (cont && seen.has(cont)) throw new KubeApiError(`the API server repeats the continue token for ${path}`);
    seen.add(cont);
    next = cont || undefined;
  } while (next);
  return items;
}
