/** Contiguous level ranges of a per-slice label array (slice 0 is the most
 * superior), and the model's ranges normalised to the same shape. */

export type SliceLabel = string | null;

export interface LevelRange {
  level: string; // a level name or "disc"
  start: number; // first slice, inclusive
  end: number; // last slice, inclusive
  mid: number;
  confidence: number | null; // the model's, null for human labels
}

/** Runs of equal, non-null labels. */
export function rangesFromLabels(labels: readonly SliceLabel[]): LevelRange[] {
  const ranges: LevelRange[] = [];
  let start = 0;
  for (let i = 1; i <= labels.length; i++) {
    const current = labels[start];
    if (i < labels.length && labels[i] === current) continue;
    if (current != null) {
      ranges.push({ level: current, start, end: i - 1, mid: Math.floor((start + i - 1) / 2), confidence: null });
    }
    start = i;
  }
  return ranges;
}

/** The model's ranges as the API gives them ({start,end} or the decoder's
 * {first,last}); malformed entries are dropped rather than drawn wrongly. */
export function normaliseModelRanges(raw: readonly Record<string, unknown>[]): LevelRange[] {
  const out: LevelRange[] = [];
  for (const item of raw) {
    const start = num(item["start"] ?? item["first"]);
    const end = num(item["end"] ?? item["last"]);
    const level = item["level"];
    if (typeof level !== "string" || start === null || end === null || end < start) continue;
    const mid = num(item["mid"]) ?? Math.floor((start + end) / 2);
    out.push({ level, start, end, mid, confidence: num(item["confidence"]) });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** The range holding `level` (the first if several), for jumps and presets. */
export function findLevel(ranges: readonly LevelRange[], level: string): LevelRange | undefined {
  return ranges.find((range) => range.level === level);
}

/** The range at a slice, if any. */
export function rangeAt(ranges: readonly LevelRange[], slice: number): LevelRange | undefined {
  return ranges.find((range) => range.start <= slice && slice <= range.end);
}

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}
