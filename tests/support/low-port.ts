import net from 'node:net';

const canBind = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/**
 * A privileged port (< 1024) free on 127.0.0.1 right now, tried from `first` down, or an error
 * saying which ones are taken (binding below 1024 needs root or CAP_NET_BIND_SERVICE).
 */
export async function freeLowPort(first: number, last = first): Promise<number> {
  for (let port = first; port >= last; port--) if (await canBind(port)) return port;
  throw new Error(`no free port from ${last} to ${first} on 127.0.0.1 (taken by another listener, or the test is not root)`);
}
