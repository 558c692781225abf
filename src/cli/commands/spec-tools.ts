/** `jobhub validate`, `jobhub schema`, `jobhub plan`: work on a spec without running anything. */

import { JobhubError } from '../../core/errors.js';
import { containerAssignments } from '../../plan/capabilities.js';
import { parseNodesFile } from '../../plan/nodes-file.js';
import { buildPlan, type Plan } from '../../plan/planner.js';
import { placeJob } from '../../plan/scheduler.js';
import { jobSpecJsonSchema } from '../../spec/schema.js';
import type { PlacedNode } from '../../store/store.js';
import { mark, paint, type Style } from '../format.js';
import { type CliIO, println, styleOf } from '../io.js';
import { readSpecFile, readText } from '../spec-file.js';

export function validateCommand(file: string, opts: { json?: boolean }, io: CliIO): number {
  const loaded = readSpecFile(file);
  if (opts.json) println(io.stdout, JSON.stringify({ valid: true, spec: loaded.spec }, null, 2));
  else {
    const s = loaded.spec;
    println(
      io.stdout,
      `${file}: valid: job ${s.name}, ${s.stages.length} stages on ${s.nodeAssignments.length} nodes`,
    );
  }
  return 0;
}

export function schemaCommand(io: CliIO): number {
  println(io.stdout, JSON.stringify(jobSpecJsonSchema(), null, 2));
  return 0;
}

export function planCommand(file: string, opts: { nodes?: string; json?: boolean }, io: CliIO): number {
  const { spec } = readSpecFile(file);
  let placement: PlacedNode[];
  if (opts.nodes) {
    const nodes = parseNodesFile(readText(opts.nodes), opts.nodes);
    const result = placeJob(spec.nodeAssignments, nodes, { containers: containerAssignments(spec) });
    if (!result.ok)
      throw new JobhubError('placement_failed', `cannot place job ${spec.name}: ${result.reason}`);
    placement = result.placement;
  } else {
    // Embedded: each assignment gets its own local node.
    placement = spec.nodeAssignments.map((a) => ({
      assignment: a.name,
      role: a.role,
      nodeId: `local-${a.name}`,
      nodeName: a.name,
      ip: '127.0.0.1',
    }));
  }
  const plan = buildPlan(spec, placement);
  if (opts.json) println(io.stdout, JSON.stringify(plan, null, 2));
  else println(io.stdout, renderPlan(plan, styleOf(io)).join('\n'));
  return 0;
}

export function renderPlan(plan: Plan, style: Style): string[] {
  const out = [`plan for job ${paint(style, 'bold', plan.job)}`];
  plan.pipelines.forEach((p, i) => {
    out.push(
      `${i + 1}. pipeline ${p.name}${p.stages.length > 1 ? paint(style, 'gray', ' (stages in parallel)') : ''}`,
    );
    for (const s of p.stages) {
      const nodes = s.nodes.map((n) => `${n.name}${n.ip ? `@${n.ip}` : ''}`).join(', ');
      const needs = s.needs.length > 0 ? paint(style, 'gray', ` needs ${s.needs.join(', ')}`) : '';
      out.push(`   ${mark(style, 'queued')} stage ${s.name} [${s.type}] on ${nodes}${needs}`);
      if (s.use) out.push(`        uses template ${s.use} (its stages come in when a server takes the job)`);
      for (const g of s.pipelines) {
        const parallel = g.tasks.length > 1 ? paint(style, 'gray', ' (parallel)') : '';
        if (s.pipelines.length > 1 || g.tasks.length > 1) out.push(`      ${g.name}${parallel}`);
        for (const t of g.tasks) {
          const lr = t.longRunning ? paint(style, 'cyan', ' long-running') : '';
          out.push(`        - ${t.name} (${t.driver}${lr}): ${t.run}`);
          for (const r of t.ready ?? []) out.push(paint(style, 'gray', `            ready when: ${r}`));
        }
      }
    }
  });
  return out;
}
