/** The secrets a spec uses: `{{.Secrets.NAME}}` in env values of tasks and their probes. */
import type { EnvVar, JobSpec } from './model.js';
import { parseTemplate } from './template.js';

function refsIn(env: readonly EnvVar[], out: Set<string>): void {
  for (const { v } of env)
    for (const ref of parseTemplate(v).refs) if (ref.kind === 'secret') out.add(ref.name);
}

export function secretRefs(spec: JobSpec): string[] {
  const names = new Set<string>();
  for (const stage of spec.stages) {
    for (const task of stage.tasks) {
      refsIn(task.env, names);
      if ((task.driver === 'shell' || task.driver === 'exec') && task.ready) {
        for (const p of task.ready.probes) if (p.kind === 'command') refsIn(p.env, names);
      }
    }
  }
  return [...names].sort();
}
