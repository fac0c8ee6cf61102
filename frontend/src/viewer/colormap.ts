/** Colour maps for the Grad-CAM overlay. The server sends an 8-bit grayscale
 * map; the browser colours it, so one PNG serves any colour map and opacity. */

export type ColourStop = readonly [position: number, r: number, g: number, b: number];

/** "jet" as usually drawn for CAMs: blue → cyan → yellow → red. */
export const JET: readonly ColourStop[] = [
  [0, 0, 0, 128],
  [0.125, 0, 0, 255],
  [0.375, 0, 255, 255],
  [0.625, 255, 255, 0],
  [0.875, 255, 0, 0],
  [1, 128, 0, 0],
];

/** 256 RGB entries interpolated between the stops. */
export function buildLut(stops: readonly ColourStop[]): Uint8ClampedArray {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let v = 0; v < 256; v++) {
    const t = v / 255;
    let i = 1;
    while (i < stops.length - 1 && stops[i]![0] < t) i++;
    const [p0, r0, g0, b0] = stops[i - 1]!;
    const [p1, r1, g1, b1] = stops[i]!;
    const f = p1 > p0 ? Math.min(1, Math.max(0, (t - p0) / (p1 - p0))) : 0;
    lut[v * 3] = r0 + (r1 - r0) * f;
    lut[v * 3 + 1] = g0 + (g1 - g0) * f;
    lut[v * 3 + 2] = b0 + (b1 - b0) * f;
  }
  return lut;
}

/** Colour an RGBA image whose red channel holds the grayscale map, in place.
 * Alpha grows with the activation (below `floor` fully transparent), so cold
 * regions do not veil the anatomy. */
export function colourise(rgba: Uint8ClampedArray, lut: Uint8ClampedArray, floor = 0.15): void {
  for (let p = 0; p < rgba.length; p += 4) {
    const v = rgba[p]!;
    rgba[p] = lut[v * 3]!;
    rgba[p + 1] = lut[v * 3 + 1]!;
    rgba[p + 2] = lut[v * 3 + 2]!;
    const t = v / 255;
    rgba[p + 3] = t <= floor ? 0 : Math.round(255 * Math.min(1, (t - floor) / (1 - floor) * 1.5));
  }
}
