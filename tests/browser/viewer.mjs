// Helpers for the series viewer tests: open the viewer and wait until the
// sagittal volume is complete, report element boxes for pixel checks.
export async function openViewer(page, base, projectId, seriesId, { complete = true } = {}) {
  const started = Date.now();
  await page.goto(`${base}/projects/${projectId}/series/${seriesId}/viewer/`);
  await page.waitForFunction(
    () => ["ready", "complete", "error"].includes(document.getElementById("viewer")?.dataset.state),
    null, { timeout: 90000 });
  const firstImageMs = Date.now() - started;
  if (complete) {
    await page.waitForFunction(
      () => ["complete", "error"].includes(document.getElementById("viewer").dataset.state),
      null, { timeout: 120000 });
  }
  return firstImageMs;
}

export async function viewerInfo(page) {
  return page.evaluate(() => {
    const box = (id) => {
      const r = document.getElementById(id)?.getBoundingClientRect();
      return r ? { x: r.x, y: r.y, width: r.width, height: r.height } : null;
    };
    const root = document.getElementById("viewer");
    return {
      dataset: root ? { ...root.dataset } : null,
      status: document.getElementById("viewer-status")?.textContent ?? "",
      sliceInfo: document.getElementById("slice-info")?.textContent ?? "",
      boxes: { sagittal: box("sagittal-viewport"), axial: box("axial-viewport"), ribbon: box("band-ribbon") },
      levels: [...document.querySelectorAll("#level-table tbody tr")].map((tr) => tr.dataset.level),
    };
  });
}
