/** The Grad-CAM of the current axial slice over the axial image, coloured in
 * the browser from the server's 8-bit map, with an opacity and a colour bar. */

import { fitCanvas } from "../ui/dom";
import { axialImageRect } from "./axialImageRect";
import { buildLut, colourise, JET } from "./colormap";
import type { SeriesViewer } from "./seriesViewer";

export type CamSource = (slice: number) => Promise<ImageBitmap>;

export class CamOverlay {
  private readonly lut = buildLut(JET);
  private enabled = false;
  private opacity = 0.5;
  private image: HTMLCanvasElement | null = null;
  private imageSlice = -1;
  private request = 0;
  private readonly removers: (() => void)[] = [];

  constructor(
    private readonly viewer: SeriesViewer,
    private readonly canvas: HTMLCanvasElement,
    private readonly source: CamSource,
    private readonly onError: (message: string) => void,
  ) {
    this.removers.push(
      viewer.on("view", () => this.draw()),
      viewer.on("slice", () => void this.refresh()),
    );
  }

  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    void this.refresh();
  }

  setOpacity(opacity: number): void {
    this.opacity = opacity;
    this.draw();
  }

  get isEnabled(): boolean {
    return this.enabled;
  }

  destroy(): void {
    this.removers.splice(0).forEach((remove) => remove());
  }

  /** Fetch the current slice's map (the latest request wins). */
  private async refresh(): Promise<void> {
    const slice = this.viewer.slice;
    if (!this.enabled || slice === this.imageSlice) return this.draw();
    const ticket = ++this.request;
    try {
      const bitmap = await this.source(slice);
      if (ticket !== this.request) return;
      this.image = this.colourised(bitmap);
      this.imageSlice = slice;
    } catch (error) {
      this.image = null;
      this.imageSlice = -1;
      this.onError(`No class activation map for this slice (${(error as Error).message}).`);
    }
    this.draw();
  }

  private colourised(bitmap: ImageBitmap): HTMLCanvasElement {
    const canvas = document.createElement("canvas");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const context = canvas.getContext("2d")!;
    context.drawImage(bitmap, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    colourise(pixels.data, this.lut);
    context.putImageData(pixels, 0, 0);
    return canvas;
  }

  private draw(): void {
    const context = fitCanvas(this.canvas);
    if (!this.enabled || !this.image || this.imageSlice !== this.viewer.slice) return;
    const [left, top, right, bottom] = axialImageRect(this.viewer);
    context.globalAlpha = this.opacity;
    context.imageSmoothingEnabled = true;
    context.drawImage(this.image, left, top, right - left, bottom - top);
  }
}

/** A vertical colour bar of the same map, 1 at the top. */
export function drawColourBar(canvas: HTMLCanvasElement): void {
  const context = fitCanvas(canvas);
  const lut = buildLut(JET);
  const height = canvas.clientHeight;
  const width = canvas.clientWidth;
  for (let y = 0; y < height; y++) {
    const v = Math.round(255 * (1 - y / Math.max(1, height - 1)));
    context.fillStyle = `rgb(${lut[v * 3]}, ${lut[v * 3 + 1]}, ${lut[v * 3 + 2]})`;
    context.fillRect(0, y, width, 1);
  }
}
