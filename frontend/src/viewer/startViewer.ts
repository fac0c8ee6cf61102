/** The image part of the page, loaded as its own chunk (cornerstone3D and
 * vtk.js are most of the code): the synchronised views, their overlays, the
 * toolbar and the keyboard. The page fetches labels and series metadata while
 * this chunk downloads and compiles. */

import type { LabelsApi } from "../api/labels";
import type { LabelsState } from "../levels/labelsState";
import { findLevel, rangeAt, type LevelRange } from "../levels/ranges";
import { bindKeyboard, LEVEL_PRESETS } from "../tools/keyboard";
import { byId, el, setText } from "../ui/dom";
import { mountMasks } from "../masks/mountMasks";
import { CamOverlay, drawColourBar } from "./camOverlay";
import { setUpCornerstone } from "./cornerstoneSetup";
import type { DicomJson } from "./geometry";
import type { TakePrefetched } from "./firstPass";
import { Overlays } from "./overlays";
import { SeriesViewer } from "./seriesViewer";
import { openSeries, registerMetadata } from "./seriesSource";
import { WINDOW_PRESETS } from "./windowPresets";

export interface ViewerContext {
  root: HTMLElement;
  seriesRoot: string;
  metadata: DicomJson[];
  /** The store's series metadata, to replace synthesised metadata after the first image. */
  fullMetadata: (() => Promise<DicomJson[]>) | null;
  labelsApi: LabelsApi;
  state: LabelsState;
  initialLevel: string;
  /** Resolves once the labels have been read (or failed): they name the initial level. */
  labelsLoaded: Promise<void>;
  /** The first pass's instances, already requested by the page chunk. */
  takePrefetched?: TakePrefetched | undefined;
}

export async function startViewer(context: ViewerContext): Promise<void> {
  const { root, seriesRoot, metadata, fullMetadata, labelsApi, state, initialLevel } = context;
  const status = byId("viewer-status");
  setUpCornerstone();
  performance.mark("viewer:cornerstone");
  const source = { ...openSeries(seriesRoot, metadata), takePrefetched: context.takePrefetched };
  byId("axial-caption").textContent = `Axial · ${source.description || "series"} · ${source.imageIds.length} slices`;
  const viewer = new SeriesViewer(source, byId<HTMLDivElement>("sagittal-viewport"), byId<HTMLDivElement>("axial-viewport"));
  const jump = (range: LevelRange): void => viewer.setSlice(range.mid);
  // The levels panel (in the page chunk) asks for jumps with a "jump" event.
  root.addEventListener("jump", (event) => jump((event as CustomEvent<LevelRange>).detail));
  const jumpToLevel = (level: string): void => {
    const range = findLevel(state.ranges(), level);
    if (range) jump(range);
    else setText(status, `${level} is not in this series' labels.`);
  };
  const overlays = new Overlays(viewer, byId<HTMLCanvasElement>("band-ribbon"), byId<HTMLCanvasElement>("sagittal-overlay"), byId<HTMLCanvasElement>("axial-overlay"), jump);
  const cam = new CamOverlay(
    viewer,
    byId<HTMLCanvasElement>("cam-overlay"),
    (slice) => labelsApi.cam(state.data!.model!.levels_id, slice),
    (message) => setText(status, message),
  );
  mountMasks(viewer, root.dataset["apiRoot"] ?? "/api/v1", Number(root.dataset["series"]));
  const showRanges = (): void => overlays.setRanges(state.ranges());
  state.on("changed", () => {
    showRanges();
    updateCamControls(state, cam);
  });
  state.on("source", showRanges);
  updateCamControls(state, cam);
  mountToolbar(viewer, cam, jumpToLevel);
  viewer.on("progress", ({ loaded, total }) => {
    root.dataset["volumeLoaded"] = `${loaded}/${total}`;
    setText(status, loaded < total ? `Sagittal: ${loaded} of ${total} slices loaded` : "All slices loaded.");
  });
  viewer.on("slice", (slice) => {
    root.dataset["slice"] = String(slice);
    const range = rangeAt(state.ranges(), slice);
    setText(byId("slice-info"), `Slice ${slice + 1} / ${viewer.sliceCount}${range ? ` · ${range.level}` : ""}`);
  });
  viewer.on("firstSagittal", (ms) => {
    root.dataset["firstSagittalMs"] = ms.toFixed(0);
    root.dataset["state"] = "ready";
    fullMetadata?.()
      .then((items) => registerMetadata(seriesRoot, items))
      .catch((error: unknown) => console.warn("series metadata unavailable; keeping the synthesised one", error));
  });
  bindKeyboard(document, {
    slice: () => viewer.slice,
    sliceCount: () => viewer.sliceCount,
    setSlice: (index) => viewer.setSlice(index),
    moveSagittal: (steps) => viewer.moveSagittal(steps),
    setWindow: (preset) => viewer.setWindow(preset),
    jumpToLevel,
    stepLevel: (direction) => {
      const ranges = state.ranges();
      const here = ranges.findIndex((r) => r.start <= viewer.slice && viewer.slice <= r.end);
      const next = ranges[here < 0 ? 0 : here + direction];
      if (next) jump(next);
    },
    toggleCam: () => {
      const toggle = byId<HTMLInputElement>("cam-toggle");
      if (toggle.disabled) return;
      toggle.checked = !toggle.checked;
      toggle.dispatchEvent(new Event("change"));
    },
  });
  setText(status, "Loading the first sagittal image…");
  const middle = Math.floor(source.imageIds.length / 2);
  await viewer.start(context.labelsLoaded.then(() => findLevel(state.ranges(), initialLevel)?.mid ?? middle));
  showRanges();
  await viewer.complete;
  root.dataset["state"] = "complete";
}

function mountToolbar(viewer: SeriesViewer, cam: CamOverlay, jumpToLevel: (level: string) => void): void {
  byId("window-presets").replaceChildren(
    ...WINDOW_PRESETS.map((preset) => {
      const button = el("button", { text: preset.name, title: `Window ${preset.width}/${preset.level} (key ${preset.key})`, attrs: { type: "button" } });
      button.addEventListener("click", () => viewer.setWindow(preset));
      return button;
    }),
  );
  byId("level-presets").replaceChildren(
    ...LEVEL_PRESETS.map(([level, key]) => {
      const button = el("button", { text: level, title: `Go to ${level} (key ${key})`, attrs: { type: "button", "data-level": level } });
      button.addEventListener("click", () => jumpToLevel(level));
      return button;
    }),
  );
  const toggle = byId<HTMLInputElement>("cam-toggle");
  toggle.addEventListener("change", () => {
    cam.setEnabled(toggle.checked);
    byId("cam-legend").hidden = !toggle.checked;
    if (toggle.checked) drawColourBar(byId<HTMLCanvasElement>("cam-colour-bar"));
  });
  const opacity = byId<HTMLInputElement>("cam-opacity");
  opacity.addEventListener("input", () => cam.setOpacity(Number(opacity.value) / 100));
}

function updateCamControls(state: LabelsState, cam: CamOverlay): void {
  const toggle = byId<HTMLInputElement>("cam-toggle");
  const available = Boolean(state.data?.model?.has_cams);
  toggle.disabled = !available;
  toggle.title = available ? "Grad-CAM of the current axial slice (key c)" : "No class activation maps for this series";
  if (!available && cam.isEnabled) {
    toggle.checked = false;
    toggle.dispatchEvent(new Event("change"));
  }
}
