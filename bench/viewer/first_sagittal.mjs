// Drive the viewer for bench/viewer/first_sagittal.py: log in, then open the
// viewer REPEATS times in fresh pages (the browser cache keeps the static
// assets, as for a returning user) and report, per run, the time from
// navigation start to the first sagittal image and to the complete volume.
// Input (env): BASE_URL, USERNAME, PASSWORD, VIEWER_PATH, REPEATS. Output: JSON.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { launch, logIn } from "../../tests/browser/browser.mjs";

/** Resident memory (MB) of the processes below `rootPid` (this script), i.e.
 * the browser and all its children (renderer, GPU, utility). */
function browserRssMB(rootPid) {
  const parent = new Map();
  const rss = new Map();
  for (const name of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
      const status = readFileSync(`/proc/${name}/status`, "utf8");
      rss.set(Number(name), Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0));
    } catch {
      // the process ended meanwhile
    }
  }
  const isDescendant = (pid) => {
    for (let p = parent.get(pid) ?? 0; p > 1; p = parent.get(p) ?? 0) if (p === rootPid) return true;
    return false;
  };
  let kb = 0;
  for (const [pid, value] of rss) if (isDescendant(pid)) kb += value;
  return Math.round(kb / 1024);
}

const env = process.env;
const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1500, height: 950 } });
  const login = await context.newPage();
  await logIn(login, env.BASE_URL, env.USERNAME, env.PASSWORD);
  await login.close();
  const runs = [];
  for (let i = 0; i < Number(env.REPEATS || 3); i++) {
    const page = await context.newPage();
    let peakRssMB = 0;
    const sampler = setInterval(() => (peakRssMB = Math.max(peakRssMB, browserRssMB(process.pid))), 250);
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    // CPU_PROFILE=path: a V8 CPU profile of the last run up to the first image (for a look in DevTools).
    const cdp = env.CPU_PROFILE && i === Number(env.REPEATS || 3) - 1 ? await context.newCDPSession(page) : null;
    if (cdp) await cdp.send("Profiler.enable").then(() => cdp.send("Profiler.start"));
    await page.goto(`${env.BASE_URL}${env.VIEWER_PATH}`);
    await page.waitForFunction(() => document.getElementById("viewer").dataset.firstSagittalMs, null, { timeout: 120000 });
    if (cdp) writeFileSync(env.CPU_PROFILE, JSON.stringify((await cdp.send("Profiler.stop")).profile));
    await page.waitForFunction(() => ["complete", "error"].includes(document.getElementById("viewer").dataset.state), null, { timeout: 300000 });
    const data = await page.$eval("#viewer", (v) => ({ ...v.dataset, completeMs: performance.now() }));
    const memory = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? null);
    // Where the time went: the page's marks, and each proxy request up to the first image.
    const timeline = await page.evaluate((firstMs) => ({
      marks: Object.fromEntries(performance.getEntriesByType("mark").map((m) => [m.name, Math.round(m.startTime)])),
      requests: performance
        .getEntriesByType("resource")
        .filter((r) => r.startTime < firstMs)
        .map((r) => `${Math.round(r.startTime)}-${Math.round(r.responseEnd)} ${new URL(r.name).pathname.replace(/[0-9.]{20,}/g, "…")}`),
    }), Number(data.firstSagittalMs));
    clearInterval(sampler);
    runs.push({
      firstSagittalMs: Number(data.firstSagittalMs),
      metadataMs: Number(data.metadataMs),
      metadataSource: data.metadataSource,
      completeMs: Math.round(data.completeMs),
      state: data.state,
      jsHeapMB: memory === null ? null : Math.round(memory / 1e6),
      peakRssMB,
      errors,
      timeline,
    });
    await page.close();
  }
  console.log(JSON.stringify({ runs }));
} finally {
  await browser.close();
}
