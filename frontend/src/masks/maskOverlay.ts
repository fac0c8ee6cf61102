/** The tissue label map of the current axial slice over the axial image, and
 * the brush / eraser that paints it. Masks are in the slice's stored pixel
 * grid, so canvas points map to (row, column) through the slice geometry. */

import { fitCanvas } from "../ui/dom";
import { axialImageRect } from "../viewer/axialImageRect";
import type { SeriesViewer } from "../viewer/seriesViewer";
import { colourise, paintStroke, type LabelMap } from "./labelMap";

export type Tool = "none" | "brush" | "eraser";

export class MaskOverlay {
  private maps = new Map<string, LabelMap>();
  private images = new Map<string, HTMLCanvasElement>();
  private enabled = true;
  private opacity = 0.5;
  private last: [number, number] | null = null;
  tool: Tool = "none";
  brushRadius = 4; // image pixels
  tissue = 1;
  /** Called after each stroke with the painted slice's SOP Instance UID. */
  onPainted: (sopInstanceUid: string) => void = () => {};

  constructor(
    private readonly viewer: SeriesViewer,
    private readonly canvas: HTMLCanvasElement,
  ) {
    viewer.on("view", () => this.draw());
    viewer.on("slice", () => this.draw());
    canvas.addEventListener("pointerdown", (event) => this.down(event));
    canvas.addEventListener("pointermove", (event) => this.move(event));
    for (const type of ["pointerup", "pointercancel", "pointerleave"]) canvas.addEventListener(type, () => this.up());
  }

  setMaps(maps: Map<string, LabelMap>): void {
    this.maps = maps;
    this.images.clear();
    this.draw();
  }

  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    this.draw();
  }

  setOpacity(opacity: number): void {
    this.opacity = opacity;
    this.draw();
  }

  setTool(tool: Tool): void {
    this.tool = tool;
    // Only while painting does the overlay take the mouse from the image tools.
    this.canvas.style.pointerEvents = tool === "none" ? "none" : "auto";
    this.canvas.style.cursor = tool === "none" ? "" : "crosshair";
  }

  currentUid(): string {
    return this.viewer.source.geometry.slices[this.viewer.slice]?.sopInstanceUid ?? "";
  }

  draw(): void {
    const context = fitCanvas(this.canvas);
    const uid = this.currentUid();
    const map = this.maps.get(uid);
    if (!this.enabled || !map) return;
    let image = this.images.get(uid);
    if (!image) {
      image = document.createElement("canvas");
      image.width = map.columns;
      image.height = map.rows;
      const pixels = new ImageData(map.columns, map.rows);
      colourise(map, pixels.data);
      image.getContext("2d")!.putImageData(pixels, 0, 0);
      this.images.set(uid, image);
    }
    const [left, top, right, bottom] = axialImageRect(this.viewer);
    context.globalAlpha = this.opacity;
    context.imageSmoothingEnabled = false; // crisp label edges
    context.drawImage(image, left, top, right - left, bottom - top);
  }

  private down(event: PointerEvent): void {
    if (this.tool === "none" || event.button !== 0) return;
    event.preventDefault();
    this.canvas.setPointerCapture?.(event.pointerId);
    this.last = this.toPixel(event);
    this.paint(this.last, this.last);
  }

  private move(event: PointerEvent): void {
    if (this.last === null) return;
    const point = this.toPixel(event);
    this.paint(this.last, point);
    this.last = point;
  }

  private up(): void {
    if (this.last === null) return;
    this.last = null;
    this.onPainted(this.currentUid());
  }

  private paint(from: [number, number], to: [number, number]): void {
    const uid = this.currentUid();
    const map = this.maps.get(uid);
    if (!map) return;
    if (paintStroke(map, from, to, this.brushRadius, this.tool === "eraser" ? 0 : this.tissue) > 0) {
      this.images.delete(uid);
      this.draw();
    }
  }

  /** Canvas point -> fractional (row, column) of the current slice. */
  private toPixel(event: PointerEvent): [number, number] {
    const rect = this.canvas.getBoundingClientRect();
    const world = this.viewer.viewports.axial.canvasToWorld([event.clientX - rect.left, event.clientY - rect.top]);
    const { geometry } = this.viewer.source;
    const origin = geometry.slices[this.viewer.slice]!.position;
    const offset = [0, 1, 2].map((i) => world[i]! - origin[i]!);
    const along = (axis: readonly number[]): number => offset.reduce((sum, v, i) => sum + v * axis[i]!, 0);
    return [along(geometry.columnCosines) / geometry.pixelSpacing[0], along(geometry.rowCosines) / geometry.pixelSpacing[1]];
  }
}
