/** The coarse first pass, fetched by the page chunk as soon as the series'
 * slices are known, while the image chunk (cornerstone3D) still downloads and
 * compiles: the first sagittal image then waits for whichever is slower, not
 * for both in turn. Same slices as the sagittal volume's first pass, each
 * handed over once. */

import { fetchInstance } from "../api/dicomweb";
import { planDecimation } from "./decimation";
import { cross, volumeFrames, type SeriesGeometry, type Vec3 } from "./geometry";
import { progressivePasses } from "./loadOrder";
import { FIRST_PASS_SLICES, SAGITTAL_VOLUME_BYTES } from "./memoryBudget";
import type { KnownSlices } from "./quickMetadata";

/** Takes (and forgets) the prefetched Part-10 bytes of an instance, if any. */
export type TakePrefetched = (sopInstanceUid: string) => Promise<Uint8Array> | undefined;

/** SOP instance UIDs of the first pass, as loadSagittalVolume orders it. */
export function firstPassSops(geometry: Pick<SeriesGeometry, "slices" | "rows" | "columns">): string[] {
  const { rows, columns, slices } = geometry;
  const plan = planDecimation({ rows, columns, slices: slices.length }, SAGITTAL_VOLUME_BYTES);
  const frames = volumeFrames(geometry, plan.sliceStep);
  const [pass = []] = progressivePasses(frames.length, FIRST_PASS_SLICES);
  return pass.map((k) => slices[frames[k]!]!.sopInstanceUid);
}

/** What firstPassSops needs, from the page's slice list and the index's
 * series shape alone (before any metadata has arrived); null when the page
 * does not name the shape or the series is not axial. */
export function pageGeometry(known: KnownSlices): Pick<SeriesGeometry, "slices" | "rows" | "columns"> | null {
  if (!known.shape) return null;
  const { rows, columns, orientation } = known.shape;
  const normal = cross(orientation.slice(0, 3) as Vec3, orientation.slice(3, 6) as Vec3);
  if (Math.abs(normal[2]) < 0.999) return null;
  const slices = known.sopInstanceUids.map((sopInstanceUid, i) => {
    const z = known.positionsMm[i]!;
    return { sopInstanceUid, position: [0, 0, z] as Vec3, along: z * normal[2] };
  });
  return { slices, rows, columns };
}

/** Request every one of `sops` at once through the proxy: the browser queues
 * them on its six connections per host by itself, so no request waits for the
 * page's main thread, busy compiling the image chunk. At most the first pass
 * (FIRST_PASS_SLICES instances, ~8 MB for 512²) is held until taken. */
export function prefetchInstances(seriesRoot: string, sops: readonly string[], fetch = fetchInstance): TakePrefetched {
  const pending = new Map<string, Promise<Uint8Array>>();
  for (const sop of sops) {
    const bytes = fetch(seriesRoot, sop);
    bytes.catch(() => undefined); // a failure surfaces where the bytes are taken
    pending.set(sop, bytes);
  }
  return (sop) => {
    const bytes = pending.get(sop);
    pending.delete(sop);
    return bytes;
  };
}
