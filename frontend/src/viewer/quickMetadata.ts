/** Series metadata without waiting for the image store's series metadata
 * (seconds for a long series: it reads every file): when the platform already
 * knows the slices (a classification result gives each slice's SOP instance
 * UID and position, superior first), one instance's metadata is cloned per
 * slice with its own UID and position. The full metadata replaces it once it
 * has arrived in the background. Only for axial series, where a slice's
 * position differs from the template's in z alone. */

import { cross, TAG, type DicomJson, type Vec3 } from "./geometry";

export interface KnownSlices {
  sopInstanceUids: readonly string[];
  positionsMm: readonly number[]; // patient z, superior first
  /** From the platform's index, when the page names it. */
  shape?: { rows: number; columns: number; orientation: readonly number[] } | undefined;
}

export function knownSlices(labels: { slice_count: number; slice_sop_instance_uids: string[]; slice_positions_mm: number[] } | null): KnownSlices | null {
  if (!labels) return null;
  const { slice_count: count, slice_sop_instance_uids: sops, slice_positions_mm: positions } = labels;
  if (count < 2 || sops.length !== count || positions.length !== count) return null;
  return { sopInstanceUids: sops, positionsMm: positions };
}

/** The page's data-known-slices ({"sops": [...], "positions": [...]}, from
 * the classification result), or null when absent or malformed. */
export function pageKnownSlices(json: string | undefined): KnownSlices | null {
  if (!json) return null;
  try {
    const { sops, positions, rows, columns, orientation } = JSON.parse(json) as Record<string, unknown>;
    if (!Array.isArray(sops) || !Array.isArray(positions)) return null;
    if (!sops.every((s) => typeof s === "string") || !positions.every((z) => typeof z === "number")) return null;
    const known = knownSlices({ slice_count: sops.length, slice_sop_instance_uids: sops as string[], slice_positions_mm: positions as number[] });
    const isShape = typeof rows === "number" && typeof columns === "number" && Array.isArray(orientation) && orientation.length === 6;
    if (known && isShape && orientation.every((v) => typeof v === "number")) known.shape = { rows, columns, orientation: orientation as number[] };
    return known;
  } catch {
    return null;
  }
}

export function synthesiseMetadata(template: DicomJson, known: KnownSlices): DicomJson[] | null {
  const orientation = (template[TAG.imageOrientation]?.Value ?? []).map(Number);
  const position = (template[TAG.imagePosition]?.Value ?? []).map(Number);
  if (orientation.length !== 6 || position.length !== 3) return null;
  const normal = cross(orientation.slice(0, 3) as Vec3, orientation.slice(3, 6) as Vec3);
  if (Math.abs(normal[2]) < 0.999) return null; // not axial: positions would need more than z
  return known.sopInstanceUids.map((sop, i) => ({
    ...template,
    [TAG.sopInstanceUid]: { vr: "UI", Value: [sop] },
    [TAG.imagePosition]: { vr: "DS", Value: [position[0], position[1], known.positionsMm[i]] },
    "00200013": { vr: "IS", Value: [i + 1] },
  }));
}
