/**
 * Embedded mode's file transport (`jobhub run`: no HTTP server): the local agents read inputs and
 * workspaces from the blob store and store outputs into it directly, through the FileService, as
 * the server's routes would (same limits, same tree). Tokens are not needed in one process.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { FileTransport, UploadMeta } from '../agent/file-transport.js';
import type { FileService } from './file-service.js';

export class LocalFileTransport implements FileTransport {
  constructor(private readonly files: FileService) {}

  async openFile(jobId: number, _token: string, name: string): Promise<Readable> {
    return (await this.files.open(jobId, name)).stream;
  }

  async openWorkspace(jobId: number): Promise<Readable> {
    return (await this.files.openJobWorkspace(jobId)).stream;
  }

  async upload(jobId: number, _token: string, meta: UploadMeta, file: string, size: number): Promise<void> {
    await this.files.addOutput(jobId, meta, createReadStream(file), { size });
  }
}
