/** Entry of the series viewer page (projects/series_viewer.html). Page data
 * comes from data- attributes of #viewer; no inline script anywhere. This
 * small chunk starts the labels, jobs and metadata requests at once, while the
 * image chunk (cornerstone3D) downloads and compiles in parallel. */

import "./styles/viewer.css";
import { fetchInstanceMetadata, fetchSeriesMetadata, seriesRoot } from "./api/dicomweb";
import { ApiError } from "./api/http";
import { LabelsApi } from "./api/labels";
import { LabelsState } from "./levels/labelsState";
import { byId, setText } from "./ui/dom";
import { firstPassSops, pageGeometry, prefetchInstances, type TakePrefetched } from "./viewer/firstPass";
import { seriesGeometry, TAG, type DicomJson } from "./viewer/geometry";
import { knownSlices, pageKnownSlices, synthesiseMetadata, type KnownSlices } from "./viewer/quickMetadata";
import { mountJobPanel } from "./ui/jobPanel";
import { mountLabelPanel } from "./ui/labelPanel";
import { mountLevelsPanel } from "./ui/levelsPanel";
import { mountMeasurePanel } from "./ui/measurePanel";
import { mountReviewPanel } from "./ui/reviewPanel";

/** The series' metadata: synthesised from one instance when the page or the
 * labels name every slice (fast), else the image store's series metadata. */
async function seriesMetadata(series: string, known: KnownSlices | null): Promise<{ items: DicomJson[]; quick: boolean }> {
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

/** The first pass's pixels, requested now rather than once the image chunk has started. */
function prefetchFirstPass(series: string, items: readonly DicomJson[]): TakePrefetched | undefined {
  try {
    return prefetchInstances(series, firstPassSops(seriesGeometry(items.filter((item) => item[TAG.imagePosition]))));
  } catch {
    return undefined; // metadata the viewer itself will report on
  }
}

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
  // Requests go out in the order the first image needs them (the browser
  // queues them on its six connections). Slices named by the page (a
  // classified series): the metadata need not wait for the labels, and with
  // the index's series shape the first pass is requested at once too.
  const fromPage = pageKnownSlices(data["knownSlices"]);
  const quickMetadata = fromPage ? seriesMetadata(series, fromPage) : null;
  const labelsLoaded = reload().finally(() => performance.mark("viewer:labels"));
  const early = fromPage && pageGeometry(fromPage);
  let takePrefetched = early ? prefetchInstances(series, firstPassSops(early)) : undefined;
  const projectId = Number(data["project"]);
  const canRun = data["canRunJobs"] === "true";
  const refreshJobs = mountJobPanel({ apiRoot, projectId, seriesId, canRun, onFinished: () => void reload() });
  mountMeasurePanel({ apiRoot, projectId, seriesId, canRun, onStarted: refreshJobs.refresh });
  mountLevelsPanel(state, (range) => byId("viewer").dispatchEvent(new CustomEvent("jump", { detail: range })));
  mountLabelPanel({ api: labelsApi, state, currentSlice: () => slice(), reload });
  mountReviewPanel(labelsApi, state, reload);

  setText(byId("viewer-status"), "Loading the series…");
  const metadata = await (quickMetadata ?? labelsLoaded.then(() => seriesMetadata(series, knownSlices(state.data))));
  root.dataset["metadataMs"] = performance.now().toFixed(0);
  root.dataset["metadataSource"] = metadata.quick ? "quick" : "series";
  takePrefetched ??= prefetchFirstPass(series, metadata.items);
  const { startViewer } = await viewerChunk;
  performance.mark("viewer:chunk");
  slice = () => Number(root.dataset["slice"] ?? 0);
  await startViewer({
    root,
    seriesRoot: series,
    metadata: metadata.items,
    fullMetadata: metadata.quick ? () => fetchSeriesMetadata(series) : null,
    takePrefetched,
    labelsLoaded,
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
