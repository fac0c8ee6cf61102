/** What is drawn over and beside the images: the level band ribbon left of
 * the sagittal view (click a band to jump), the axial reference line and the
 * band boundaries on the sagittal view, and the sagittal plane on the axial. */

import { bandAtY, layoutBands, type Band } from "../levels/bands";
import type { LevelRange } from "../levels/ranges";
import { rgbCss } from "../levels/vocabulary";
import { fitCanvas } from "../ui/dom";
import type { SeriesViewer } from "./seriesViewer";

const REFERENCE = "#ffd400";

export class Overlays {
  private ranges: readonly LevelRange[] = [];
  private bands: Band[] = [];
  private readonly removers: (() => void)[] = [];

  constructor(
    private readonly viewer: SeriesViewer,
    private readonly ribbon: HTMLCanvasElement,
    private readonly sagittalOverlay: HTMLCanvasElement,
    private readonly axialOverlay: HTMLCanvasElement,
    onBandClick: (range: LevelRange) => void,
  ) {
    const click = (event: MouseEvent): void => {
      const band = bandAtY(this.bands, event.offsetY);
      if (band) onBandClick(band.range);
    };
    ribbon.addEventListener("click", click);
    this.removers.push(() => ribbon.removeEventListener("click", click), viewer.on("view", () => this.draw()));
    const resize = new ResizeObserver(() => this.draw());
    resize.observe(ribbon);
    this.removers.push(() => resize.disconnect());
  }

  setRanges(ranges: readonly LevelRange[]): void {
    this.ranges = ranges;
    this.draw();
  }

  draw(): void {
    this.drawRibbon();
    this.drawSagittal();
    this.drawAxial();
  }

  destroy(): void {
    this.removers.splice(0).forEach((remove) => remove());
  }

  private drawRibbon(): void {
    const context = fitCanvas(this.ribbon);
    const width = this.ribbon.clientWidth;
    this.bands = layoutBands(this.ranges, (s) => this.viewer.sliceToSagittalY(s), this.ribbon.clientHeight);
    context.font = "11px system-ui, sans-serif";
    context.textBaseline = "middle";
    for (const band of this.bands) {
      context.fillStyle = rgbCss(band.colour);
      context.fillRect(0, band.top, width, band.bottom - band.top);
      context.strokeStyle = "rgba(0, 0, 0, 0.6)";
      context.strokeRect(0.5, band.top + 0.5, width - 1, band.bottom - band.top - 1);
      if (band.caption) {
        context.fillStyle = "#fff";
        context.fillText(band.caption, 4, (band.top + band.bottom) / 2, width - 6);
      }
    }
    const y = this.viewer.sliceToSagittalY(this.viewer.slice);
    context.fillStyle = REFERENCE;
    context.beginPath();
    context.moveTo(width, y);
    context.lineTo(width - 8, y - 5);
    context.lineTo(width - 8, y + 5);
    context.fill();
  }

  private drawSagittal(): void {
    const context = fitCanvas(this.sagittalOverlay);
    const width = this.sagittalOverlay.clientWidth;
    // Band edges as short coloured ticks, so the image itself stays unveiled.
    for (const band of this.bands) {
      context.fillStyle = rgbCss(band.colour, 0.9);
      context.fillRect(0, band.top, 14, Math.max(1, band.bottom - band.top));
      context.fillRect(0, band.top, 40, 1);
    }
    const y = this.viewer.sliceToSagittalY(this.viewer.slice);
    context.strokeStyle = REFERENCE;
    context.lineWidth = 1;
    context.beginPath();
    context.moveTo(0, Math.round(y) + 0.5);
    context.lineTo(width, Math.round(y) + 0.5);
    context.stroke();
  }

  private drawAxial(): void {
    const context = fitCanvas(this.axialOverlay);
    const x = this.viewer.sagittalPlaneOnAxialX();
    context.strokeStyle = "rgba(0, 200, 255, 0.8)";
    context.setLineDash([6, 4]);
    context.beginPath();
    context.moveTo(Math.round(x) + 0.5, 0);
    context.lineTo(Math.round(x) + 0.5, this.axialOverlay.clientHeight);
    context.stroke();
  }
}
