// The shared raw-file folder's marker: `.medetl-shared`, written by the publisher. A worker that cannot see it is
// looking at an unmounted or unreachable share (an empty mount point looks like a folder of missing files): it
// stops taking work until the marker is back, instead of terminating every message as file_missing.
import { promises as fs } from 'node:fs';
import path from 'node:path';

export const SHARED_MARKER = '.medetl-shared';

/** Create the folder and its marker when missing (the publisher, before it moves files in). */
export async function markSharedDir(dir: string): Promise<void> {
  const marker = path.join(dir, SHARED_MARKER);
  try {
    await fs.access(marker);
    return;
  } catch {
    // not there yet
  }
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(marker, 'medetl shared raw-file folder: workers take work only while they can see this file\n', { flag: 'a' });
}

/** Whether this machine sees the shared folder (its marker). */
export async function sharedDirVisible(dir: string): Promise<boolean> {
  try {
    await fs.access(path.join(dir, SHARED_MARKER));
    return true;
  } catch {
    return false;
  }
}
