/** The two viewports side by side: the sagittal reformat (a volume viewport
 * on the decimated volume) and the full-resolution axial slice (a stack
 * viewport), each with zoom, pan, window/level and wheel scrolling. */

import { Enums, RenderingEngine, type StackViewport, type VolumeViewport } from "@cornerstonejs/core";
import {
  Enums as ToolEnums,
  PanTool,
  StackScrollTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
} from "@cornerstonejs/tools";

export const SAGITTAL = "sagittal";
export const AXIAL = "axial";

export interface Viewports {
  engine: RenderingEngine;
  sagittal: VolumeViewport;
  axial: StackViewport;
  destroy(): void;
}

export function createViewports(sagittalElement: HTMLDivElement, axialElement: HTMLDivElement): Viewports {
  const engine = new RenderingEngine("series-viewer");
  engine.setViewports([
    {
      viewportId: SAGITTAL,
      type: Enums.ViewportType.ORTHOGRAPHIC,
      element: sagittalElement,
      defaultOptions: { orientation: Enums.OrientationAxis.SAGITTAL, background: [0, 0, 0] },
    },
    { viewportId: AXIAL, type: Enums.ViewportType.STACK, element: axialElement, defaultOptions: { background: [0, 0, 0] } },
  ]);
  const groups = [SAGITTAL, AXIAL].map((viewportId) => {
    const group = ToolGroupManager.createToolGroup(`${viewportId}-tools`);
    if (!group) throw new Error("cornerstone tool group exists already");
    for (const tool of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool]) group.addTool(tool.toolName);
    const { MouseBindings } = ToolEnums;
    group.setToolActive(WindowLevelTool.toolName, { bindings: [{ mouseButton: MouseBindings.Primary }] });
    group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
    group.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
    group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: MouseBindings.Wheel }] });
    group.addViewport(viewportId, engine.id);
    return group;
  });
  return {
    engine,
    sagittal: engine.getViewport(SAGITTAL) as VolumeViewport,
    axial: engine.getViewport(AXIAL) as StackViewport,
    destroy: () => {
      groups.forEach((group) => ToolGroupManager.destroyToolGroup(group.id));
      engine.destroy();
    },
  };
}
