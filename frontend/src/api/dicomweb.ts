/** The series through the platform's DICOMweb proxy, the only path to images:
 * its metadata, and its pixels as one stream (single frames are fetched by
 * cornerstone's DICOM image loader with the image ids named here). */

import type { DicomJson } from "../viewer/geometry";
import { boundaryOf, MultipartReader } from "../viewer/multipart";
import { getJson } from "./http";

export function seriesRoot(dicomwebRoot: string, studyUid: string, seriesUid: string): string {
  return `${dicomwebRoot}/studies/${studyUid}/series/${seriesUid}`;
}

export function fetchSeriesMetadata(root: string): Promise<DicomJson[]> {
  return getJson<DicomJson[]>(`${root}/metadata`, "application/dicom+json");
}

/** cornerstone's WADO-RS image id of the (single) frame of an instance. */
export function frameImageId(root: string, sopInstanceUid: string): string {
  return `wadors:${root}/instances/${sopInstanceUid}/frames/1`;
}

/** Explicit VR little endian: Orthanc transcodes compressed instances to it,
 * so the browser can read every slice of the stream without codecs. */
const STREAM_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1';

/** Stream the whole series (WADO-RS retrieve) and hand each instance's
 * Part-10 bytes to `onPart` as soon as it has arrived; nothing else is kept. */
export async function streamSeries(root: string, onPart: (file: Uint8Array) => void, signal?: AbortSignal): Promise<void> {
  const response = await fetch(root, { credentials: "same-origin", headers: { Accept: STREAM_ACCEPT }, signal });
  const boundary = boundaryOf(response.headers.get("Content-Type") ?? "");
  if (!response.ok || !response.body || !boundary) {
    await response.body?.cancel();
    throw new Error(`series retrieve answered HTTP ${response.status}`);
  }
  const parts = new MultipartReader(boundary, onPart);
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    parts.push(value);
  }
}

/** One instance as explicit VR little endian Part-10 bytes (WADO-RS retrieve). */
export async function fetchInstance(root: string, sopInstanceUid: string, signal?: AbortSignal): Promise<Uint8Array> {
  const response = await fetch(`${root}/instances/${sopInstanceUid}`, {
    credentials: "same-origin",
    headers: { Accept: STREAM_ACCEPT },
    signal,
  });
  const boundary = boundaryOf(response.headers.get("Content-Type") ?? "");
  if (!response.ok || !boundary) throw new Error(`instance retrieve answered HTTP ${response.status}`);
  const parts: Uint8Array[] = [];
  new MultipartReader(boundary, (part) => parts.push(part)).push(new Uint8Array(await response.arrayBuffer()));
  if (!parts[0]) throw new Error("instance retrieve returned no part");
  return parts[0];
}

/** WADO-RS metadata of one instance (milliseconds, where the series' takes seconds). */
export async function fetchInstanceMetadata(root: string, sopInstanceUid: string): Promise<DicomJson> {
  const [item] = await getJson<DicomJson[]>(`${root}/instances/${sopInstanceUid}/metadata`, "application/dicom+json");
  if (!item) throw new Error("instance metadata is empty");
  return item;
}
