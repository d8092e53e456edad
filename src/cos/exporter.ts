// The charm's facts exporter: a tiny loopback HTTP server (run by systemd as
// offline-registry-metrics.service) that grafana-agent or opentelemetry-collector scrapes. A
// node-exporter textfile would not do: grafana-agent's node_exporter integration enables no
// textfile directory, and the collectors' snaps may not read our files; a scrape job works for both.
import http from 'node:http';
import { unitPaths } from '../registry/paths.js';
import { gatherFacts, renderFacts } from './facts.js';

function main(argv: string[]): void {
  const option = (name: string) => {
    const i = argv.indexOf(name);
    return i === -1 ? undefined : argv[i + 1];
  };
  const arg = (name: string) => {
    const value = option(name);
    if (!value) throw new Error(`usage: exporter.mjs --listen 127.0.0.1:PORT --root DIR [--cert FILE] [--shared-store] (missing ${name})`);
    return value;
  };
  const [host, port] = [arg('--listen').replace(/:\d+$/, ''), Number(/:(\d+)$/.exec(arg('--listen'))?.[1])];
  const paths = unitPaths(arg('--root'));
  const certFile = option('--cert');
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if ((req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('metrics are at /metrics\n');
      return;
    }
    const body = renderFacts(gatherFacts(paths, certFile, { sharedStore: argv.includes('--shared-store') }));
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  server.on('error', (err) => {
    console.error(`offline-registry metrics exporter: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => console.error(`offline-registry metrics exporter listening on ${host}:${port}`));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => server.close(() => process.exit(0)));
}

main(process.argv.slice(2));
