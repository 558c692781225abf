/**
 * The templates part of the REST API, for `jobhub template push|list|show`: typed wrappers over
 * ApiClient.request, with the server's own schemas as their types.
 */
import type {
  PushTemplateResponse,
  TemplateList,
  TemplateVersions,
  TemplateVersionView,
} from '../server/template-schemas.js';
import type { ApiClient, SpecContentType } from './client.js';

const seg = (s: string) => encodeURIComponent(s);

export class TemplateApi {
  constructor(private readonly client: ApiClient) {}

  push(text: string, contentType: SpecContentType, name?: string): Promise<PushTemplateResponse> {
    return this.client.request('POST', '/api/v1/templates', {
      body: text,
      contentType,
      query: name !== undefined ? { name } : {},
    });
  }

  list(): Promise<TemplateList> {
    return this.client.request('GET', '/api/v1/templates');
  }

  versions(name: string): Promise<TemplateVersions> {
    return this.client.request('GET', `/api/v1/templates/${seg(name)}`);
  }

  version(name: string, version: number): Promise<TemplateVersionView> {
    return this.client.request('GET', `/api/v1/templates/${seg(name)}/versions/${version}`);
  }
}
