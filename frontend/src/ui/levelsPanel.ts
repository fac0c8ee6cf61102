/** The levels panel: which labels the bands show, the level table (click to
 * jump), the model's flags, and agreement per level. */

import type { LabelsState } from "../levels/labelsState";
import type { LevelRange } from "../levels/ranges";
import { levelColour, rgbCss } from "../levels/vocabulary";
import { byId, el } from "./dom";

export function mountLevelsPanel(state: LabelsState, jump: (range: LevelRange) => void): () => void {
  const select = byId<HTMLSelectElement>("band-source");
  const tbody = byId("level-table").querySelector("tbody")!;
  const flags = byId("level-flags");
  const agreement = byId("agreement-table");

  const renderSources = (): void => {
    const data = state.data;
    if (!data) return;
    const options: HTMLOptionElement[] = [];
    if (data.model) options.push(option("model", `Model ${data.model.model_name} v${data.model.model_version}`));
    for (const track of data.tracks) {
      const mine = track.id === data.mine ? " (mine)" : "";
      options.push(option(`track:${track.id}`, `${track.author}${mine}, ${track.scheme}, rev. ${track.revision}`));
    }
    select.replaceChildren(...options);
    select.value = state.source;
    select.disabled = options.length < 2;
    renderFlags();
    renderAgreement();
  };

  const renderTable = (): void => {
    const rows = state.ranges().map((range) => {
      const swatch = el("span", { className: "swatch" });
      swatch.style.backgroundColor = rgbCss(levelColour(range.level));
      const button = el("button", { text: range.level, className: "link", attrs: { type: "button" } });
      button.addEventListener("click", () => jump(range));
      const confidence = range.confidence === null ? "–" : `${Math.round(range.confidence * 100)} %`;
      return el("tr", { attrs: { "data-level": range.level } }, [
        el("td", {}, [swatch, button]),
        el("td", { text: `${range.start + 1}–${range.end + 1}` }),
        el("td", { text: confidence }),
      ]);
    });
    tbody.replaceChildren(...rows);
  };

  const renderFlags = (): void => {
    const list = state.data?.model?.flags ?? [];
    flags.replaceChildren(...list.map((flag) => el("li", { text: `${flag.code}: ${flag.message}` })));
  };

  const renderAgreement = (): void => {
    const rows = state.data?.agreement ?? [];
    agreement.hidden = rows.length === 0;
    const percent = (v: number | null): string => (v === null ? "–" : `${Math.round(v * 100)} %`);
    agreement.querySelector("tbody")!.replaceChildren(
      ...rows.map((row) =>
        el("tr", {}, [
          el("td", { text: row.level }),
          el("td", { text: percent(row.model_vs_human) }),
          el("td", { text: percent(row.between_labelers) }),
          el("td", { text: String(row.slices) }),
        ]),
      ),
    );
  };

  const onSelect = (): void => state.setSource(select.value as LabelsState["source"]);
  select.addEventListener("change", onSelect);
  const offChanged = state.on("changed", () => {
    renderSources();
    renderTable();
  });
  const offSource = state.on("source", () => {
    select.value = state.source;
    renderTable();
  });
  return () => {
    select.removeEventListener("change", onSelect);
    offChanged();
    offSource();
  };
}

function option(value: string, text: string): HTMLOptionElement {
  return el("option", { text, attrs: { value } });
}
