// The platform's CSP as the browser enforces it: an inline script and an inline
// event handler injected into a real page are refused (securitypolicyviolation
// seen, nothing ran), and a foreign page cannot frame the platform.
// Input (env): BASE_URL, USERNAME, PASSWORD, PAGE (path). Output: JSON on stdout.
import { launch, logIn } from "./browser.mjs";

const env = process.env;
const browser = await launch();
try {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI });
    });
  });
  const page = await context.newPage();
  const consoleLines = [];
  page.on("console", (msg) => consoleLines.push(msg.text()));
  await logIn(page, env.BASE_URL, env.USERNAME, env.PASSWORD);

  // Inject into the server's own HTML, keeping its headers (the CSP among them).
  const injected = '<script>window.__inline = "script"</script>'
    + '<img src="/static/none.png" onerror="window.__inline = \'handler\'">';
  await page.route(`${env.BASE_URL}${env.PAGE}`, async (route) => {
    const response = await route.fetch();
    const body = (await response.text()).replace("</body>", `${injected}</body>`);
    await route.fulfill({ response, body });
  });
  const response = await page.goto(`${env.BASE_URL}${env.PAGE}`);
  await page.waitForLoadState("networkidle").catch(() => {});
  const csp = (await response.allHeaders())["content-security-policy"] || "";
  const inline = await page.evaluate(() => window.__inline ?? null);
  const violations = await page.evaluate(() => window.__violations);
  const marked = await page.evaluate(() => document.body.innerHTML.includes("window.__inline"));

  // A page of another origin that frames the platform: frame-ancestors 'none'.
  const framer = await context.newPage();
  framer.on("console", (msg) => consoleLines.push(msg.text()));
  await framer.setContent(`<iframe id="f" src="${env.BASE_URL}/login/"></iframe>`);
  await framer.waitForTimeout(1500);
  const frame = framer.frames().find((f) => f !== framer.mainFrame());
  const framedLogin = frame ? await frame.$("#id_username").then((el) => el !== null).catch(() => false) : false;

  console.log(JSON.stringify({ csp, inline, violations, marked, framedLogin, console: consoleLines }));
} finally {
  await browser.close();
}
