/** Live jobs of the series: polled while the page is open (fast while one is
 * active), with progress, queue position, failures and their message; a
 * button starts a classification. A job that finishes reloads the labels. */

import { listSeriesJobs, startClassification, type Job } from "../api/jobs";
import { byId, el, setText } from "./dom";

const ACTIVE = new Set(["queued", "running"]);
const FAST_MS = 2000;
const SLOW_MS = 15000;

export function mountJobPanel(opts: {
  apiRoot: string;
  projectId: number;
  seriesId: number;
  canRun: boolean;
  onFinished: () => void;
}): { stop: () => void; refresh: () => void } {
  const list = byId("job-list");
  const message = byId("job-message");
  const button = byId<HTMLButtonElement>("job-classify");
  button.hidden = !opts.canRun;
  let timer = 0;
  let stopped = false;
  const active = new Set<number>();

  const poll = async (): Promise<void> => {
    let delay = SLOW_MS;
    try {
      const jobs = await listSeriesJobs(opts.apiRoot, opts.seriesId);
      render(jobs);
      const now = new Set(jobs.filter((job) => ACTIVE.has(job.state)).map((job) => job.id));
      if ([...active].some((id) => !now.has(id))) opts.onFinished();
      active.clear();
      now.forEach((id) => active.add(id));
      if (now.size) delay = FAST_MS;
      button.disabled = jobs.some((job) => job.job_type === "classify_levels" && ACTIVE.has(job.state));
    } catch (error) {
      setText(message, `Jobs unavailable: ${(error as Error).message}`);
    }
    if (!stopped) timer = window.setTimeout(() => void poll(), delay);
  };

  const render = (jobs: Job[]): void => {
    list.replaceChildren(...jobs.slice(0, 10).map(jobItem));
    if (!jobs.length) list.replaceChildren(el("li", { text: "No jobs for this series yet.", className: "hint" }));
  };

  const start = async (): Promise<void> => {
    button.disabled = true;
    try {
      const job = await startClassification(opts.apiRoot, opts.projectId, opts.seriesId);
      setText(message, `Classification job #${job.id} queued.`);
    } catch (error) {
      setText(message, (error as Error).message);
      button.disabled = false;
    }
    window.clearTimeout(timer);
    void poll();
  };

  button.addEventListener("click", () => void start());
  void poll();
  return {
    stop: () => {
      stopped = true;
      window.clearTimeout(timer);
    },
    refresh: () => {
      window.clearTimeout(timer);
      void poll();
    },
  };
}

function jobItem(job: Job): HTMLLIElement {
  const progress = el("progress", { attrs: { max: "1", value: String(job.progress) } });
  const parts: (Node | string)[] = [
    el("strong", { text: `#${job.id} ${job.job_type}` }),
    " ",
    el("span", { text: job.state, className: `state state-${job.state}` }),
    " ",
    progress,
    ` ${Math.round(job.progress * 100)} %`,
  ];
  if (job.queue && job.state === "queued") {
    const eta = job.queue.estimated_start ? `, starts about ${job.queue.estimated_start.slice(11, 16)} UTC` : "";
    parts.push(el("div", { text: `Queue position ${job.queue.position}${eta}`, className: "hint" }));
  }
  if (job.message) parts.push(el("div", { text: job.message, className: "hint" }));
  if (job.state === "failed") parts.push(el("div", { text: job.error || "Failed without a message.", className: "error" }));
  return el("li", { attrs: { "data-job": String(job.id), "data-state": job.state } }, parts);
}
