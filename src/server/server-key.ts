/**
 * The server's secret key: encrypts org secrets at rest (AES-256-GCM) and signs job-scoped tokens.
 * From JOBHUB_SERVER_KEY (any string; replicas on one database must share it), else a random key
 * made on first start in the data folder (`server.key`, mode 0600).
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { JobhubError } from '../core/errors.js';

export class ServerKey {
  private constructor(private readonly key: Buffer) {}

  static from(material: string): ServerKey {
    return new ServerKey(createHash('sha256').update(material, 'utf8').digest());
  }

  /** The key of a data folder: read, or made on first use. */
  static load(env: NodeJS.ProcessEnv, dataDir: string | undefined): ServerKey {
    if (env.JOBHUB_SERVER_KEY) return ServerKey.from(env.JOBHUB_SERVER_KEY);
    if (!dataDir) {
      throw new JobhubError(
        'bad_request',
        'a server on PostgreSQL needs JOBHUB_SERVER_KEY (the same value on every replica): it encrypts org secrets and signs job tokens',
      );
    }
    const file = path.join(dataDir, 'server.key');
    try {
      return ServerKey.from(readFileSync(file, 'utf8').trim());
    } catch {
      mkdirSync(dataDir, { recursive: true });
      const made = randomBytes(32).toString('base64');
      try {
        writeFileSync(file, `${made}\n`, { mode: 0o600, flag: 'wx' });
        chmodSync(file, 0o600);
        return ServerKey.from(made);
      } catch {
        // Made meanwhile by another process on this folder: use that one.
        return ServerKey.from(readFileSync(file, 'utf8').trim());
      }
    }
  }

  /** A sub-key for one purpose, so no two uses share key material. */
  derive(label: string): Buffer {
    return createHmac('sha256', this.key).update(label).digest();
  }

  /** `v1.<iv>.<tag>.<ciphertext>`, base64url. */
  encrypt(plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const data = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return ['v1', iv, c.getAuthTag(), data]
      .map((x) => (typeof x === 'string' ? x : x.toString('base64url')))
      .join('.');
  }

  decrypt(sealed: string): string {
    const [v, iv, tag, data] = sealed.split('.');
    if (v !== 'v1' || !iv || !tag || data === undefined) throw new Error('not a sealed secret');
    const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([d.update(Buffer.from(data, 'base64url')), d.final()]).toString('utf8');
  }
}
