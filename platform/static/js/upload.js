// Upload page: one request per file so each file gets its own progress bar and
// report row. Two uploads run at a time. Text from the server is only ever set
// with textContent (never innerHTML), so file names and messages stay inert.
"use strict";

(function () {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("upload-files");
  const tbody = document.querySelector("#upload-table tbody");
  const summary = document.getElementById("upload-summary");
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const PARALLEL = 2;

  function row(name) {
    const tr = document.createElement("tr");
    const nameCell = document.createElement("td");
    nameCell.textContent = name;
    const progressCell = document.createElement("td");
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    progressCell.appendChild(bar);
    const result = document.createElement("td");
    result.textContent = "waiting";
    tr.append(nameCell, progressCell, result);
    tbody.appendChild(tr);
    return { bar, result };
  }

  function describe(status, body) {
    if (!body || !body.counts) {
      return (body && (body.message || body.detail)) || `HTTP ${status}`;
    }
    const parts = Object.entries(body.counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`);
    const problems = (body.files || [])
      .filter((f) => f.status === "rejected" || f.status === "quarantined")
      .slice(0, 3)
      .map((f) => `${f.name}: ${f.message}`);
    return [parts.join(", "), ...problems].join(" · ");
  }

  function send(file, ui, totals) {
    return new Promise((resolve) => {
      const data = new FormData();
      data.append("project", form.dataset.project);
      data.append("files", file, file.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.dataset.endpoint);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) ui.bar.value = Math.round((100 * e.loaded) / e.total);
      };
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
        ui.bar.value = 100;
        ui.result.textContent = describe(xhr.status, body);
        ui.result.className = xhr.status < 300 ? "ok" : "error";
        if (body && body.counts) {
          for (const [k, n] of Object.entries(body.counts)) totals[k] = (totals[k] || 0) + n;
        }
        resolve();
      };
      xhr.onerror = () => {
        ui.result.textContent = "network error: nothing was stored for this file";
        ui.result.className = "error";
        resolve();
      };
      ui.result.textContent = "uploading";
      xhr.send(data);
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = Array.from(input.files);
    if (!files.length) return;
    tbody.replaceChildren();
    const totals = {};
    const queue = files.map((file) => ({ file, ui: row(file.name) }));
    summary.textContent = `Uploading ${files.length} file(s)...`;
    async function worker() {
      while (queue.length) {
        const next = queue.shift();
        await send(next.file, next.ui, totals);
      }
    }
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    summary.textContent = "Done: " + Object.entries(totals).map(([k, n]) => `${n} ${k}`).join(", ");
  });
})();
