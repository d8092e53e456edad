// The account the registry runs as: the Debian package's docker-registry user when it exists.
import fs from 'node:fs';

export interface Account { name: string; uid: number; gid: number }

export function registryAccount(passwdFile = '/etc/passwd', name = 'docker-registry'): Account | undefined {
  let passwd: string;
  try {
    passwd = fs.readFileSync(passwdFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid && gid) return { name, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}
