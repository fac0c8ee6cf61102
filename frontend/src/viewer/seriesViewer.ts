/** The synchronised pair of views: the axial slice (full resolution, stack
 * viewport with a capped cache) and the sagittal reformat (decimated volume,
 * progressive). Scrolling either view updates the other's reference line;
 * state changes go out as typed events. */

import { Enums, type Types } from "@cornerstonejs/core";
import { Emitter } from "../ui/emitter";
import { dot, nearestSlice, type Vec3 } from "./geometry";
import { loadSagittalVolume, type SagittalVolume } from "./sagittalVolume";
import type { SeriesSource } from "./seriesSource";
import { spineColumn } from "./spineColumn";
import { createViewports, type Viewports } from "./viewports";
import { voiRange, WINDOW_PRESETS, type WindowPreset } from "./windowPresets";

const REFINE_RENDER_MS = 400;

export interface ViewerEvents extends Record<string, unknown> {
  slice: number; // the axial slice changed (superior-first index)
  view: null; // a camera moved or an image was drawn: overlays redraw
  progress: { loaded: number; total: number };
  firstSagittal: number; // ms since navigation start
}

export class SeriesViewer extends Emitter<ViewerEvents> {
  private views: Viewports | null = null;
  private volume: SagittalVolume | null = null;
  private currentSlice = 0;
  private renderQueued = false;
  private firstShown = false;
  private readonly removers: (() => void)[] = [];
  preset: WindowPreset = WINDOW_PRESETS[0]!;

  constructor(
    readonly source: SeriesSource,
    private readonly sagittalElement: HTMLDivElement,
    private readonly axialElement: HTMLDivElement,
  ) {
    super();
  }

  get slice(): number {
    return this.currentSlice;
  }

  get sliceCount(): number {
    return this.source.imageIds.length;
  }

  get viewports(): Viewports {
    if (!this.views) throw new Error("viewer not started");
    return this.views;
  }

  /** `initialSlice` may still be on its way (the labels name the level to
   * open at): the sagittal volume starts loading at once regardless. */
  async start(initialSlice: number | Promise<number>): Promise<void> {
    const views = (this.views = createViewports(this.sagittalElement, this.axialElement));
    this.listen(this.axialElement, Enums.Events.STACK_NEW_IMAGE, (event) => {
      const index = (event as CustomEvent<{ imageIdIndex: number }>).detail.imageIdIndex;
      this.currentSlice = index;
      this.emit("slice", index);
      this.emit("view", null);
    });
    for (const element of [this.sagittalElement, this.axialElement]) {
      this.listen(element, Enums.Events.CAMERA_MODIFIED, () => this.emit("view", null));
      this.listen(element, Enums.Events.IMAGE_RENDERED, () => this.emit("view", null));
    }
    this.listen(this.sagittalElement, "dblclick", (event) => this.jumpToSagittalPoint(event as MouseEvent));
    const sliceKnown = Promise.resolve(initialSlice).then((slice) => {
      this.currentSlice = clamp(slice, 0, this.sliceCount - 1);
    });
    const axialReady = sliceKnown.then(async () => {
      await views.axial.setStack(this.source.imageIds, this.currentSlice);
      views.axial.setProperties({ voiRange: voiRange(this.preset) });
      views.axial.render();
    });
    const volume = (this.volume = loadSagittalVolume(`sagittal-${crypto.randomUUID()}`, this.source, {
      onUpdate: () => this.scheduleRender(),
      onProgress: (loaded, total) => this.emit("progress", { loaded, total }),
    }));
    performance.mark("viewer:viewports");
    await views.sagittal.setVolumes([{ volumeId: volume.volumeId }]);
    performance.mark("viewer:volume");
    views.sagittal.setProperties({ voiRange: voiRange(this.preset) });
    await volume.firstPass;
    performance.mark("viewer:firstPass");
    await sliceKnown;
    this.centreOnSpine();
    this.firstShown = true;
    views.sagittal.render();
    this.emit("firstSagittal", performance.now());
    this.emit("slice", this.currentSlice);
    await axialReady;
  }

  /** Resolves when every slice of the sagittal volume holds its own frame. */
  get complete(): Promise<void> {
    return this.volume?.complete ?? Promise.resolve();
  }

  setSlice(index: number): void {
    const target = clamp(Math.round(index), 0, this.sliceCount - 1);
    if (target === this.currentSlice) return;
    void this.viewports.axial.setImageIdIndex(target);
  }

  /** Move the sagittal plane by whole voxels of the volume (left-right). */
  moveSagittal(steps: number): void {
    const viewport = this.viewports.sagittal;
    const camera = viewport.getCamera();
    const normal = camera.viewPlaneNormal as Vec3;
    const spacing = this.volumeSpacing()[0];
    const shift = normal.map((n) => n * spacing * steps) as Vec3;
    viewport.setCamera({
      focalPoint: add(camera.focalPoint as Vec3, shift) as Types.Point3,
      position: add(camera.position as Vec3, shift) as Types.Point3,
    });
    viewport.render();
  }

  setWindow(preset: WindowPreset): void {
    this.preset = preset;
    for (const viewport of [this.viewports.sagittal, this.viewports.axial]) {
      viewport.setProperties({ voiRange: voiRange(preset) });
      viewport.render();
    }
  }

  /** Canvas y on the sagittal view of a fractional slice coordinate. */
  sliceToSagittalY(slice: number): number {
    const point = this.slicePoint(slice);
    return this.viewports.sagittal.worldToCanvas(point as Types.Point3)[1];
  }

  /** Canvas x on the axial view of the sagittal plane. */
  sagittalPlaneOnAxialX(): number {
    const focal = this.viewports.sagittal.getCamera().focalPoint as Vec3;
    const point = this.slicePoint(this.currentSlice);
    const onPlane: Vec3 = [focal[0], point[1], point[2]];
    return this.viewports.axial.worldToCanvas(onPlane as Types.Point3)[0];
  }

  destroy(): void {
    this.volume?.cancel();
    this.removers.splice(0).forEach((remove) => remove());
    this.views?.destroy();
  }

  private slicePoint(slice: number): Vec3 {
    const slices = this.source.geometry.slices;
    const last = slices.length - 1;
    const a = slices[0]!.position;
    const b = slices[last]!.position;
    const t = last > 0 ? slice / last : 0;
    return [0, 1, 2].map((i) => a[i]! + (b[i]! - a[i]!) * t) as Vec3;
  }

  private volumeSpacing(): Vec3 {
    const { geometry } = this.source;
    const plan = this.volume!.plan;
    return [geometry.pixelSpacing[1] * plan.columnStep, geometry.pixelSpacing[0] * plan.rowStep, geometry.sliceSpacing * plan.sliceStep];
  }

  /** Put the sagittal plane through the spine once the first pass is in. */
  private centreOnSpine(): void {
    const volume = this.volume!;
    const column = spineColumn(volume.data, [volume.plan.columns, volume.plan.rows, volume.frames.length]);
    const middle = (volume.plan.columns - 1) / 2;
    const camera = this.viewports.sagittal.getCamera();
    const focal = camera.focalPoint as Vec3;
    const { rowCosines } = this.source.geometry;
    // Steps are along the view normal; the normal may point either way along the rows.
    const sign = Math.sign(dot(camera.viewPlaneNormal as Vec3, rowCosines)) || 1;
    const currentColumn = middle + dot(sub(focal, this.columnCentre()), rowCosines) / this.volumeSpacing()[0];
    this.moveSagittal(sign * (column - currentColumn));
  }

  private columnCentre(): Vec3 {
    const { geometry } = this.source;
    const mid = geometry.slices[0]!.position;
    const half = ((geometry.columns - 1) / 2) * geometry.pixelSpacing[1];
    return mid.map((p, i) => p + geometry.rowCosines[i]! * half) as Vec3;
  }

  private jumpToSagittalPoint(event: MouseEvent): void {
    const rect = this.sagittalElement.getBoundingClientRect();
    const world = this.viewports.sagittal.canvasToWorld([event.clientX - rect.left, event.clientY - rect.top]);
    this.setSlice(nearestSlice(this.source.geometry, dot(world, this.source.geometry.normal)));
  }

  /** Re-render the sagittal view as slices arrive: not before the first pass
   * is in (each render re-uploads changed texture slices and costs CPU that
   * decoding needs), then at most every REFINE_RENDER_MS. */
  private scheduleRender(): void {
    if (this.renderQueued || !this.views || !this.firstShown) return;
    this.renderQueued = true;
    window.setTimeout(
      () =>
        requestAnimationFrame(() => {
          this.renderQueued = false;
          this.views?.sagittal.render();
        }),
      REFINE_RENDER_MS,
    );
  }

  private listen(target: EventTarget, type: string, handler: (event: Event) => void): void {
    target.addEventListener(type, handler);
    this.removers.push(() => target.removeEventListener(type, handler));
  }
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

function add(a: Vec3, b: Vec3): Vec3 {
  return [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
}

function sub(a: Vec3, b: Vec3): Vec3 {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}
