/** The CLI's template commands: `template push|list|show`. Their code is loaded only when one runs. */
import type { Command } from 'commander';
import type { CliIO } from './io.js';
import { type Act, withRemote } from './remote-options.js';

const load = () => import('./commands/templates.js');

export function registerTemplateCommands(program: Command, io: CliIO, act: Act): void {
  const json = (c: Command) => withRemote(c).option('--json', 'print JSON');
  const template = program
    .command('template')
    .description('templates: named, versioned job specs on a server, submitted with --template NAME[@V]');
  json(
    template
      .command('push')
      .description('store a spec as a template: a new version when it changed, else nothing new')
      .argument('<file>', 'job spec, YAML or JSON (- for stdin)')
      .option('--name <name>', "template name (default: the spec's name)"),
  ).action(
    act(async (file: string, flags: { name?: string; json?: boolean }) =>
      (await load()).templatePushCommand(file, flags, io),
    ),
  );
  json(template.command('list').description('list templates: the newest version of each')).action(
    act(async (flags: { json?: boolean }) => (await load()).templateListCommand(flags, io)),
  );
  json(
    template
      .command('show')
      .description("a template's versions and params; with @VERSION, that version's spec")
      .argument('<name[@version]>', 'template name, optionally with a version'),
  ).action(
    act(async (ref: string, flags: { json?: boolean }) => (await load()).templateShowCommand(ref, flags, io)),
  );
}
