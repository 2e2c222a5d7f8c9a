// The connector's icon at any size: a teal rounded square with a white pulse line, drawn with 4x4 supersampling.
import { encodePng } from './png.js';

const TEAL = [0x0f, 0x76, 0x6e];
/** The pulse line on a 0..1 square: flat, a spike up, a dip, flat. */
const PULSE: [number, number][] = [
  [0.14, 0.55],
  [0.38, 0.55],
  [0.47, 0.25],
  [0.57, 0.75],
  [0.64, 0.55],
  [0.86, 0.55],
];

function distToSegment(px: number, py: number, [ax, ay]: [number, number], [bx, by]: [number, number]): number {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

function inRoundedSquare(x: number, y: number, r: number): boolean {
  const cx = Math.min(Math.max(x, r), 1 - r);
  const cy = Math.min(Math.max(y, r), 1 - r);
  return Math.hypot(x - cx, y - cy) <= r;
}

export function iconPng(size: number): Uint8Array {
  const rgba = new Uint8Array(size * size * 4);
  const half = Math.max(0.045, 1.2 / size); // half the line width, at least ~1 px
  const S = 4;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      let bg = 0;
      let line = 0;
      for (let sy = 0; sy < S; sy++)
        for (let sx = 0; sx < S; sx++) {
          const u = (x + (sx + 0.5) / S) / size;
          const v = (y + (sy + 0.5) / S) / size;
          if (!inRoundedSquare(u, v, 0.18)) continue;
          bg++;
          if (PULSE.slice(1).some((p, i) => distToSegment(u, v, PULSE[i], p) <= half)) line++;
        }
      const o = (y * size + x) * 4;
      const a = bg / (S * S);
      const w = bg ? line / bg : 0;
      for (let k = 0; k < 3; k++) rgba[o + k] = Math.round(TEAL[k] * (1 - w) + 255 * w);
      rgba[o + 3] = Math.round(a * 255);
    }
  return encodePng(size, size, rgba);
}
