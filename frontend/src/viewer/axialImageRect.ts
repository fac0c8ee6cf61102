/** Where the current axial image lies on the canvas, for overlays drawn in
 * its pixel grid (Grad-CAM, tissue masks). */

import type { Types } from "@cornerstonejs/core";
import type { SeriesViewer } from "./seriesViewer";

/** The axial image's outer corners in canvas pixels: [left, top, right, bottom]. */
export function axialImageRect(viewer: SeriesViewer): [number, number, number, number] {
  const { geometry } = viewer.source;
  const slice = geometry.slices[viewer.slice]!;
  const [rowSpacing, columnSpacing] = geometry.pixelSpacing;
  const corner = (column: number, row: number): Types.Point2 =>
    viewer.viewports.axial.worldToCanvas(
      slice.position.map(
        (p, i) => p + geometry.rowCosines[i]! * column * columnSpacing + geometry.columnCosines[i]! * row * rowSpacing,
      ) as Types.Point3,
    );
  const [x0, y0] = corner(-0.5, -0.5);
  const [x1, y1] = corner(geometry.columns - 0.5, geometry.rows - 0.5);
  return [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)];
}
