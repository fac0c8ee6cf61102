/** Layout of the level bands drawn beside the sagittal view: one rectangle per
 * range in canvas pixels, with its colour and caption. Pure, so that the
 * drawing code only paints what this computes. */

import { DISC, levelColour, type Rgb } from "./vocabulary";
import type { LevelRange } from "./ranges";

export interface Band {
  range: LevelRange;
  top: number; // canvas y of the upper edge
  bottom: number;
  colour: Rgb;
  caption: string; // "L3 92 %", or "" when the band is too thin to hold text
}

/** Canvas y of a (fractional) slice coordinate; slice i covers i-0.5 .. i+0.5. */
export type SliceToY = (slice: number) => number;

export const MIN_CAPTION_PX = 11;

export function layoutBands(
  ranges: readonly LevelRange[],
  sliceToY: SliceToY,
  height: number,
): Band[] {
  const bands: Band[] = [];
  for (const range of ranges) {
    const y0 = sliceToY(range.start - 0.5);
    const y1 = sliceToY(range.end + 0.5);
    const top = Math.max(0, Math.min(y0, y1));
    const bottom = Math.min(height, Math.max(y0, y1));
    if (bottom <= top) continue; // scrolled or zoomed out of view
    const thick = bottom - top >= MIN_CAPTION_PX;
    bands.push({ range, top, bottom, colour: levelColour(range.level), caption: thick ? caption(range) : "" });
  }
  return bands;
}

export function caption(range: LevelRange): string {
  if (range.level === DISC) return "disc";
  if (range.confidence === null) return range.level;
  return `${range.level} ${Math.round(range.confidence * 100)} %`;
}

/** The band under a canvas y (clicks on the band ribbon). */
export function bandAtY(bands: readonly Band[], y: number): Band | undefined {
  return bands.find((band) => band.top <= y && y < band.bottom);
}
