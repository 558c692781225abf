/** Reading a spec file (or `-` for stdin) for the CLI, with every problem printed located. */
import { readFileSync } from 'node:fs';
import { JobhubError } from '../core/errors.js';
import { type LoadedSpec, loadSpec } from '../spec/index.js';

export interface SpecFile extends LoadedSpec {
  text: string;
  file: string;
}

export function readText(file: string): string {
  try {
    return file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : String(err);
    throw new JobhubError('bad_request', `cannot read ${file}: ${why}`);
  }
}

export function readSpecFile(file: string): SpecFile {
  const text = readText(file);
  return { ...loadSpec(text, file), text, file };
}
