/**
 * `bin/sparsity-lab <command>`: the headless CLI over the same engine the app uses.
 * Each command lives in its own module; `main` returns the process exit code.
 */
import { Engine } from '../engine/engine';
import { LabError, toErrorPayload } from '../api/errors';
import { commands, type CliCommand } from './commands';
import { forTerminal } from './terminal';

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(16)} ${c.summary}`);
  return ['usage: sparsity-lab <command> [options]', '', 'commands:', ...lines, '', "Run 'sparsity-lab <command> --help' for a command's options."].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const cmd: CliCommand | undefined = commands[name];
  if (!cmd) {
    console.error(`sparsity-lab: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const engine = new Engine({ host: 'node', log: { info: () => {}, warn: (m) => console.error(`warning: ${forTerminal(m)}`), error: (m) => console.error(`error: ${forTerminal(m)}`) } });
  const json = rest.includes('--json');
  /** the error said in one line (and as JSON with --json); the exit status it gives */
  const fail = (err: unknown): number => {
    // node:util parseArgs refuses unknown or malformed flags with a TypeError: that is the user's argument, not a bug
    const argErr = (err as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS_') ? new LabError('BAD_REQUEST', (err as Error).message) : err;
    const e = toErrorPayload(argErr);
    if (json) console.log(JSON.stringify({ error: e }));
    console.error(`sparsity-lab ${name}: ${e.code}: ${forTerminal(e.message)}`);
    if (!(argErr instanceof LabError) && process.env.SPARSITY_LAB_DEBUG) console.error(err);
    return e.code === 'BAD_REQUEST' ? 2 : 1;
  };
  let rc: number;
  try {
    rc = await cmd.run(rest, engine);
  } catch (err) {
    rc = fail(err);
  }
  try {
    await engine.dispose();
  } catch (err) {
    // closing the session failed (a full disk while its journal is folded in): said as any error, never a stack trace
    const closing = fail(err);
    if (rc === 0) rc = closing;
  }
  return rc;
}
