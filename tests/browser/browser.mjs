// Shared launcher for browser tests: Debian chromium through playwright-core,
// never a downloaded browser. Records console errors and CSP violations.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

// playwright-core is installed in frontend/node_modules (see frontend/package.json).
const frontend = fileURLToPath(new URL("../../frontend/package.json", import.meta.url));
const { chromium } = createRequire(frontend)("playwright-core");

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

export function watchProblems(page) {
  const problems = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(msg.text());
  });
  page.on("pageerror", (err) => problems.push(String(err)));
  return problems;
}

export async function logIn(page, base, username, password) {
  await page.goto(`${base}/login/`);
  await page.fill("#id_username", username);
  await page.fill("#id_password", password);
  await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
}
