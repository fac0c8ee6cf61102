// Live job progress on the project page: while a listed job is queued or
// running, poll the jobs API and update its state, progress and message
// (text only: nothing from the server is parsed as HTML).
"use strict";

(function () {
  const table = document.getElementById("jobs-table");
  if (!table) return;
  const project = table.dataset.project;
  const active = new Set(["queued", "running"]);

  function rowsActive() {
    return Array.from(table.querySelectorAll("tr[data-job] .state")).some((el) =>
      active.has(el.textContent.trim()),
    );
  }

  function update(job) {
    const row = table.querySelector(`tr[data-job="${Number(job.id)}"]`);
    if (!row) return;
    const state = row.querySelector(".state");
    state.textContent = job.state;
    state.className = `state state-${job.state}`;
    row.querySelector(".job-progress").textContent = `${Math.round(100 * job.progress)} %`;
    const message = job.error ? `${job.message} — ${job.error.slice(0, 200)}` : job.message;
    row.querySelector(".job-message").textContent = message;
  }

  async function poll() {
    if (!rowsActive()) return;
    try {
      const response = await fetch(`/api/v1/jobs/?project=${encodeURIComponent(project)}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.ok) {
        const data = await response.json();
        (data.results || data).forEach(update);
      }
    } finally {
      window.setTimeout(poll, 3000);
    }
  }

  window.setTimeout(poll, 2000);
})();
