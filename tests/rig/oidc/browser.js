// Drives the strict provider's pages with headless Debian chromium, as a person would, and prints
// one JSON object on stdout: {url, status, title, text} of the page the person ends on.
//
//   node browser.js authorize URL [--login USER] [--deny] [--stop-at PREFIX] [--screenshot FILE]
//   node browser.js device URL [--login USER] [--deny] [--screenshot FILE]
//   node browser.js open URL [--screenshot FILE]
//   node browser.js serve
//
// authorize: opens the authorization URL, signs in as USER (default: the login_hint already in the
//   form), presses Continue (or Abort with --deny) on the consent page, and follows the redirect to
//   the application. With --stop-at the navigation to a URL starting with PREFIX is not made; its
//   URL is printed instead (a test can then tamper with it).
// device: opens verification_uri_complete, confirms the code, signs in, consents.
// open: just loads a page (e.g. a callback URL again).
// serve: one chromium for many runs (the tests' way: a browser start per run costs seconds). Reads
//   one JSON command a line on stdin, {"id", "args": ["authorize", URL, "--login", USER, ...]},
//   and answers each with one line {"id", "result"} or {"id", "error"}; runs may overlap. Every
//   run gets a fresh incognito browser context (no cookies or storage shared with another run),
//   as a run of its own browser would. Exits, closing chromium, when stdin ends.
//
// The browser trusts exactly the rig's server certificate (by its SPKI hash), nothing else.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import puppeteer from 'puppeteer-core';

const usage = 'usage: browser.js authorize|device|open URL [--login USER] [--deny] [--stop-at PREFIX] [--screenshot FILE] | browser.js serve';
const timeout = Number(process.env.RIG_BROWSER_TIMEOUT_MS ?? 30000);
// A form of the provider's, the way a person sees one: only these pages ask for an action.
const actionable = 'input[name=login], input[name=prompt][value=consent], [id="op.deviceConfirmForm"], [id="op.deviceInputForm"]';
// The provider's pages that ask for nothing (titles): the rig's error page (server.js renderError),
// oidc-provider's own error page, and the device flow's success page.
const finalTitles = ['oops', 'oops! something went wrong', 'Sign-in Success'];

function parse(args) {
  const [mode, startUrl, ...rest] = args;
  const opt = {};
  for (let i = 0; i < rest.length; i++) {
    const name = rest[i].replace(/^--/, '');
    if (name === 'deny') opt.deny = true;
    else opt[name] = rest[++i];
  }
  if (!['authorize', 'device', 'open'].includes(mode) || !startUrl) throw new Error(usage);
  return { mode, startUrl, opt };
}

async function launch() {
  const runDir = process.env.MAILGRPC_RIG_DIR ?? '/tmp/mailgrpc-rig';
  const cert = new crypto.X509Certificate(fs.readFileSync(path.join(runDir, 'tls/server.crt')));
  const spki = crypto.createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mailgrpc-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    userDataDir: profile,
    pipe: true, // DevTools over a pipe, not a port: nothing else can drive this browser
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
      `--ignore-certificate-errors-spki-list=${spki}`,
    ],
  });
  const close = async () => {
    await browser.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { browser, close };
}

// Evaluates once the page has stopped moving (a page may navigate by itself, e.g. a redirect after load).
async function settled(page, fn) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await page.evaluate(fn);
    } catch (e) {
      if (attempt >= 5 || !/context was destroyed|detached/i.test(String(e))) throw e;
      await page.waitForNavigation({ waitUntil: 'load', timeout: 5000 }).catch(() => {});
    }
  }
}

// One run, in a fresh incognito context of BROWSER: what a person does from startUrl on.
async function drive(browser, { mode, startUrl, opt }) {
  const context = await browser.createBrowserContext();
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(timeout);
    let stopped;
    let onStopped;
    const stop = new Promise((resolve) => { onStopped = resolve; });
    // Nothing leaves loopback (the provider's dev pages import a web font).
    await page.setRequestInterception(true);
    page.on('request', (req) => {
      const host = new URL(req.url()).hostname;
      if (opt['stop-at'] && req.isNavigationRequest() && req.url().startsWith(opt['stop-at'])) {
        stopped = req.url();
        req.abort('aborted');
        onStopped(); // an aborted navigation loads nothing: the run ends here, not at a navigation timeout
      } else if (host !== '127.0.0.1' && host !== 'localhost' && !req.url().startsWith('data:')) {
        req.abort('blockedbyclient');
      } else {
        req.continue();
      }
    });

    const issuerOrigin = new URL(startUrl).origin;
    let response = await page.goto(startUrl, { waitUntil: 'load' });
    // Each step is a form on a page of the provider; act on what is shown until we leave it.
    for (let step = 0; step < 8 && !stopped; step++) {
      if (new URL(page.url()).origin !== issuerOrigin || mode === 'open') break;
      // On a loaded machine a page can be read between a navigation and its form: wait for a form to show, or for
      // a known page that asks for nothing, before deciding. Another page of the provider's is taken as final
      // after a bounded wait, as before.
      await page.waitForFunction(
        (sel, titles) => !!document.querySelector(sel) || (document.readyState === 'complete' && titles.includes(document.title)),
        { timeout: 3000, polling: 50 },
        actionable,
        finalTitles,
      ).catch(() => {});
      const shown = await settled(page, () => ({
        login: !!document.querySelector('input[name=login]'),
        consent: !!document.querySelector('input[name=prompt][value=consent]'),
        deviceConfirm: !!document.getElementById('op.deviceConfirmForm'),
        deviceInput: !!document.getElementById('op.deviceInputForm'),
      }));
      let click;
      if (shown.deviceConfirm) {
        click = opt.deny ? 'button[name=abort]' : 'button[autofocus][form="op.deviceConfirmForm"]';
      } else if (shown.deviceInput) {
        click = 'button[type=submit][form="op.deviceInputForm"]';
      } else if (shown.login) {
        if (opt.login) {
          await page.$eval('input[name=login]', (el) => { el.value = ''; });
          await page.type('input[name=login]', opt.login);
        }
        await page.type('input[name=password]', 'any password');
        click = 'button[type=submit]';
      } else if (shown.consent) {
        click = opt.deny ? 'a[href$="/abort"]' : 'button[type=submit]';
      } else {
        break; // a page with nothing to do: an error or a final page of the provider
      }
      const navigation = page.waitForNavigation({ waitUntil: 'load' });
      navigation.catch(() => {}); // after a stop it is left pending; the context's close ends it
      const [navigated] = await Promise.all([
        Promise.race([navigation, stop.then(() => null)]).catch((e) => (stopped ? null : Promise.reject(e))),
        page.click(click),
      ]);
      response = navigated ?? response;
    }
    if (opt.screenshot) await page.screenshot({ path: opt.screenshot, fullPage: true }).catch(() => {});
    return stopped
      ? { url: stopped, stopped: true }
      : {
        url: page.url(),
        status: response?.status() ?? 0,
        title: await settled(page, () => document.title),
        text: await settled(page, () => document.body?.innerText ?? ''),
        headers: response?.headers() ?? {},
      };
  } finally {
    await context.close().catch(() => {});
  }
}

async function serve() {
  const { browser, close } = await launch();
  const out = (line) => process.stdout.write(JSON.stringify(line) + '\n');
  const running = new Set();
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let command;
    try {
      command = JSON.parse(line);
    } catch {
      out({ id: null, error: 'not a JSON line' });
      continue;
    }
    const run = (async () => {
      try {
        out({ id: command.id, result: await drive(browser, parse(command.args ?? [])) });
      } catch (e) {
        out({ id: command.id, error: String(e?.stack ?? e) });
      }
    })();
    running.add(run);
    run.finally(() => running.delete(run));
  }
  await Promise.allSettled([...running]);
  await close();
}

const args = process.argv.slice(2);
if (args[0] === 'serve') {
  await serve();
} else {
  let run;
  try {
    run = parse(args);
  } catch (e) {
    console.error(e.message);
    process.exit(2);
  }
  const { browser, close } = await launch();
  let result;
  try {
    result = await drive(browser, run);
  } finally {
    await close();
  }
  process.stdout.write(JSON.stringify(result));
}
