// HTTPS requests that trust exactly the CA given (and optionally present a client certificate).
import https from 'node:https';

export interface HttpsOptions {
  ca?: string;
  servername?: string; // the name to verify (SNI), while connecting to the URL's address
  cert?: string;
  key?: string;
  auth?: { user: string; password: string };
  method?: string;
  headers?: Record<string, string>;
}

export function httpsRequest(url: string, opts: HttpsOptions = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string; peerCert?: { subjectaltname?: string } }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const options: https.RequestOptions = { method: opts.method ?? 'GET', timeout: 10000, agent: false, headers };
    if (opts.ca) options.ca = opts.ca;
    if (opts.servername) options.servername = opts.servername;
    if (opts.cert) options.cert = opts.cert;
    if (opts.key) options.key = opts.key;
    if (opts.auth) headers.authorization = `Basic ${Buffer.from(`${opts.auth.user}:${opts.auth.password}`).toString('base64')}`;
    const req = https.request(
      url,
      options,
      (res) => {
        const peer = (res.socket as import('node:tls').TLSSocket).getPeerCertificate?.();
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, peerCert: peer }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', reject);
    req.end();
  });
}
