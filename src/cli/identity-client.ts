/**
 * The identity part of the REST API, for `jobhub whoami|token|user|org|member|secret`: typed
 * wrappers over ApiClient.request, with the server's own schemas as their types.
 */
import type {
  MemberView,
  NewTokenBody,
  NewTokenResponse,
  OrgView,
  TokenView,
  UserView,
  WhoAmI,
} from '../server/identity-schemas.js';
import type { ApiClient } from './client.js';

const seg = (s: string) => encodeURIComponent(s);

export class IdentityApi {
  constructor(private readonly client: ApiClient) {}

  whoami(): Promise<WhoAmI> {
    return this.client.request('GET', '/api/v1/whoami');
  }

  createToken(body: NewTokenBody): Promise<NewTokenResponse> {
    return this.client.request('POST', '/api/v1/tokens', {
      body: JSON.stringify(body),
      contentType: 'application/json',
    });
  }

  async listTokens(all: boolean): Promise<TokenView[]> {
    const page = await this.client.request<{ results: TokenView[] }>('GET', '/api/v1/tokens', {
      query: all ? { all: true } : {},
    });
    return page.results;
  }

  revokeToken(id: string): Promise<TokenView> {
    return this.client.request('DELETE', `/api/v1/tokens/${seg(id)}`);
  }

  createUser(name: string, serverAdmin: boolean): Promise<UserView> {
    return this.client.request('POST', '/api/v1/users', {
      body: JSON.stringify({ name, ...(serverAdmin ? { serverAdmin } : {}) }),
      contentType: 'application/json',
    });
  }

  async listUsers(): Promise<UserView[]> {
    return (await this.client.request<{ results: UserView[] }>('GET', '/api/v1/users')).results;
  }

  createOrg(name: string): Promise<OrgView> {
    return this.client.request('POST', '/api/v1/orgs', {
      body: JSON.stringify({ name }),
      contentType: 'application/json',
    });
  }

  async listOrgs(): Promise<OrgView[]> {
    return (await this.client.request<{ results: OrgView[] }>('GET', '/api/v1/orgs')).results;
  }

  async listMembers(org: string): Promise<MemberView[]> {
    return (await this.client.request<{ results: MemberView[] }>('GET', `/api/v1/orgs/${seg(org)}/members`))
      .results;
  }

  setMember(org: string, user: string, role: MemberView['role']): Promise<MemberView> {
    return this.client.request('PUT', `/api/v1/orgs/${seg(org)}/members/${seg(user)}`, {
      body: JSON.stringify({ role }),
      contentType: 'application/json',
    });
  }

  async removeMember(org: string, user: string): Promise<void> {
    await this.client.request('DELETE', `/api/v1/orgs/${seg(org)}/members/${seg(user)}`);
  }

  async listSecrets(org: string): Promise<string[]> {
    return (await this.client.request<{ names: string[] }>('GET', `/api/v1/orgs/${seg(org)}/secrets`)).names;
  }

  async putSecret(org: string, name: string, value: string): Promise<void> {
    await this.client.request('PUT', `/api/v1/orgs/${seg(org)}/secrets/${seg(name)}`, {
      body: JSON.stringify({ value }),
      contentType: 'application/json',
    });
  }

  async deleteSecret(org: string, name: string): Promise<void> {
    await this.client.request('DELETE', `/api/v1/orgs/${seg(org)}/secrets/${seg(name)}`);
  }
}
