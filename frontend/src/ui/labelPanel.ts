/** Label correction for labelers: assign a level (fine or coarse scheme) to a
 * slice range, mark disc slices, move a boundary between two levels, undo,
 * submit for review, and the edit history. Every write names the revision it
 * was based on; a stale or locked answer reloads the labels. */

import { ApiError } from "../api/http";
import type { LabelsApi } from "../api/labels";
import { boundaries, boundaryMoveEdit, describeEdit, rangeEdit, type LabelEdit } from "../levels/editing";
import type { LabelsState } from "../levels/labelsState";
import { UndoStack } from "../levels/undoStack";
import { DISC, SCHEMES, type SchemeName } from "../levels/vocabulary";
import { byId, el, setText } from "./dom";

export interface LabelPanelContext {
  api: LabelsApi;
  state: LabelsState;
  currentSlice: () => number;
  reload: () => Promise<void>;
}

export function mountLabelPanel({ api, state, currentSlice, reload }: LabelPanelContext): void {
  const panel = byId("label-panel");
  const scheme = byId<HTMLSelectElement>("label-scheme");
  const level = byId<HTMLSelectElement>("edit-level");
  const start = byId<HTMLInputElement>("edit-start");
  const end = byId<HTMLInputElement>("edit-end");
  const boundary = byId<HTMLSelectElement>("edit-boundary");
  const undo = byId<HTMLButtonElement>("edit-undo");
  const message = byId("label-message");
  const history = byId("history-list");
  const session = new UndoStack<LabelEdit>();
  let busy = false;

  const fillLevels = (): void => {
    const names = SCHEMES[scheme.value as SchemeName] ?? SCHEMES.fine;
    level.replaceChildren(...names.map((name) => el("option", { text: name, attrs: { value: name } })));
    if (names.includes("L3")) level.value = "L3";
  };

  const sliceCount = (): number => state.data?.slice_count ?? 0;
  const here = (input: HTMLInputElement) => () => (input.value = String(currentSlice() + 1));

  const send = async (edit: LabelEdit | null): Promise<void> => {
    if (!edit || busy) return;
    setText(message, "Saving…");
    const revision = state.mine?.revision ?? 0;
    await write(async () => {
      const track = await api.edit({ base_revision: revision, ...edit, scheme: scheme.value as SchemeName });
      session.push(edit);
      state.updateTrack(track);
      setText(message, `Saved: ${describeEdit(edit)}.`);
    });
  };

  const write = async (action: () => Promise<void>): Promise<void> => {
    busy = true;
    try {
      await action();
    } catch (error) {
      const status = error instanceof ApiError ? error.status : 0;
      const stale = status === 409 || status === 423;
      setText(message, `${(error as Error).message}${stale ? " The labels were reloaded." : ""}`);
      if (stale) await reload();
    } finally {
      busy = false;
      render();
    }
  };

  const assign = (label: string | null) => () => {
    const edit = rangeEdit(Number(start.value) - 1, Number(end.value) - 1, label, sliceCount());
    if (!edit) return setText(message, "Give the first and last slice of the range.");
    void send(edit);
  };

  const moveBoundary = (): void => {
    const found = boundaries(state.baseLabels())[Number(boundary.value)];
    if (!found) return setText(message, "Choose a boundary first.");
    const edit = boundaryMoveEdit(state.baseLabels(), found, currentSlice());
    if (!edit) return setText(message, `The boundary cannot move to slice ${currentSlice() + 1}: go to a slice inside ${found.above} or ${found.below}.`);
    void send(edit);
  };

  const undoLast = (): void => {
    const track = state.mine;
    if (!track) return;
    setText(message, "Undoing…");
    void write(async () => {
      const updated = await api.undo(track.revision);
      const undone = session.pop();
      state.updateTrack(updated);
      setText(message, undone ? `Undone: ${describeEdit(undone)}.` : "Last edit undone.");
    });
  };

  const submit = (): void => {
    void write(async () => {
      await api.submit("");
      await reload();
      setText(message, "Submitted for review.");
    });
  };

  const render = (): void => {
    const data = state.data;
    panel.hidden = !data?.permissions.label;
    if (!data) return;
    const locked = data.locked;
    byId("label-lock").hidden = !locked;
    panel.querySelectorAll<HTMLButtonElement | HTMLInputElement | HTMLSelectElement>("button, input, select").forEach((control) => {
      control.disabled = locked || busy;
    });
    const mine = state.mine;
    undo.disabled = locked || busy || !mine || mine.revision === 0;
    const next = session.peek();
    undo.textContent = next ? `Undo (${describeEdit(next)})` : "Undo";
    boundary.replaceChildren(
      ...boundaries(state.baseLabels()).map((b, i) =>
        el("option", { text: `${b.above} | ${b.below} at slice ${b.at + 1}`, attrs: { value: String(i) } }),
      ),
    );
    if (mine && scheme.dataset["touched"] !== "1" && scheme.value !== mine.scheme) {
      scheme.value = mine.scheme;
      fillLevels();
    }
  };

  const loadHistory = async (): Promise<void> => {
    try {
      const entries = await api.history();
      history.replaceChildren(...entries.map((entry) => el("li", { text: historyLine(entry) })));
    } catch (error) {
      history.replaceChildren(el("li", { text: (error as Error).message }));
    }
  };

  scheme.addEventListener("change", () => {
    scheme.dataset["touched"] = "1";
    fillLevels();
  });
  byId("edit-start-here").addEventListener("click", here(start));
  byId("edit-end-here").addEventListener("click", here(end));
  byId("edit-assign").addEventListener("click", () => assign(level.value)());
  byId("edit-disc").addEventListener("click", assign(DISC));
  byId("edit-clear").addEventListener("click", assign(null));
  byId("edit-move").addEventListener("click", moveBoundary);
  undo.addEventListener("click", undoLast);
  byId("label-submit").addEventListener("click", submit);
  byId("label-history").addEventListener("toggle", () => void loadHistory());
  fillLevels();
  state.on("changed", () => {
    render();
    if ((byId("label-history") as HTMLDetailsElement).open) void loadHistory();
  });
  render();
}

/** One history entry as text (the server's fields: author, at, operation,
 * start, end, label, revision, undoes, comment). */
export function historyLine(entry: Record<string, unknown>): string {
  const who = String(entry["author"] ?? entry["by"] ?? "");
  const when = String(entry["at"] ?? "").replace("T", " ").slice(0, 16);
  const operation = String(entry["operation"] ?? entry["kind"] ?? "edit");
  const start = entry["start"];
  const end = entry["end"];
  let what = operation;
  if (operation === "undo") what = "undo of the previous edit";
  else if (typeof start === "number" && typeof end === "number") {
    what = describeEdit({ start, end, label: (entry["label"] ?? null) as string | null });
  }
  const comment = entry["comment"] ? ` “${String(entry["comment"])}”` : "";
  return `${when} ${who}: ${what}${comment}`.trim();
}
