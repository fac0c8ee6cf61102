/** Choosing levels for segmentation and body composition, and starting the
 * job for them. The platform resolves each level's mid-slice from the
 * verified labels or the classification; its refusal (no levels yet, a level
 * absent) is shown as it comes. */

import { startBodyComposition } from "../api/jobs";
import { SARCOPENIA_LEVELS } from "../levels/vocabulary";
import { byId, el, setText } from "./dom";

export const MEASURE_NEEDS_RIGHTS = "Starting segmentation needs a role that may run jobs.";

export function mountMeasurePanel(opts: {
  apiRoot: string;
  projectId: number;
  seriesId: number;
  canRun: boolean;
  onStarted: () => void;
}): void {
  const box = byId("measure-levels");
  box.replaceChildren(
    ...SARCOPENIA_LEVELS.map((level) => {
      const input = el("input", { attrs: { type: "checkbox", value: level, name: "measure-level" } });
      input.checked = level === "L3";
      return el("label", { className: "check" }, [input, ` ${level}`]);
    }),
  );
  const button = byId<HTMLButtonElement>("measure-start");
  const note = byId("measure-note");
  button.disabled = !opts.canRun;
  button.title = opts.canRun ? "Segment muscle and fat at the chosen levels and measure them" : MEASURE_NEEDS_RIGHTS;
  setText(note, opts.canRun ? "" : MEASURE_NEEDS_RIGHTS);
  button.addEventListener("click", () => {
    const levels = [...box.querySelectorAll<HTMLInputElement>("input:checked")].map((input) => input.value);
    if (!levels.length) {
      setText(note, "Choose at least one level.");
      return;
    }
    button.disabled = true;
    startBodyComposition(opts.apiRoot, opts.projectId, opts.seriesId, levels)
      .then((job) => {
        setText(note, `Body composition job #${job.id} queued for ${levels.join(", ")}.`);
        opts.onStarted();
      })
      .catch((error: unknown) => setText(note, (error as Error).message))
      .finally(() => {
        button.disabled = false;
      });
  });
}
