#!/usr/bin/env node
// A fake apt-get for the simulator: installs nothing, but succeeds only for packages listed in
// the state's apt.available (the unit's local mirror) and records what was installed.
import { exitWithError, updateDoc } from './simstate.mjs';

// apt-get options that take a value as the next argument.
const VALUE_OPTIONS = new Set(['-o', '--option', '-c', '--config-file', '-t', '--target-release']);

function main() {
  const args = process.argv.slice(2);
  const words = [];
  for (let i = 0; i < args.length; i++) {
    if (VALUE_OPTIONS.has(args[i])) i++;
    else if (!args[i].startsWith('-')) words.push(args[i]);
  }
  const [command, ...packages] = words;
  let code = 0;
  let stdout = '';
  let stderr = '';
  try {
    updateDoc((doc) => {
      const states = [doc.working, doc.committed];
      for (const s of states) s.aptCalls.push(['apt-get', ...args]);
      switch (command) {
        case 'update':
          stdout = 'Reading package lists... Done\n';
          break;
        case 'install': {
          const names = packages.map((p) => p.replace(/[=/].*$/, ''));
          const missing = names.filter((n) => !doc.working.apt.available.includes(n));
          if (missing.length > 0) {
            stdout = 'Reading package lists... Done\nBuilding dependency tree... Done\n';
            stderr = missing.map((n) => `E: Unable to locate package ${n}\n`).join('');
            code = 100;
            break;
          }
          stdout = 'Reading package lists... Done\nBuilding dependency tree... Done\n';
          for (const s of states) {
            for (const n of names) if (!s.apt.installed.includes(n)) s.apt.installed.push(n);
          }
          break;
        }
        case 'remove':
        case 'purge':
          for (const s of states) s.apt.installed = s.apt.installed.filter((n) => !packages.includes(n));
          break;
        case undefined:
          stderr = 'E: No operation given\n';
          code = 100;
          break;
        default:
          stderr = `E: Invalid operation ${command}\n`;
          code = 100;
      }
    });
  } catch (err) {
    exitWithError(err);
  }
  process.stdout.write(stdout);
  process.stderr.write(stderr);
  process.exitCode = code;
}

main();
