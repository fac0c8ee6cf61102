/** The "Tissue masks" panel and overlay: the latest measurement per level of
 * the series, its masks over the axial slice (legend, opacity, toggle), brush
 * and eraser correction for labelers (saved as a new revision, then measured
 * again on the worker), undo, submission, and review for reviewers. */

import { ApiError } from "../api/http";
import { MasksApi, type MaskMeasurement, type MaskPermissions } from "../api/masks";
import { byId, el, setText } from "../ui/dom";
import type { SeriesViewer } from "../viewer/seriesViewer";
import { decodeMask, encodeMask, TISSUES, type LabelMap } from "./labelMap";
import { MaskOverlay, type Tool } from "./maskOverlay";

const POLL_MS = 1500;
const POLL_LIMIT = 80;

export function mountMasks(viewer: SeriesViewer, apiRoot: string, seriesId: number): void {
  const panel = byId("mask-panel");
  const api = new MasksApi(apiRoot, seriesId);
  const overlay = new MaskOverlay(viewer, byId<HTMLCanvasElement>("mask-overlay"));
  const select = byId<HTMLSelectElement>("mask-level");
  const message = byId("mask-message");
  let rows: MaskMeasurement[] = [];
  let permissions: MaskPermissions = { label: false, review: false, view_images: false };
  let current: MaskMeasurement | null = null;
  let maps = new Map<string, LabelMap>();
  const dirty = new Set<string>();
  let polls = 0;

  byId("mask-legend").replaceChildren(
    ...TISSUES.map((t) => {
      const swatch = el("span", { className: "swatch" });
      swatch.style.background = `rgb(${t.rgb.join(",")})`; // CSSOM: allowed by the strict CSP
      return el("li", {}, [swatch, t.name]);
    }),
  );
  byId<HTMLSelectElement>("mask-tissue").replaceChildren(
    ...TISSUES.map((t) => el("option", { text: t.name, attrs: { value: String(t.value) } })),
  );

  const say = (text: string): void => setText(message, text);
  const fail = (error: unknown): void => say(error instanceof Error ? error.message : String(error));

  const show = async (row: MaskMeasurement | null): Promise<void> => {
    current = row;
    dirty.clear();
    maps = new Map();
    if (row) for (const mask of row.masks) maps.set(mask.sop_instance_uid, await decodeMask(mask));
    overlay.setMaps(maps);
    markSlice();
    render();
  };

  const markSlice = (): void => {
    panel.dataset["sliceHasMask"] = String(maps.has(overlay.currentUid()));
  };

  const render = (): void => {
    const row = current;
    panel.dataset["state"] = row ? "loaded" : "none";
    panel.dataset["revision"] = String(row?.revision ?? "");
    panel.dataset["measuredRevision"] = String(row?.measured_revision ?? "");
    panel.dataset["review"] = row?.review.status ?? "";
    panel.dataset["dirty"] = String(dirty.size);
    const canEdit = Boolean(row && permissions.label && !row.locked);
    byId("mask-edit").hidden = !permissions.label;
    byId("mask-review").hidden = !permissions.review;
    for (const id of ["mask-tool", "mask-tissue", "mask-size", "mask-undo", "mask-submit"]) {
      (byId(id) as HTMLInputElement).disabled = !canEdit;
    }
    byId<HTMLButtonElement>("mask-save").disabled = !canEdit || dirty.size === 0;
    byId<HTMLButtonElement>("mask-discard").disabled = dirty.size === 0;
    for (const id of ["mask-verify", "mask-return"]) byId<HTMLButtonElement>(id).disabled = !row;
    if (!canEdit) setTool("none");
    if (!row) {
      setText(byId("mask-info"), "No masks yet: run Segment & measure for a level.");
      return;
    }
    const v = row.values;
    const pending = row.measured_revision !== row.revision;
    const source = row.mask_source === "corrected" ? `corrected by ${row.corrected_by ?? "?"}` : `model (${row.method})`;
    const review = `${row.review.status}${row.review.by ? ` by ${row.review.by}` : ""}${row.review.comment ? `: “${row.review.comment}”` : ""}`;
    setText(
      byId("mask-info"),
      `${row.level} · ${row.status} · muscle ${v["muscle_area_cm2"] ?? "–"} cm² · ` +
        `SMI ${v["smi_cm2_m2"] ?? "–"} · rev. ${row.revision} (${source})` +
        `${pending ? ` · measuring… (${row.remeasure?.state ?? "queued"})` : ""} · review: ${review}`,
    );
  };

  const setTool = (tool: Tool): void => {
    overlay.setTool(tool);
    byId<HTMLSelectElement>("mask-tool").value = tool;
  };

  const load = async (keep?: number): Promise<void> => {
    try {
      const data = await api.series();
      rows = data.measurements.filter((m) => m.masks.length > 0);
      permissions = data.permissions;
      const chosen = keep ?? (current?.id ?? rows[0]?.id);
      select.replaceChildren(...rows.map((m) => el("option", { text: `${m.level} (measurement #${m.id})`, attrs: { value: String(m.id) } })));
      const row = rows.find((m) => m.id === chosen) ?? rows[0] ?? null;
      if (row) select.value = String(row.id);
      await show(row);
      schedulePoll();
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) panel.hidden = true;
      else fail(error);
    }
  };

  /** While the corrected masks are being measured, re-read the row. */
  const schedulePoll = (): void => {
    if (!current || current.measured_revision === current.revision || polls > POLL_LIMIT) return;
    const failed = current.remeasure?.state === "failed";
    if (failed) return say(`Re-measurement failed: ${current.remeasure?.error ?? ""}`);
    polls++;
    window.setTimeout(() => {
      if (!current) return;
      void api.get(current.id).then((row) => {
        if (!current || row.id !== current.id) return;
        current = { ...current, ...row, masks: current.masks };
        render();
        schedulePoll();
      }, fail);
    }, POLL_MS);
  };

  const write = async (action: () => Promise<unknown>, done: string): Promise<void> => {
    try {
      await action();
      polls = 0;
      await load(current?.id);
      say(done);
    } catch (error) {
      fail(error);
    }
  };

  overlay.onPainted = (uid) => {
    dirty.add(uid);
    render();
  };
  select.addEventListener("change", () => void show(rows.find((m) => String(m.id) === select.value) ?? null));
  byId("mask-goto").addEventListener("click", () => {
    const uid = current?.masks[0]?.sop_instance_uid;
    const index = viewer.source.geometry.slices.findIndex((s) => s.sopInstanceUid === uid);
    if (index >= 0) viewer.setSlice(index);
    markSlice();
  });
  const toggle = byId<HTMLInputElement>("mask-toggle");
  toggle.addEventListener("change", () => overlay.setEnabled(toggle.checked));
  const opacity = byId<HTMLInputElement>("mask-opacity");
  opacity.addEventListener("input", () => overlay.setOpacity(Number(opacity.value) / 100));
  const tool = byId<HTMLSelectElement>("mask-tool");
  tool.addEventListener("change", () => setTool(tool.value as Tool));
  const tissue = byId<HTMLSelectElement>("mask-tissue");
  tissue.addEventListener("change", () => (overlay.tissue = Number(tissue.value)));
  const size = byId<HTMLInputElement>("mask-size");
  size.addEventListener("input", () => (overlay.brushRadius = Math.max(0, Number(size.value) || 0)));
  overlay.brushRadius = Number(size.value) || 4;
  byId("mask-discard").addEventListener("click", () => void show(current));
  byId("mask-reload").addEventListener("click", () => void load());
  byId("mask-save").addEventListener("click", () => {
    const row = current;
    if (!row || dirty.size === 0) return;
    void write(async () => {
      const slices = await Promise.all([...dirty].map((uid) => encodeMask(uid, maps.get(uid)!)));
      return api.correct(row.id, row.revision, slices);
    }, "Saved; the level is being measured again.");
  });
  byId("mask-undo").addEventListener("click", () => current && void write(() => api.undo(current!.id, current!.revision), "Undone."));
  byId("mask-submit").addEventListener("click", () => current && void write(() => api.submit(current!.id), "Submitted for review."));
  const comment = byId<HTMLTextAreaElement>("mask-comment");
  const decide = (decision: "verify" | "return") => (): void => {
    if (!current) return;
    if (decision === "return" && !comment.value.trim()) return say("Say what needs fixing when returning.");
    const text = comment.value.trim();
    void write(() => api.review(current!.id, decision, text), decision === "verify" ? "Verified." : "Returned.");
    comment.value = "";
  };
  byId("mask-verify").addEventListener("click", decide("verify"));
  byId("mask-return").addEventListener("click", decide("return"));
  viewer.on("slice", () => markSlice());
  panel.hidden = false;
  void load();
}
