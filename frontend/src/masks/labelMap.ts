/** Tissue label maps of the body-composition masks: one uint8 per pixel in the
 * slice's stored grid (row-major; 0 background, 1 muscle, 2 IMAT, 3 SAT,
 * 4 VAT), sent as zlib + base64 (the worker's `codec` encoding). Pure: the
 * brush, the eraser, colouring and the codec, tested with vitest. */

export const TISSUES = [
  { value: 1, key: "muscle", name: "Skeletal muscle", rgb: [230, 40, 40] },
  { value: 2, key: "imat", name: "Intermuscular fat (IMAT)", rgb: [255, 220, 0] },
  { value: 3, key: "sat", name: "Subcutaneous fat (SAT)", rgb: [40, 200, 255] },
  { value: 4, key: "vat", name: "Visceral fat (VAT)", rgb: [60, 220, 90] },
] as const;
export const MAX_LABEL = 4;

export interface LabelMap {
  rows: number;
  columns: number;
  data: Uint8Array;
}

export interface EncodedMask {
  sop_instance_uid: string;
  shape: [number, number];
  data: string;
}

export function emptyMap(rows: number, columns: number): LabelMap {
  return { rows, columns, data: new Uint8Array(rows * columns) };
}

export function cloneMap(map: LabelMap): LabelMap {
  return { rows: map.rows, columns: map.columns, data: map.data.slice() };
}

/** Set every pixel whose centre lies within `radius` pixels of (row, column)
 * to `value` (0 erases). Returns how many pixels changed. */
export function paintDisc(map: LabelMap, row: number, column: number, radius: number, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_LABEL) throw new RangeError(`label ${value} is not 0..${MAX_LABEL}`);
  const r = Math.max(0, radius);
  let changed = 0;
  const top = Math.max(0, Math.ceil(row - r));
  const bottom = Math.min(map.rows - 1, Math.floor(row + r));
  for (let y = top; y <= bottom; y++) {
    const half = Math.sqrt(Math.max(0, r * r - (y - row) ** 2));
    const left = Math.max(0, Math.ceil(column - half));
    const right = Math.min(map.columns - 1, Math.floor(column + half));
    for (let x = left; x <= right; x++) {
      const i = y * map.columns + x;
      if (map.data[i] !== value) {
        map.data[i] = value;
        changed++;
      }
    }
  }
  return changed;
}

/** A stroke from one pointer position to the next: discs every half radius,
 * so fast moves leave no gaps. */
export function paintStroke(
  map: LabelMap,
  from: [row: number, column: number],
  to: [row: number, column: number],
  radius: number,
  value: number,
): number {
  const length = Math.hypot(to[0] - from[0], to[1] - from[1]);
  const steps = Math.max(1, Math.ceil(length / Math.max(0.5, radius / 2)));
  let changed = 0;
  for (let s = 0; s <= steps; s++) {
    const t = s / steps;
    changed += paintDisc(map, from[0] + (to[0] - from[0]) * t, from[1] + (to[1] - from[1]) * t, radius, value);
  }
  return changed;
}

/** Pixels per label (index = label). */
export function labelCounts(map: LabelMap): number[] {
  const counts = new Array<number>(MAX_LABEL + 1).fill(0);
  for (const v of map.data) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}

/** RGBA pixels of the map: tissues in their colours, background transparent. */
export function colourise(map: LabelMap, out: Uint8ClampedArray = new Uint8ClampedArray(map.data.length * 4)): Uint8ClampedArray {
  const lut = new Uint8ClampedArray((MAX_LABEL + 1) * 4);
  for (const t of TISSUES) lut.set([...t.rgb, 255], t.value * 4);
  for (let i = 0; i < map.data.length; i++) {
    const at = (map.data[i]! <= MAX_LABEL ? map.data[i]! : 0) * 4;
    out[i * 4] = lut[at]!;
    out[i * 4 + 1] = lut[at + 1]!;
    out[i * 4 + 2] = lut[at + 2]!;
    out[i * 4 + 3] = lut[at + 3]!;
  }
  return out;
}

async function through(bytes: Uint8Array, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const body = new Blob([bytes as BlobPart]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(body).arrayBuffer());
}

export function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

export function fromBase64(text: string): Uint8Array {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

/** "deflate" streams are zlib-wrapped (RFC 1950), as Python's zlib writes them. */
export async function decodeMask(mask: EncodedMask): Promise<LabelMap> {
  const [rows, columns] = mask.shape;
  const data = await through(fromBase64(mask.data), new DecompressionStream("deflate"));
  if (data.length !== rows * columns) throw new Error(`mask of ${mask.sop_instance_uid} does not match its shape`);
  return { rows, columns, data };
}

export async function encodeMask(sopInstanceUid: string, map: LabelMap): Promise<EncodedMask> {
  const data = await through(map.data, new CompressionStream("deflate"));
  return { sop_instance_uid: sopInstanceUid, shape: [map.rows, map.columns], data: toBase64(data) };
}
