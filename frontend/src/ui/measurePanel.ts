/** Choosing levels for segmentation and body composition. The job type does
 * not exist on the platform yet, so the button is present but disabled and
 * says why. */

import { SARCOPENIA_LEVELS } from "../levels/vocabulary";
import { byId, el } from "./dom";

export const MEASURE_UNAVAILABLE =
  "Segmentation and body composition are not available yet: the platform has no such job type. " +
  "Choose the levels now; the button will start the job once it exists.";

export function mountMeasurePanel(): void {
  const box = byId("measure-levels");
  box.replaceChildren(
    ...SARCOPENIA_LEVELS.map((level) => {
      const input = el("input", { attrs: { type: "checkbox", value: level, name: "measure-level" } });
      input.checked = level === "L3";
      return el("label", { className: "check" }, [input, ` ${level}`]);
    }),
  );
  const button = byId<HTMLButtonElement>("measure-start");
  button.disabled = true;
  button.title = MEASURE_UNAVAILABLE;
  byId("measure-note").textContent = MEASURE_UNAVAILABLE;
}
