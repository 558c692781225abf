/**
 * Where file contents live: content-addressed blobs (by SHA-256), streamed in and out, never held in
 * memory whole. A blob appears only once it is complete and verified: a cut-off or refused upload
 * leaves nothing. Metadata (which job, which path) is the store's; the blob store knows only bytes.
 *
 * The file-system store (fs-blob-store.ts) is the default; an S3-compatible store can implement the
 * same interface later (put = multipart upload then copy to the key of its hash).
 */
import type { Readable } from 'node:stream';

export interface BlobInfo {
  /** Hex SHA-256 of the content. */
  sha256: string;
  size: number;
}

export interface PutOptions {
  /** More bytes than this: refused (`too_large`), nothing kept. */
  maxBytes?: number;
  /** The size announced (Content-Length): another count is refused, nothing kept. */
  expectedSize?: number;
  /** The hash announced: another hash is refused, nothing kept. */
  expectedSha256?: string;
  /** Says what is too large in the error (`file "a.csv"`). */
  what?: string;
}

export interface BlobStore {
  /** Streams `source` into a new blob; resolves once it is stored durably under its hash. */
  put(source: Readable | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<BlobInfo>;
  /** The blob's size, or undefined when there is no such blob. */
  stat(sha256: string): Promise<number | undefined>;
  /** The blob's content as a stream; throws not_found when there is none. */
  open(sha256: string): Promise<Readable>;
  /** Removes the blob (nothing when there is none). */
  delete(sha256: string): Promise<void>;
  /** The blob's file, for stores on this machine (archives need random access); else undefined. */
  localPath(sha256: string): string | undefined;
  /** Every blob's hash (for maintenance and tests). */
  list(): AsyncIterable<string>;
}

const HEX64 = /^[0-9a-f]{64}$/;

export function isSha256(text: string): boolean {
  return HEX64.test(text);
}
