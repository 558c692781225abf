import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateSpecText } from '../../src/spec/index.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('documentation stays true', () => {
  it("the README's full spec example is valid", () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)]
      .map((m) => m[1] ?? '')
      .filter((b) => b.includes('stages:'));
    expect(blocks.length).toBeGreaterThan(0);
    for (const b of blocks) expect(validateSpecText(b)).toEqual([]);
  });

  it('every example spec is valid', () => {
    const dir = path.join(ROOT, 'examples');
    const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files)
      expect([f, validateSpecText(readFileSync(path.join(dir, f), 'utf8'))]).toEqual([f, []]);
  });

  it('the quick start uses commands that exist', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('npm ci && ./bin/jobhub.js run examples/benchmark.yaml');
    expect(readme).toMatch(/^npm test\b/m);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.test).toBeDefined();
  });
});
