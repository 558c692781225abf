/** `jobhub template push|list|show`: templates on a server. */
import type { TemplateView } from '../../server/template-schemas.js';
import { parseTemplateRef } from '../../server/templates.js';
import { loadSpec } from '../../spec/index.js';
import { paint, table } from '../format.js';
import { type CliIO, println, styleOf } from '../io.js';
import { type RemoteFlags, requireRemote } from '../remote.js';
import { readText } from '../spec-file.js';
import { TemplateApi } from '../template-client.js';

export interface TemplateFlags extends RemoteFlags {
  json?: boolean;
}

const api = (flags: RemoteFlags, io: CliIO, what: string) => new TemplateApi(requireRemote(flags, io, what));

function printJson(io: CliIO, value: unknown): number {
  println(io.stdout, JSON.stringify(value, null, 2));
  return 0;
}

function ownerText(t: TemplateView): string {
  return t.owner ? `${t.owner.type} ${t.owner.name}` : '-';
}

function paramsText(t: TemplateView): string {
  return t.params
    .map((p) => {
      const type = p.type === 'enum' ? (p.values ?? []).join('|') : p.type;
      const dflt = p.default !== undefined ? `=${String(p.default)}` : '';
      return `${p.name}${p.required ? '!' : ''}:${type}${dflt}`;
    })
    .join(' ');
}

export async function templatePushCommand(
  file: string,
  flags: TemplateFlags & { name?: string },
  io: CliIO,
): Promise<number> {
  const text = readText(file);
  loadSpec(text, file); // located errors here, before a round trip (the server checks again)
  const type = /^\s*[{[]/.test(text) ? 'application/json' : 'application/yaml';
  const res = await api(flags, io, 'template push').push(text, type, flags.name);
  if (flags.json) return printJson(io, res);
  const t = res.template;
  println(
    io.stdout,
    res.created
      ? `template ${t.name}@${t.version} pushed`
      : `template ${t.name}@${t.version} unchanged (same content as its newest version)`,
  );
  return 0;
}

export async function templateListCommand(flags: TemplateFlags, io: CliIO): Promise<number> {
  const { results } = await api(flags, io, 'template list').list();
  if (flags.json) return printJson(io, results);
  println(
    io.stdout,
    table(
      ['NAME', 'VERSION', 'VERSIONS', 'OWNER', 'PARAMS', 'PUSHED'],
      results.map((t) => [
        t.name,
        String(t.version),
        String(t.versions),
        ownerText(t),
        paramsText(t),
        t.createdAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      ]),
    ),
  );
  return 0;
}

export async function templateShowCommand(ref: string, flags: TemplateFlags, io: CliIO): Promise<number> {
  const { name, version } = parseTemplateRef(ref);
  const client = api(flags, io, 'template show');
  if (version !== undefined) {
    const v = await client.version(name, version);
    if (flags.json) return printJson(io, v);
    const style = styleOf(io);
    println(io.stdout, paint(style, 'gray', `# ${v.name}@${v.version}  ${ownerText(v)}  ${paramsText(v)}`));
    io.stdout.write(v.spec.endsWith('\n') ? v.spec : `${v.spec}\n`);
    return 0;
  }
  const all = await client.versions(name);
  if (flags.json) return printJson(io, all);
  println(
    io.stdout,
    table(
      ['VERSION', 'SHA256', 'OWNER', 'PUSHED BY', 'PARAMS', 'PUSHED'],
      all.versions.map((t) => [
        String(t.version),
        t.sha256.slice(0, 12),
        ownerText(t),
        t.pushedBy ?? '-',
        paramsText(t),
        t.createdAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      ]),
    ),
  );
  return 0;
}
