import { type CommandRunner, parseJson } from './runner.js';

export interface NetworkInfo {
  'bind-addresses'?: { 'interface-name'?: string; addresses?: { value: string; cidr?: string }[] }[];
  'ingress-addresses'?: string[];
  'egress-subnets'?: string[];
}

export async function networkGet(runner: CommandRunner, binding: string): Promise<NetworkInfo> {
  return parseJson<NetworkInfo | null>('network-get', await runner.run('network-get', ['--format=json', binding])) ?? {};
}
