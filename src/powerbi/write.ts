// Writing generated files: a project is written into a staging folder first and then moved into place, so a failed
// run never leaves half a project; an existing project is replaced only when asked (--force).
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { moveFile, retryFs, writeFileAtomic } from '../core/fsx.js';

/** Write `files` (relative `/`-separated paths) below `outDir`; the top-level entries replace existing ones only with `force`. */
export async function writeTree(outDir: string, files: Map<string, string | Uint8Array>, force: boolean): Promise<string[]> {
  const tops = [...new Set([...files.keys()].map((p) => p.split('/')[0]))];
  const existing = tops.filter((t) => existsSync(path.join(outDir, t)));
  if (existing.length && !force) throw new UserError(`${path.join(outDir, existing[0])} exists: pass --force to replace the generated project`, 'exists');
  await fs.mkdir(outDir, { recursive: true });
  const staging = await fs.mkdtemp(path.join(outDir, '.medetl-powerbi-'));
  try {
    for (const [rel, data] of files) {
      const target = path.join(staging, ...rel.split('/'));
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.writeFile(target, data);
    }
    for (const t of existing) await retryFs(() => fs.rm(path.join(outDir, t), { recursive: true, force: true }));
    for (const t of tops) await moveFile(path.join(staging, t), path.join(outDir, t));
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
  return tops.map((t) => path.join(outDir, t));
}

/** Write one file in place atomically (the .mez: Power BI Desktop may hold the old one open). */
export async function writeOne(file: string, data: Uint8Array, force: boolean): Promise<void> {
  if (existsSync(file) && !force) throw new UserError(`${file} exists: pass --force to replace it`, 'exists');
  await writeFileAtomic(file, data);
}
