/**
 * The templates API's contract: one TypeBox source that validates requests, types the routes and
 * the CLI's client, and documents them in OpenAPI.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Owner } from './api-schemas.js';

const TemplateName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', maxLength: 200 });

export const ParamView = Type.Object({
  name: Type.String(),
  type: Type.Union([
    Type.Literal('string'),
    Type.Literal('number'),
    Type.Literal('boolean'),
    Type.Literal('enum'),
  ]),
  values: Type.Optional(Type.Array(Type.String())),
  default: Type.Optional(Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
  description: Type.Optional(Type.String()),
  required: Type.Boolean(),
});

export const TemplateView = Type.Object(
  {
    name: Type.String(),
    version: Type.Integer({ minimum: 1 }),
    sha256: Type.String({ description: "Hex SHA-256 of the spec's text" }),
    description: Type.Union([Type.String(), Type.Null()]),
    owner: Type.Union([Owner, Type.Null()]),
    pushedBy: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    params: Type.Array(ParamView, { description: 'The parameters a submission gives values for' }),
  },
  { description: 'One version of a template' },
);
export type TemplateView = Static<typeof TemplateView>;

export const TemplateVersionView = Type.Object(
  { ...TemplateView.properties, spec: Type.String({ description: 'The spec, as pushed' }) },
  { description: 'One version of a template, with its spec' },
);
export type TemplateVersionView = Static<typeof TemplateVersionView>;

export const TemplateListItem = Type.Object(
  { ...TemplateView.properties, versions: Type.Integer({ minimum: 1, description: 'How many versions' }) },
  { description: "A template's newest version" },
);
export type TemplateListItem = Static<typeof TemplateListItem>;

export const TemplateList = Type.Object({ results: Type.Array(TemplateListItem) });
export type TemplateList = Static<typeof TemplateList>;

export const TemplateVersions = Type.Object(
  { name: Type.String(), versions: Type.Array(TemplateView, { description: 'Newest first' }) },
  { description: "A template's versions" },
);
export type TemplateVersions = Static<typeof TemplateVersions>;

export const PushTemplateQuery = Type.Object({
  name: Type.Optional(
    Type.String({
      pattern: TemplateName.pattern,
      maxLength: 200,
      description: "The template's name; default the spec's `name`",
    }),
  ),
});
export type PushTemplateQuery = Static<typeof PushTemplateQuery>;

export const PushTemplateResponse = Type.Object({
  created: Type.Boolean({ description: 'false: the newest version had the same content; it is returned' }),
  template: TemplateView,
});
export type PushTemplateResponse = Static<typeof PushTemplateResponse>;

export const TemplateNameParams = Type.Object({ name: TemplateName });
export type TemplateNameParams = Static<typeof TemplateNameParams>;

export const TemplateVersionParams = Type.Object({
  name: TemplateName,
  version: Type.Integer({ minimum: 1 }),
});
export type TemplateVersionParams = Static<typeof TemplateVersionParams>;
