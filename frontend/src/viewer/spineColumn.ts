/** Where to put the sagittal plane at first: the column (left-right position)
 * with the most bone in the middle part of the body, i.e. through the spine. */

export const BONE_HU = 200;

export function spineColumn(
  data: ArrayLike<number>,
  dims: readonly [columns: number, rows: number, slices: number],
  sliceStride = 4,
): number {
  const [columns, rows, slices] = dims;
  const counts = new Float64Array(columns);
  for (let k = 0; k < slices; k += sliceStride) {
    const base = k * rows * columns;
    for (let r = 0; r < rows; r++) {
      const line = base + r * columns;
      for (let c = 0; c < columns; c++) if (data[line + c]! > BONE_HU) counts[c]!++;
    }
  }
  // The spine is near the midline: weigh columns by closeness to the centre.
  const centre = (columns - 1) / 2;
  let best = Math.round(centre);
  let bestScore = 0;
  for (let c = 0; c < columns; c++) {
    const score = counts[c]! * (1 - 0.5 * Math.abs(c - centre) / Math.max(centre, 1));
    if (score > bestScore) {
      bestScore = score;
      best = c;
    }
  }
  return best;
}
