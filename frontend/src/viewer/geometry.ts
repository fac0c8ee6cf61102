/** Slice order and volume geometry from WADO-RS series metadata (DICOM JSON).
 * The viewer numbers slices superior first, like the platform's API; the
 * sagittal volume stacks them along the slice normal (a right-handed frame). */

import type { DecimationPlan } from "./decimation";

export type DicomJson = Record<string, { vr?: string; Value?: unknown[] } | undefined>;
export type Vec3 = [number, number, number];

export const TAG = {
  sopInstanceUid: "00080018",
  seriesDescription: "0008103E",
  frameOfReference: "00200052",
  imagePosition: "00200032",
  imageOrientation: "00200037",
  rows: "00280010",
  columns: "00280011",
  pixelSpacing: "00280030",
  rescaleIntercept: "00281052",
  rescaleSlope: "00281053",
} as const;

export interface Slice {
  sopInstanceUid: string;
  position: Vec3; // ImagePositionPatient, mm
  along: number; // position along the slice normal, mm
}

export interface SeriesGeometry {
  slices: Slice[]; // superior first
  rows: number;
  columns: number;
  rowCosines: Vec3; // direction of increasing column index
  columnCosines: Vec3; // direction of increasing row index
  normal: Vec3;
  pixelSpacing: [row: number, column: number];
  sliceSpacing: number; // median gap between neighbours, mm
  frameOfReferenceUid: string;
  rescale: { slope: number; intercept: number };
}

export function first(item: DicomJson, tag: string): unknown {
  return item[tag]?.Value?.[0];
}

function numbers(item: DicomJson, tag: string): number[] {
  return (item[tag]?.Value ?? []).map(Number);
}

export function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

export function dot(a: readonly number[], b: readonly number[]): number {
  return (a[0] ?? 0) * (b[0] ?? 0) + (a[1] ?? 0) * (b[1] ?? 0) + (a[2] ?? 0) * (b[2] ?? 0);
}

/** Sort the instances superior first. Throws on metadata a CT slice must have. */
export function seriesGeometry(instances: readonly DicomJson[]): SeriesGeometry {
  const head = instances[0];
  if (!head) throw new Error("The series has no instances.");
  const orientation = numbers(head, TAG.imageOrientation);
  if (orientation.length !== 6) throw new Error("The series has no image orientation.");
  const rowCosines = orientation.slice(0, 3) as Vec3;
  const columnCosines = orientation.slice(3, 6) as Vec3;
  const normal = cross(rowCosines, columnCosines);
  const slices = instances.map((item): Slice => {
    const position = numbers(item, TAG.imagePosition);
    if (position.length !== 3) throw new Error("An instance has no image position.");
    return { sopInstanceUid: String(first(item, TAG.sopInstanceUid)), position: position as Vec3, along: dot(position, normal) };
  });
  // Superior = +z in DICOM patient coordinates (LPS).
  const headward = normal[2] >= 0 ? -1 : 1;
  slices.sort((a, b) => headward * (a.along - b.along));
  const spacing = numbers(head, TAG.pixelSpacing);
  return {
    slices,
    rows: Number(first(head, TAG.rows)),
    columns: Number(first(head, TAG.columns)),
    rowCosines,
    columnCosines,
    normal,
    pixelSpacing: [spacing[0] ?? 1, spacing[1] ?? spacing[0] ?? 1],
    sliceSpacing: medianGap(slices.map((s) => s.along)),
    frameOfReferenceUid: String(first(head, TAG.frameOfReference) ?? ""),
    rescale: {
      slope: Number(first(head, TAG.rescaleSlope) ?? 1),
      intercept: Number(first(head, TAG.rescaleIntercept) ?? 0),
    },
  };
}

export function medianGap(values: readonly number[]): number {
  const gaps = values.slice(1).map((v, i) => Math.abs(v - values[i]!)).sort((a, b) => a - b);
  return gaps.length ? gaps[Math.floor(gaps.length / 2)]! || 1 : 1;
}

/** The volume's frames: series slice indices in the order of increasing
 * position along the normal, every `sliceStep`-th kept. */
export function volumeFrames(geometry: Pick<SeriesGeometry, "slices">, sliceStep: number): number[] {
  const n = geometry.slices.length;
  const ascending = n > 1 && geometry.slices[1]!.along > geometry.slices[0]!.along;
  const order = Array.from({ length: n }, (_, k) => (ascending ? k : n - 1 - k));
  return order.filter((_, k) => k % sliceStep === 0);
}

export interface VolumeGeometry {
  dimensions: Vec3;
  spacing: Vec3;
  origin: Vec3;
  direction: number[]; // 3×3, rows: row cosines, column cosines, normal
}

export function volumeGeometry(geometry: SeriesGeometry, plan: DecimationPlan, frames: readonly number[]): VolumeGeometry {
  const [rowSpacing, columnSpacing] = geometry.pixelSpacing;
  const firstSlice = geometry.slices[frames[0]!]!;
  // A decimated voxel averages a block; its centre lies half a block in.
  const shiftX = (columnSpacing * (plan.columnStep - 1)) / 2;
  const shiftY = (rowSpacing * (plan.rowStep - 1)) / 2;
  const origin = firstSlice.position.map(
    (p, i) => p + geometry.rowCosines[i]! * shiftX + geometry.columnCosines[i]! * shiftY,
  ) as Vec3;
  return {
    dimensions: [plan.columns, plan.rows, frames.length],
    spacing: [columnSpacing * plan.columnStep, rowSpacing * plan.rowStep, geometry.sliceSpacing * plan.sliceStep],
    origin,
    direction: [...geometry.rowCosines, ...geometry.columnCosines, ...geometry.normal],
  };
}

/** The series slice nearest to a position along the normal (superior-first index). */
export function nearestSlice(geometry: SeriesGeometry, along: number): number {
  let best = 0;
  let bestDistance = Infinity;
  geometry.slices.forEach((slice, i) => {
    const distance = Math.abs(slice.along - along);
    if (distance < bestDistance) {
      bestDistance = distance;
      best = i;
    }
  });
  return best;
}
