/** How far to decimate a series so that its sagittal volume fits a byte
 * budget. The sagittal view shows rows (anterior-posterior) against slices, so
 * columns (left-right, only the choice of plane) are thinned first, rows next,
 * slices last. */

export interface SeriesShape {
  rows: number;
  columns: number;
  slices: number;
}

export interface DecimationPlan {
  rowStep: number;
  columnStep: number;
  sliceStep: number;
  rows: number; // of the decimated volume
  columns: number;
  slices: number;
  bytes: number;
}

/** float32 HU: the WebGL texture format vtk.js uploads without conversion where
 * 16-bit textures are missing (an int16 volume is first copied whole into a
 * float array there: ~0.5 s and twice the volume's bytes, before every first image). */
export const BYTES_PER_VOXEL = 4;
export const MIN_ROWS = 128; // below this the spine's outline blurs
export const MAX_TEXTURE_SIZE = 2048; // WebGL2 3D texture limit seen in headless chromium

export function planDecimation(shape: SeriesShape, budgetBytes: number): DecimationPlan {
  let rowStep = 1;
  let columnStep = 1;
  let sliceStep = Math.max(1, Math.ceil(shape.slices / MAX_TEXTURE_SIZE));
  const plan = (): DecimationPlan => {
    const rows = Math.ceil(shape.rows / rowStep);
    const columns = Math.ceil(shape.columns / columnStep);
    const slices = Math.ceil(shape.slices / sliceStep);
    return { rowStep, columnStep, sliceStep, rows, columns, slices, bytes: rows * columns * slices * BYTES_PER_VOXEL };
  };
  while (plan().bytes > budgetBytes) {
    if (columnStep < 2 * rowStep && Math.ceil(shape.columns / (columnStep + 1)) >= 16) columnStep++;
    else if (Math.ceil(shape.rows / (rowStep + 1)) >= MIN_ROWS) rowStep++;
    else if (plan().slices > 1) sliceStep++;
    else break; // a single slice over budget: nothing sensible left to thin
  }
  return plan();
}

/** Block-average `src` (rows × columns) into `dest` (ceil(rows/rowStep) ×
 * ceil(columns/columnStep)), rounded to whole HU in the int16 range. Averaging, not sampling, so
 * thin cortical bone does not flicker between planes. `slope`/`intercept`
 * rescale the means (a linear map commutes with averaging), which spares a
 * full-size rescaled copy of every slice. */
export function downsampleInto(
  src: ArrayLike<number>,
  rows: number,
  columns: number,
  rowStep: number,
  columnStep: number,
  dest: Int16Array | Float32Array,
  slope = 1,
  intercept = 0,
): void {
  const outColumns = Math.ceil(columns / columnStep);
  const outRows = Math.ceil(rows / rowStep);
  for (let r = 0; r < outRows; r++) {
    const r0 = r * rowStep;
    const r1 = Math.min(rows, r0 + rowStep);
    for (let c = 0; c < outColumns; c++) {
      const c0 = c * columnStep;
      const c1 = Math.min(columns, c0 + columnStep);
      let sum = 0;
      for (let y = r0; y < r1; y++) {
        const line = y * columns;
        for (let x = c0; x < c1; x++) sum += src[line + x]!;
      }
      const mean = Math.round((sum / ((r1 - r0) * (c1 - c0))) * slope + intercept);
      dest[r * outColumns + c] = mean < -32768 ? -32768 : mean > 32767 ? 32767 : mean;
    }
  }
}
