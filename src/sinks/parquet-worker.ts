// The Parquet encoder thread (see openPart in parquet.ts): row groups in, an fsynced file out.
import { parentPort } from 'node:worker_threads';
import { PartEncoder, type EncoderMessage } from './parquet.js';

const open = new Map<number, PartEncoder>();

parentPort?.on('message', (m: EncoderMessage) => {
  const reply = (error?: unknown) => parentPort?.postMessage({ id: m.id, ...(error ? { error: (error as Error).message } : {}) });
  try {
    if (m.type === 'open') {
      open.set(m.id, new PartEncoder(m.file, m.compression));
      return;
    }
    const enc = open.get(m.id);
    if (!enc) return reply(new Error(`no open part ${m.id}`));
    if (m.type === 'rows') enc.push(m.columns);
    else if (m.type === 'finish') {
      open.delete(m.id);
      enc.finish().then(() => reply(), reply);
    } else {
      open.delete(m.id);
      enc.abort().then(() => reply(), reply);
    }
  } catch (err) {
    open.get(m.id)?.abort();
    open.delete(m.id);
    reply(err);
  }
});
