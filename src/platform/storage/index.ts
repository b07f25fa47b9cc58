import { LocalDiskStorage } from './local-disk.js';
import type { LocalDiskStorageOptions } from './local-disk.js';
import type { ObjectStorage } from './port.js';
import { S3Storage } from './s3.js';
import type { S3StorageOptions } from './s3.js';

export * from './port.js';
export { LocalDiskStorage } from './local-disk.js';
export type { LocalDiskStorageOptions } from './local-disk.js';
export { S3Storage } from './s3.js';
export type { S3StorageOptions } from './s3.js';

/** Matches `Config['storage']`: local disk unless S3 is configured. */
export type ObjectStorageConfig =
  ({ kind: 'local' } & LocalDiskStorageOptions) | ({ kind: 's3' } & S3StorageOptions);

export function createObjectStorage(config: ObjectStorageConfig): ObjectStorage {
  return config.kind === 's3' ? new S3Storage(config) : new LocalDiskStorage(config);
}
