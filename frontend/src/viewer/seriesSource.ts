/** The series as the viewer needs it: WADO-RS metadata fetched once through
 * the proxy, registered with the DICOM image loader per frame, slices sorted
 * superior first with one image id each. */

import { wadors } from "@cornerstonejs/dicom-image-loader";
import { frameImageId } from "../api/dicomweb";
import type { TakePrefetched } from "./firstPass";
import { first, seriesGeometry, TAG, type DicomJson, type SeriesGeometry } from "./geometry";

export interface SeriesSource {
  geometry: SeriesGeometry;
  imageIds: string[]; // superior first
  seriesUrl: string; // the WADO-RS series resource behind the proxy
  description: string;
  takePrefetched?: TakePrefetched | undefined; // the first pass, requested early
}

/** `metadata`: the series' WADO-RS metadata, fetched by the page while this
 * code was still loading. */
export function openSeries(root: string, metadata: readonly DicomJson[]): SeriesSource {
  const instances = metadata.filter((item) => item[TAG.imagePosition]);
  const geometry = seriesGeometry(instances);
  const bySop = new Map(instances.map((item) => [String(first(item, TAG.sopInstanceUid)), item]));
  const imageIds = geometry.slices.map((slice) => {
    const imageId = frameImageId(root, slice.sopInstanceUid);
    wadors.metaDataManager.add(imageId, bySop.get(slice.sopInstanceUid) as unknown as Parameters<typeof wadors.metaDataManager.add>[1]);
    return imageId;
  });
  const head: DicomJson = instances[0] ?? {};
  return { geometry, imageIds, seriesUrl: root, description: String(first(head, TAG.seriesDescription) ?? "") };
}

/** Register (or replace) each instance's metadata with the DICOM image loader. */
export function registerMetadata(root: string, instances: readonly DicomJson[]): void {
  for (const item of instances) {
    const sop = first(item, TAG.sopInstanceUid);
    if (typeof sop !== "string") continue;
    wadors.metaDataManager.add(frameImageId(root, sop), item as unknown as Parameters<typeof wadors.metaDataManager.add>[1]);
  }
}
