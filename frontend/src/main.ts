/** Entry of the series viewer page (projects/series_viewer.html). Page data
 * comes from data- attributes of #viewer; no inline script anywhere. This
 * small chunk starts the labels, jobs and metadata requests at once, while the
 * image chunk (cornerstone3D) downloads and compiles in parallel. */

/** The series' metadata: synthesised from one instance when the labels name
 * every slice (fast), else the image store's series metadata. */
async function seriesMetadata(series: string, labels: LabelsState["data"]): Promise<{ items: DicomJson[]; quick: boolean }> {
  const known = knownSlices(labels);
  if (known) {
    try {
      const items = synthesiseMetadata(await fetchInstanceMetadata(series, known.sopInstanceUids[0]!), known);
      if (items) return { items, quick: true };
    } catch (error) {
      console.warn("quick metadata unavailable; reading the series metadata", error);
    }
  }
  return { items: await fetchSeriesMetadata(series), quick: false };
}

import "./styles/viewer.css";
import { fetchInstanceMetadata, fetchSeriesMetadata, seriesRoot } from "./api/dicomweb";
import { ApiError } from "./api/http";
import { LabelsApi } from "./api/labels";
import { LabelsState } from "./levels/labelsState";
import { byId, setText } from "./ui/dom";
import type { DicomJson } from "./viewer/geometry";
import { knownSlices, synthesiseMetadata } from "./viewer/quickMetadata";
import { mountJobPanel } from "./ui/jobPanel";
import { mountLabelPanel } from "./ui/labelPanel";
import { mountLevelsPanel } from "./ui/levelsPanel";
import { mountMeasurePanel } from "./ui/measurePanel";
import { mountReviewPanel } from "./ui/reviewPanel";

async function run(): Promise<void> {
  const root = byId("viewer");
  const data = root.dataset;
  const apiRoot = data["apiRoot"] ?? "/api/v1";
  const seriesId = Number(data["series"]);
  const series = seriesRoot(data["dicomwebRoot"] ?? "/dicomweb", data["studyUid"] ?? "", data["seriesUid"] ?? "");
  root.dataset["state"] = "loading";
  const viewerChunk = import("./viewer/startViewer");
  const labelsApi = new LabelsApi(apiRoot, seriesId);
  const state = new LabelsState();
  let slice = (): number => 0;
  const reload = async (): Promise<void> => {
    try {
      state.set(await labelsApi.get());
    } catch (error) {
      const missing = error instanceof ApiError && error.status === 404;
      setText(byId("levels-message"), missing ? "No labels for this series yet." : `Labels unavailable: ${(error as Error).message}`);
    }
  };
  const projectId = Number(data["project"]);
  const canRun = data["canRunJobs"] === "true";
  const refreshJobs = mountJobPanel({ apiRoot, projectId, seriesId, canRun, onFinished: () => void reload() });
  mountMeasurePanel({ apiRoot, projectId, seriesId, canRun, onStarted: refreshJobs.refresh });
  mountLevelsPanel(state, (range) => byId("viewer").dispatchEvent(new CustomEvent("jump", { detail: range })));
  mountLabelPanel({ api: labelsApi, state, currentSlice: () => slice(), reload });
  mountReviewPanel(labelsApi, state, reload);
  const labelsLoaded = reload();

  setText(byId("viewer-status"), "Loading the series…");
  await labelsLoaded; // it may name every slice, which saves the series metadata
  const metadata = await seriesMetadata(series, state.data);
  root.dataset["metadataMs"] = performance.now().toFixed(0);
  root.dataset["metadataSource"] = metadata.quick ? "quick" : "series";
  const { startViewer } = await viewerChunk;
  slice = () => Number(root.dataset["slice"] ?? 0);
  await startViewer({
    root,
    seriesRoot: series,
    metadata: metadata.items,
    fullMetadata: metadata.quick ? () => fetchSeriesMetadata(series) : null,
    labelsApi,
    state,
    initialLevel: data["initialLevel"] ?? "L3",
  });
}

run().catch((error: unknown) => {
  const root = document.getElementById("viewer");
  if (root) root.dataset["state"] = "error";
  const status = document.getElementById("viewer-status");
  if (status) status.textContent = `The viewer could not start: ${(error as Error).message}`;
  console.error(error);
});
