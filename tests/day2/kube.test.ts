import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseKubeconfig } from '../../src/day2/kube.js';

const config = (user: string, cluster = 'server: https://10.0.0.5:6443', current = 'ck8s') =>
  `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    ${cluster}\nusers:\n- name: u\n  user:\n${user}\ncontexts:\n- name: ck8s\n  context: {cluster: c, user: u}\ncurrent-context: ${current}\n`;

describe('parseKubeconfig', () => {
  test('token, basic auth, CA data, insecure flag and tls-server-name', () => {
    const t = parseKubeconfig(config('    token: abc', 'server: https://10.0.0.5:6443/\n    certificate-authority-data: ' + Buffer.from('PEM').toString('base64') + '\n    tls-server-name: kubernetes'));
    expect(t).toEqual({
      server: 'https://10.0.0.5:6443',
      headers: { accept: 'application/json', authorization: 'Bearer abc' },
      tls: { rejectUnauthorized: true, ca: Buffer.from('PEM'), servername: 'kubernetes', cert: undefined, key: undefined },
    });
    const basic = parseKubeconfig(config('    username: admin\n    password: p@ss', 'server: https://h:6443\n    insecure-skip-tls-verify: true'));
    expect(basic.headers.authorization).toBe(`Basic ${Buffer.from('admin:p@ss').toString('base64')}`);
    expect(basic.tls.rejectUnauthorized).toBe(false);
  });

  test('tokenFile and certificate files are read; unreadable ones name the field and path, not content', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'day2-kubeconfig-'));
    try {
      fs.writeFileSync(path.join(dir, 'token'), 'from-file\n');
      expect(parseKubeconfig(config(`    tokenFile: ${path.join(dir, 'token')}`)).headers.authorization).toBe('Bearer from-file');
      expect(() => parseKubeconfig(config(`    tokenFile: ${path.join(dir, 'nope')}`))).toThrow(`the kubeconfig's tokenFile ${path.join(dir, 'nope')} cannot be read (ENOENT); put the token inline`);
      expect(() => parseKubeconfig(config('    token: t', `server: https://h\n    certificate-authority: ${path.join(dir, 'ca.crt')}`))).toThrow(
        /^the kubeconfig's cluster certificate-authority names .*ca\.crt, which cannot be read \(ENOENT\); use certificate-authority-data/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('refusals say what is wrong and what to give', () => {
    expect(() => parseKubeconfig(config('    exec: {command: /bin/sh, args: [-c, "curl evil"]}'))).toThrow(/exec or auth-provider plugin, which the audit does not run/);
    expect(() => parseKubeconfig(config('    token: t', 'server: https://h', 'other'))).toThrow('the kubeconfig\'s current-context "other" is not among its contexts');
    expect(() => parseKubeconfig(config('    token: t', 'server: not a url'))).toThrow(/has no usable server URL \(e\.g\. https:\/\/10\.0\.0\.5:6443\)/);
    expect(() => parseKubeconfig(config('    client-certificate-data: ' + Buffer.from('C').toString('base64')))).toThrow(/client certificate without its key/);
    expect(() => parseKubeconfig('apiVersion: v1\nkind: Config\n')).toThrow(/has no current-context/);
    expect(() => parseKubeconfig('- a\n- b\n')).toThrow(/is not a kubeconfig/);
  });
});
