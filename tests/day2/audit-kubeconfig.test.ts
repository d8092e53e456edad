// The kubeconfig as client-node loads it for audit-cluster: what it authenticates with, what is refused,
// and that no error repeats the kubeconfig's secrets.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fetchWorkloads } from '../../src/day2/audit.js';
import { loadKubeconfig } from '../../src/day2/kube-client.js';
import { freePort } from '../support/ports.js';

const SECRET = 'tok-SECRET-never-shown-0123456789';

const config = (user: string, cluster = 'server: https://10.0.0.5:6443', current = 'ck8s') =>
  `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    ${cluster}\nusers:\n- name: u\n  user:\n${user}\ncontexts:\n- name: ck8s\n  context: {cluster: c, user: u}\ncurrent-context: ${current}\n`;

/** The Authorization header client-node would send, and the TLS options of its agent. */
async function requestOptions(text: string) {
  const { kc } = loadKubeconfig(text);
  const init = await kc.applyToFetchOptions({});
  const headers = init.headers as unknown as { get(name: string): string | null };
  const agent = init.agent as unknown as { options: { rejectUnauthorized?: boolean; ca?: Buffer; servername?: string } };
  return { authorization: headers.get('Authorization'), tls: agent.options };
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'day2-kubeconfig-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('loadKubeconfig', () => {
  test('token, basic auth, CA data, insecure flag and tls-server-name reach client-node', async () => {
    const withCa = config(`    token: ${SECRET}`, 'server: https://10.0.0.5:6443/\n    certificate-authority-data: ' + Buffer.from('PEM').toString('base64') + '\n    tls-server-name: kubernetes');
    expect(loadKubeconfig(withCa).server).toBe('https://10.0.0.5:6443');
    const tokenOptions = await requestOptions(withCa);
    expect(tokenOptions.authorization).toBe(`Bearer ${SECRET}`);
    expect(tokenOptions.tls.ca).toEqual(Buffer.from('PEM'));
    expect(tokenOptions.tls.servername).toBe('kubernetes');
    expect(tokenOptions.tls.rejectUnauthorized).not.toBe(false);

    const basic = await requestOptions(config('    username: admin\n    password: p@ss', 'server: https://h:6443\n    insecure-skip-tls-verify: true'));
    expect(basic.authorization).toBe(`Basic ${Buffer.from('admin:p@ss').toString('base64')}`);
    expect(basic.tls.rejectUnauthorized).toBe(false);
  });

  test('tokenFile (kubectl) and token-file (client-node) are read and trimmed; unreadable files name the field and path only', async () => {
    fs.writeFileSync(path.join(tmp, 'token'), `${SECRET}\n`, { mode: 0o600 });
    expect((await requestOptions(config(`    tokenFile: ${path.join(tmp, 'token')}`))).authorization).toBe(`Bearer ${SECRET}`);
    expect((await requestOptions(config(`    token-file: ${path.join(tmp, 'token')}`))).authorization).toBe(`Bearer ${SECRET}`);
    const missing = path.join(tmp, 'nope');
    expect(() => loadKubeconfig(config(`    tokenFile: ${missing}`))).toThrow(`the kubeconfig's tokenFile ${missing} cannot be read (ENOENT); put the token inline`);
    expect(() => loadKubeconfig(config(`    token-file: ${missing}`))).toThrow(`the kubeconfig's token-file ${missing} cannot be read (ENOENT); put the token inline`);
    expect(() => loadKubeconfig(config('    token: t', `server: https://h\n    certificate-authority: ${missing}`))).toThrow(
      `the kubeconfig's cluster certificate-authority names ${missing}, which cannot be read (ENOENT); use certificate-authority-data with the content inline`,
    );
  });

  test('a plain-HTTP server is taken as written, as kubectl does', async () => {
    expect(loadKubeconfig(config(`    token: ${SECRET}`, 'server: http://127.0.0.1:8001')).kc.getCurrentCluster()?.skipTLSVerify).toBe(true);
  });

  test('refusals say what is wrong and what to give, never quoting the kubeconfig', () => {
    const cases: Array<[string, RegExp | string]> = [
      [config(`    token: ${SECRET}`, 'server: https://h', 'other'), 'the kubeconfig\'s current-context "other" is not among its contexts'],
      [config(`    token: ${SECRET}`, 'server: not a url'), /has no usable server URL \(e\.g\. https:\/\/10\.0\.0\.5:6443\)/],
      [config(`    token: ${SECRET}`, 'server: ftp://h/'), "the kubeconfig's server ftp://h is not http(s)"],
      [config(`    token: ${SECRET}`, 'insecure-skip-tls-verify: true'), "the kubeconfig's clusters[0].cluster.server is missing: give a kubeconfig with clusters, users, contexts and current-context"],
      [config('    client-certificate-data: ' + Buffer.from(SECRET).toString('base64')), /client certificate without its key/],
      [`apiVersion: v1\nkind: Config\nusers: [{name: u, user: {token: ${SECRET}}}]\n`, /has no current-context/],
      [`- ${SECRET}\n- b\n`, /^the kubeconfig is not a kubeconfig \(a YAML mapping\)/],
      [`clusters: [ {server: "http://x"\ntoken: ${SECRET}\n  - : : ]`, /^the kubeconfig is not valid YAML \(line \d+\): give a kubeconfig/],
      ['  \n', /^the kubeconfig is empty/],
    ];
    for (const [text, expected] of cases) {
      let message = '';
      try {
        loadKubeconfig(text);
      } catch (err) {
        message = (err as Error).message;
      }
      expect({ text, message }).toEqual({ text, message: expect.stringMatching(typeof expected === 'string' ? new RegExp(`^${expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : expected) });
      expect(message).not.toContain(SECRET);
    }
  });

  test('exec and auth-provider users are refused before any request, and their command never runs', async () => {
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
      requests.push(req.url ?? '');
      res.writeHead(500).end();
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    const marker = path.join(tmp, 'exec-ran');
    try {
      const cluster = `server: http://127.0.0.1:${port}`;
      const exec = config(`    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [-c, "touch ${marker}; echo {}"]`, cluster);
      const authProvider = config(`    auth-provider:\n      name: oidc\n      config: {client-id: x, id-token: ${SECRET}}`, cluster);
      for (const text of [exec, authProvider]) {
        await expect(fetchWorkloads(text, 2000)).rejects.toThrow(
          "the kubeconfig's user authenticates through an exec or auth-provider plugin, which the audit does not run: give a kubeconfig with a token, basic auth or a client certificate",
        );
      }
      // A client certificate does not make an exec plugin acceptable: client-node would still run it.
      const both = config(`    client-certificate-data: Qw==\n    client-key-data: Sw==\n    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: [-c, "touch ${marker}"]}`, cluster);
      expect(() => loadKubeconfig(both)).toThrow(/exec or auth-provider plugin/);
      expect(fs.existsSync(marker)).toBe(false);
      expect(requests).toEqual([]);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
