// Upload page: files go up in batches as STOW-style multipart/related bodies
// (the API's fast path; one request per file costs the server a request's
// fixed work per slice), two batches at a time. Each file keeps its own
// progress bar (from the batch's upload progress and the file's byte range in
// the body) and its own report row (the rows the server reports under its
// name; zip members as "name/member"). Text from the server is only ever set
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
  const BATCH_FILES = 25;
  const BATCH_BYTES = 32 * 1024 * 1024;
  const PROBLEMS = new Set(["rejected", "quarantined"]);

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

  // Batches of at most BATCH_FILES files and BATCH_BYTES (a larger file goes
  // alone), never two files of the same name: results are matched by name.
  function batches(entries) {
    const out = [];
    let current = [];
    let bytes = 0;
    let names = new Set();
    for (const entry of entries) {
      const name = entry.file.name.trim();
      const full = current.length >= BATCH_FILES || bytes + entry.file.size > BATCH_BYTES;
      if (current.length && (full || names.has(name))) {
        out.push(current);
        current = [];
        bytes = 0;
        names = new Set();
      }
      current.push(entry);
      bytes += entry.file.size;
      names.add(name);
    }
    if (current.length) out.push(current);
    return out;
  }

  function boundary() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // The body as a Blob (the files are referenced, not copied) and where each
  // file's bytes lie in it. Names travel as RFC 5987 filename* (UTF-8).
  function relatedBody(batch, mark) {
    const parts = [];
    let offset = 0;
    for (const entry of batch) {
      const head =
        `--${mark}\r\nContent-Type: application/dicom\r\n` +
        `Content-Disposition: attachment; filename*=UTF-8''${encodeURIComponent(entry.file.name)}` +
        "\r\n\r\n";
      entry.start = offset + head.length; // ASCII only: characters are bytes
      parts.push(head, entry.file, "\r\n");
      offset = entry.start + entry.file.size + 2;
    }
    parts.push(`--${mark}--\r\n`);
    return new Blob(parts);
  }

  function showProgress(batch, loaded) {
    for (const { file, start, ui } of batch) {
      const done = file.size ? (loaded - start) / file.size : loaded >= start ? 1 : 0;
      ui.bar.value = Math.round(100 * Math.min(1, Math.max(0, done)));
    }
  }

  function describe(rows) {
    const counts = {};
    for (const r of rows) counts[r.status] = (counts[r.status] || 0) + 1;
    const parts = Object.entries(counts).map(([k, n]) => `${n} ${k}`);
    const problems = rows.filter((r) => PROBLEMS.has(r.status)).slice(0, 3)
      .map((r) => `${r.name}: ${r.message}`);
    return [parts.join(", "), ...problems].join(" · ");
  }

  function showResults(batch, status, body) {
    const rows = (body && body.files) || [];
    for (const { file, ui } of batch) {
      const name = file.name.trim();
      const mine = rows.filter((r) => r.name === name || r.name.startsWith(`${name}/`));
      ui.bar.value = 100;
      if (mine.length) {
        ui.result.textContent = describe(mine);
        ui.result.className = mine.some((r) => PROBLEMS.has(r.status)) ? "error" : "ok";
      } else {
        // The whole request was refused (size, permission, malformed body), or
        // the server reported this file under a name it had to shorten.
        ui.result.textContent = (body && (body.message || body.detail)) ||
          (status < 300 ? "no report row for this file" : `HTTP ${status}`);
        ui.result.className = status < 300 ? "" : "error";
      }
    }
  }

  function send(batch, totals) {
    return new Promise((resolve) => {
      const mark = boundary();
      const body = relatedBody(batch, mark);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${form.dataset.endpoint}?project=${encodeURIComponent(form.dataset.project)}`);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.setRequestHeader("Content-Type",
        `multipart/related; type="application/dicom"; boundary=${mark}`);
      xhr.upload.onprogress = (e) => showProgress(batch, e.loaded);
      xhr.onload = () => {
        let answer = null;
        try { answer = JSON.parse(xhr.responseText); } catch (err) { answer = null; }
        showResults(batch, xhr.status, answer);
        if (answer && answer.counts) {
          for (const [k, n] of Object.entries(answer.counts)) totals[k] = (totals[k] || 0) + n;
        }
        resolve();
      };
      xhr.onerror = () => {
        for (const { ui } of batch) {
          ui.result.textContent = "network error: nothing was stored for this file";
          ui.result.className = "error";
        }
        resolve();
      };
      for (const { ui } of batch) ui.result.textContent = "uploading";
      xhr.send(body);
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = Array.from(input.files);
    if (!files.length) return;
    tbody.replaceChildren();
    const totals = {};
    const queue = batches(files.map((file) => ({ file, ui: row(file.name) })));
    summary.textContent = `Uploading ${files.length} file(s)...`;
    async function worker() {
      while (queue.length) await send(queue.shift(), totals);
    }
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    summary.textContent = "Done: " + Object.entries(totals).filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${k}`).join(", ");
  });
})();
