/** The spine-level vocabulary of the platform (see ml_worker/levels.py): the 19
 * fine classes superior → inferior, transitional vertebrae, the coarse schemes
 * hospitals label in, and the "disc" mark for slices through a disc. */

export const FINE_LEVELS: readonly string[] = [
  "Cervical",
  ...Array.from({ length: 12 }, (_, i) => `T${i + 1}`),
  ...Array.from({ length: 5 }, (_, i) => `L${i + 1}`),
  "Sacral",
];
export const DISC = "disc";

export type SchemeName = "fine" | "chest" | "abdomen";

export const SCHEMES: Readonly<Record<SchemeName, readonly string[]>> = {
  fine: [...FINE_LEVELS.slice(0, 13), "T13", ...FINE_LEVELS.slice(13, 18), "L6", "Sacral"],
  chest: ["Cervical", ...FINE_LEVELS.slice(1, 13), "Lumbar"],
  abdomen: ["Thoracic", ...FINE_LEVELS.slice(13, 18), "Sacral"],
};

/** Levels of the body-composition literature, L3 first (the default). */
export const SARCOPENIA_LEVELS: readonly string[] = ["L3", "T4", "T7", "T8", "T10", "T12"];

/** Position along the body axis, for ordering and colouring: fine levels by
 * index, transitional ones between their neighbours, coarse ones mid-region. */
export function levelRank(level: string): number {
  const fine = FINE_LEVELS.indexOf(level);
  if (fine >= 0) return fine;
  const special: Record<string, number> = { T13: 12.5, L6: 17.5, Thoracic: 6.5, Lumbar: 15 };
  return special[level] ?? -1;
}

export type Rgb = readonly [number, number, number];

/** A colour per level. Neighbours differ in hue and lightness so that adjacent
 * bands stay distinguishable; each region has its own hue family. */
export function levelColour(level: string): Rgb {
  if (level === DISC) return [150, 150, 150];
  const rank = levelRank(level);
  if (rank < 0) return [200, 200, 200];
  const hue = rank < 1 ? 200 : rank < 13 ? 20 + rank * 11 : rank < 18 ? 280 + (rank - 13) * 12 : 340;
  const lightness = Math.floor(rank) % 2 === 0 ? 55 : 42;
  return hslToRgb(hue % 360, 75, lightness);
}

export function rgbCss([r, g, b]: Rgb, alpha = 1): string {
  return alpha >= 1 ? `rgb(${r}, ${g}, ${b})` : `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

function hslToRgb(h: number, s: number, l: number): Rgb {
  const sat = s / 100;
  const light = l / 100;
  const k = (n: number): number => (n + h / 30) % 12;
  const a = sat * Math.min(light, 1 - light);
  const f = (n: number): number =>
    Math.round(255 * (light - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)))));
  return [f(0), f(8), f(4)];
}
