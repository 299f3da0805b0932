/** Files the tool writes: atomically, with explicit modes, temp files swept after a kill, advisory locks. */
export { writeFileAtomic, type AtomicWriteOptions } from './atomic-write.js';
export { acquireFileLock, withFileLock, LockedError, type Lock, type LockInfo, type FileLockOptions } from './file-lock.js';
export { ensureDir, appendToFile, assertNotWorldWritable, DIR_MODE } from './dirs.js';
export { processAlive, secretTempDir, sweepStaleTemps, tempPath, withSecretTempDir, type SecretTempDirOptions } from './temp-files.js';
