/**
 * The identity API's contract (users, orgs, members, secrets, tokens): one TypeBox source that
 * validates requests, types both the routes and the CLI's client, and documents them in OpenAPI.
 */
import { type Static, Type } from '@sinclair/typebox';

export const Name = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.@-]*$', maxLength: 100 });
export const Role = Type.Union([Type.Literal('admin'), Type.Literal('member'), Type.Literal('viewer')]);
export const Scope = Type.Union([Type.Literal('full'), Type.Literal('read'), Type.Literal('submit')]);
export const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
export const UserView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  serverAdmin: Type.Boolean(),
  createdAt: Type.String(),
});
export const OrgView = Type.Object({ id: Type.String(), name: Type.String(), createdAt: Type.String() });
export const MemberView = Type.Object({ user: Type.String(), userId: Type.String(), role: Role });
export const TokenView = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal('user'), Type.Literal('agent')]),
  name: Type.String(),
  user: Type.Union([Type.String(), Type.Null()]),
  scope: Scope,
  actFor: Type.Boolean(),
  createdAt: Type.String(),
  expiresAt: Time,
  revokedAt: Time,
});
export const WhoAmI = Type.Object({
  user: Type.Union([UserView, Type.Null()]),
  token: TokenView,
  orgs: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), role: Role })),
});
export const NewUser = Type.Object(
  { name: Name, serverAdmin: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
export const NewOrg = Type.Object({ name: Name }, { additionalProperties: false });
export const SetRole = Type.Object({ role: Role }, { additionalProperties: false });
export const NewTokenBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    scope: Type.Optional(Scope),
    expiresIn: Type.Optional(
      Type.String({ description: 'How long the token lives, e.g. 30d or 12h (default: until revoked)' }),
    ),
    user: Type.Optional(Type.String({ description: 'Server admins: the user the token acts as' })),
    kind: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('agent')])),
    actFor: Type.Optional(Type.Boolean({ description: 'Server admins: may name another submitter' })),
  },
  { additionalProperties: false },
);
export const SecretBody = Type.Object(
  { value: Type.String({ minLength: 1, maxLength: 65_536 }) },
  { additionalProperties: false },
);
export const OrgParams = Type.Object({ org: Type.String({ minLength: 1 }) });
export const MemberParams = Type.Object({
  org: Type.String({ minLength: 1 }),
  user: Type.String({ minLength: 1 }),
});
export const SecretParams = Type.Object({
  org: Type.String({ minLength: 1 }),
  name: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_-]*$' }),
});
export const TokenParams = Type.Object({ id: Type.String({ minLength: 1 }) });

export type UserView = Static<typeof UserView>;
export type OrgView = Static<typeof OrgView>;
export type MemberView = Static<typeof MemberView>;
export type TokenView = Static<typeof TokenView>;
export type WhoAmI = Static<typeof WhoAmI>;
export type NewUser = Static<typeof NewUser>;
export type NewTokenBody = Static<typeof NewTokenBody>;
export const NewTokenResponse = Type.Object({ token: Type.String(), record: TokenView });
export type NewTokenResponse = Static<typeof NewTokenResponse>;
