/** Label corrections as the server takes them: one edit assigns a label (a
 * level, "disc", or null to clear) to an inclusive slice range. Moving a level
 * boundary is the edit that assigns the slices between the old and the new
 * boundary to the level that grows. */

import { rangesFromLabels, type SliceLabel } from "./ranges";

export interface LabelEdit {
  start: number;
  end: number; // inclusive
  label: SliceLabel;
}

/** Between two adjacent labelled runs: `at` is the first slice of the lower one. */
export interface Boundary {
  at: number;
  above: string;
  below: string;
}

export function applyEdit(labels: readonly SliceLabel[], edit: LabelEdit): SliceLabel[] {
  const out = labels.slice();
  for (let i = Math.max(0, edit.start); i <= Math.min(out.length - 1, edit.end); i++) out[i] = edit.label;
  return out;
}

/** A range edit from two slice numbers in any order, clamped to the series;
 * null when the range is empty. */
export function rangeEdit(a: number, b: number, label: SliceLabel, sliceCount: number): LabelEdit | null {
  const start = Math.max(0, Math.min(a, b));
  const end = Math.min(sliceCount - 1, Math.max(a, b));
  if (!Number.isInteger(start) || !Number.isInteger(end) || end < start) return null;
  return { start, end, label };
}

/** Boundaries between runs that touch (no unlabelled gap between them). */
export function boundaries(labels: readonly SliceLabel[]): Boundary[] {
  const ranges = rangesFromLabels(labels);
  const out: Boundary[] = [];
  for (let i = 1; i < ranges.length; i++) {
    const upper = ranges[i - 1]!;
    const lower = ranges[i]!;
    if (upper.end + 1 === lower.start) out.push({ at: lower.start, above: upper.level, below: lower.level });
  }
  return out;
}

/** The edit that moves `boundary` so that the lower level starts at `newAt`.
 * Null if nothing changes or if the move would swallow a neighbour whole
 * (that is an assignment, not a boundary move). */
export function boundaryMoveEdit(
  labels: readonly SliceLabel[],
  boundary: Boundary,
  newAt: number,
): LabelEdit | null {
  if (newAt === boundary.at) return null;
  const upperStart = runStart(labels, boundary.at - 1);
  const lowerEnd = runEnd(labels, boundary.at);
  if (newAt <= upperStart || newAt > lowerEnd) return null;
  return newAt < boundary.at
    ? { start: newAt, end: boundary.at - 1, label: boundary.below }
    : { start: boundary.at, end: newAt - 1, label: boundary.above };
}

/** Words for an edit, for the undo button and the history. */
export function describeEdit(edit: LabelEdit): string {
  const where = edit.start === edit.end ? `slice ${edit.start + 1}` : `slices ${edit.start + 1}–${edit.end + 1}`;
  if (edit.label === null) return `clear ${where}`;
  if (edit.label === "disc") return `mark ${where} as disc`;
  return `${where} → ${edit.label}`;
}

function runStart(labels: readonly SliceLabel[], index: number): number {
  let i = index;
  while (i > 0 && labels[i - 1] === labels[index]) i--;
  return i;
}

function runEnd(labels: readonly SliceLabel[], index: number): number {
  let i = index;
  while (i < labels.length - 1 && labels[i + 1] === labels[index]) i++;
  return i;
}
