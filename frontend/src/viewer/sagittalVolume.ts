/** The sagittal volume: a cornerstone local volume whose float32 voxels are
 * block-averaged in-plane from each slice (the decimation plan bounds their
 * size whatever the series length). Loading is progressive:
 *
 * 1. a coarse first pass of evenly spread slices, fetched one instance at a
 *    time through the DICOMweb proxy, most requested early by the page
 *    (viewer/firstPass.ts), falling back to cornerstone's DICOM image loader
 *    per frame; the gaps show their nearest loaded neighbour,
 *    and the first sagittal image is drawn;
 * 2. then every slice from one WADO-RS series retrieve read as a stream
 *    (top to bottom): each instance is decimated as it arrives and dropped,
 *    so memory stays bounded however long the series;
 * 3. whatever the stream did not deliver (an error, a transfer syntax the
 *    store cannot transcode) slice by slice again, coarse to fine. */

import { imageLoader, volumeLoader, type Types } from "@cornerstonejs/core";
import { fetchInstance, streamSeries } from "../api/dicomweb";
import { downsampleInto, planDecimation, type DecimationPlan } from "./decimation";
import type { TakePrefetched } from "./firstPass";
import { volumeFrames, volumeGeometry, type SeriesGeometry } from "./geometry";
import { nearestLoaded, progressivePasses, runLimited } from "./loadOrder";
import { FIRST_PASS_SLICES, FRAMES_IN_FLIGHT, SAGITTAL_VOLUME_BYTES } from "./memoryBudget";
import { slicePixels } from "./part10";

export interface SagittalVolumeEvents {
  /** Some slices changed: render soon. */
  onUpdate(): void;
  onProgress(loaded: number, total: number): void;
}

export interface SagittalVolume {
  volumeId: string;
  plan: DecimationPlan;
  frames: number[]; // volume slice k -> series slice index (superior first)
  data: Float32Array;
  firstPass: Promise<void>; // every slice shows something
  complete: Promise<void>; // every slice shows its own data
  cancel(): void;
}

export interface SeriesInput {
  geometry: SeriesGeometry;
  imageIds: readonly string[]; // superior first, like geometry.slices
  seriesUrl: string; // WADO-RS series resource, for the stream
  takePrefetched?: TakePrefetched | undefined; // first-pass instances requested early
}

const AIR_HU = -1024;

export function loadSagittalVolume(volumeId: string, input: SeriesInput, events: SagittalVolumeEvents): SagittalVolume {
  const { geometry, imageIds } = input;
  const plan = planDecimation(
    { rows: geometry.rows, columns: geometry.columns, slices: geometry.slices.length },
    SAGITTAL_VOLUME_BYTES,
  );
  const frames = volumeFrames(geometry, plan.sliceStep);
  const layout = volumeGeometry(geometry, plan, frames);
  const sliceLength = plan.rows * plan.columns;
  const data = new Float32Array(sliceLength * frames.length).fill(AIR_HU);
  const volume = volumeLoader.createLocalVolume(volumeId, {
    metadata: volumeMetadata(geometry, plan),
    dimensions: layout.dimensions as Types.Point3,
    spacing: layout.spacing as Types.Point3,
    origin: layout.origin as Types.Point3,
    direction: layout.direction as Types.Mat3,
    scalarData: data,
  });
  const texture = (volume as unknown as { vtkOpenGLTexture: { setUpdatedFrame(k: number): void } }).vtkOpenGLTexture;
  const frameOfSop = new Map(frames.map((slice, k) => [geometry.slices[slice]!.sopInstanceUid, k]));
  const loaded = new Uint8Array(frames.length);
  const abort = new AbortController();
  let loadedCount = 0;

  const store = (k: number, pixels: ArrayLike<number>, rows: number, columns: number, slope = 1, intercept = 0): void => {
    if (loaded[k] || abort.signal.aborted) return;
    const dest = data.subarray(k * sliceLength, (k + 1) * sliceLength);
    downsampleInto(pixels, rows, columns, plan.rowStep, plan.columnStep, dest, slope, intercept);
    loaded[k] = 1;
    loadedCount++;
    texture.setUpdatedFrame(k);
    events.onProgress(loadedCount, frames.length);
    events.onUpdate();
  };

  /** One slice on its own: the instance read here (no decoder to start), or
   * when that fails (a syntax the store cannot transcode) its frame decoded
   * by cornerstone's DICOM image loader. */
  const loadFrame = async (k: number): Promise<void> => {
    if (loaded[k] || abort.signal.aborted) return;
    const slice = geometry.slices[frames[k]!]!;
    try {
      const early = input.takePrefetched?.(slice.sopInstanceUid);
      const file = await (early ?? fetchInstance(input.seriesUrl, slice.sopInstanceUid, abort.signal));
      const pixels = slicePixels(file);
      store(k, pixels.stored, pixels.rows, pixels.columns, pixels.slope, pixels.intercept);
    } catch {
      if (abort.signal.aborted) return;
      const image = await imageLoader.loadImage(imageIds[frames[k]!]!, decodeOptions(geometry));
      store(k, hounsfield(image), image.rows, image.columns);
    }
  };

  const fillGaps = (): void => {
    const source = nearestLoaded(loaded);
    for (let k = 0; k < frames.length; k++) {
      const from = source[k]!;
      if (loaded[k] || from < 0) continue;
      data.copyWithin(k * sliceLength, from * sliceLength, (from + 1) * sliceLength);
      texture.setUpdatedFrame(k);
    }
    events.onUpdate();
  };

  const streamRest = async (): Promise<void> => {
    try {
      await streamSeries(
        input.seriesUrl,
        (file) => {
          const slice = slicePixels(file);
          const k = frameOfSop.get(slice.sopInstanceUid);
          if (k !== undefined) store(k, slice.stored, slice.rows, slice.columns, slice.slope, slice.intercept);
        },
        abort.signal,
      );
    } catch (error) {
      if (!abort.signal.aborted) console.warn("series stream incomplete; fetching frames instead", error);
    }
  };

  const [first, ...refinements] = progressivePasses(frames.length, FIRST_PASS_SLICES);
  let firstPassDone: () => void = () => undefined;
  const firstPass = new Promise<void>((resolve) => (firstPassDone = resolve));
  const complete = (async () => {
    try {
      // The stream starts once the first pass is in: on a loaded machine it
      // would compete with the first pass for the server's and the page's CPU.
      await runLimited(first ?? [], FRAMES_IN_FLIGHT, loadFrame);
      fillGaps();
      firstPassDone();
      await streamRest();
      for (const pass of refinements) {
        if (loadedCount >= frames.length || abort.signal.aborted) break;
        await runLimited(pass, FRAMES_IN_FLIGHT, loadFrame);
        fillGaps();
      }
    } finally {
      firstPassDone();
    }
  })();
  return { volumeId, plan, frames, data, firstPass, complete, cancel: () => abort.abort() };
}

/** Full-resolution decode, modality LUT applied by the loader where it can. */
function decodeOptions(geometry: SeriesGeometry): Parameters<typeof imageLoader.loadImage>[1] {
  const options = {
    priority: 0,
    requestType: "prefetch",
    preScale: {
      enabled: true,
      scalingParameters: { rescaleSlope: geometry.rescale.slope, rescaleIntercept: geometry.rescale.intercept, modality: "CT" },
    },
  };
  return options as unknown as Parameters<typeof imageLoader.loadImage>[1];
}

/** The image's pixels in HU: as decoded when the loader pre-scaled them,
 * else with the image's own slope and intercept. */
function hounsfield(image: Types.IImage): ArrayLike<number> {
  const pixels = image.getPixelData() as ArrayLike<number>;
  const scaled = (image as unknown as { preScale?: { scaled?: boolean } }).preScale?.scaled;
  if (scaled || (image.slope === 1 && image.intercept === 0)) return pixels;
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = pixels[i]! * image.slope + image.intercept;
  return out;
}

function volumeMetadata(geometry: SeriesGeometry, plan: DecimationPlan): Types.Metadata {
  const [rowSpacing, columnSpacing] = geometry.pixelSpacing;
  return {
    BitsAllocated: 16,
    BitsStored: 16,
    SamplesPerPixel: 1,
    HighBit: 15,
    PhotometricInterpretation: "MONOCHROME2",
    PixelRepresentation: 1,
    Modality: "CT",
    ImageOrientationPatient: [...geometry.rowCosines, ...geometry.columnCosines],
    PixelSpacing: [rowSpacing * plan.rowStep, columnSpacing * plan.columnStep],
    FrameOfReferenceUID: geometry.frameOfReferenceUid,
    Columns: plan.columns,
    Rows: plan.rows,
    voiLut: [{ windowCenter: 40, windowWidth: 400 }],
    VOILUTFunction: "LINEAR",
  } as Types.Metadata;
}
