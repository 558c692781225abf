/** Work on a spec without running anything: validate it, plan it. */
import type { FastifyInstance } from 'fastify';
import { buildPlan } from '../../plan/planner.js';
import { loadSpec, validateSpecText } from '../../spec/index.js';
import type { JobSpec } from '../../spec/model.js';
import type { PlacedNode } from '../../store/store.js';
import { AUTH_ERRORS, BODY_ERRORS, PlanView, responses, SpecBody, ValidateResponse } from '../api-schemas.js';
import { API, type RouteDeps, SECURED, specTextOf } from './common.js';

const tags = ['specs'];

/** Embedded placement: each node assignment on its own local node (as `jobhub plan` without --nodes). */
export function localPlacement(spec: JobSpec): PlacedNode[] {
  return spec.nodeAssignments.map((a) => ({
    assignment: a.name,
    role: a.role,
    nodeId: `local-${a.name}`,
    nodeName: a.name,
    ip: '127.0.0.1',
  }));
}

export function specRoutes(app: FastifyInstance, _deps: RouteDeps): void {
  app.post(
    `${API}/plan`,
    {
      schema: {
        operationId: 'planSpec',
        tags,
        summary: "A spec's execution plan with local placement (each assignment its own node); runs nothing",
        security: SECURED,
        body: SpecBody,
        response: responses({ 200: PlanView }, [...BODY_ERRORS, ...AUTH_ERRORS]),
      },
    },
    async (req) => {
      const { spec } = loadSpec(specTextOf(req));
      return buildPlan(spec, localPlacement(spec));
    },
  );

  app.post(
    `${API}/specs/validate`,
    {
      schema: {
        operationId: 'validateSpec',
        tags,
        summary: 'Check a spec: every problem at once, each located (an invalid spec is a 200 answer)',
        security: SECURED,
        body: SpecBody,
        response: responses({ 200: ValidateResponse }, [...BODY_ERRORS, ...AUTH_ERRORS]),
      },
    },
    async (req) => {
      const problems = validateSpecText(specTextOf(req));
      return { valid: problems.length === 0, problems };
    },
  );
}
