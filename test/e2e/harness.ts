/**
 * Shared end-to-end harness: browser mode started as a real child process (the same entry point as
 * `npm run web`) and Debian's Chromium driven by playwright-core. Screenshots go to test-artifacts/e2e/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';

export const ROOT = path.resolve(__dirname, '../..');
export const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'e2e');

export interface BrowserMode {
  url: string;
  port: number;
  token: string;
  home: string;
  proc: ChildProcess;
  /** everything the server printed on stderr (its log) */
  log: () => string;
  close(): Promise<void>;
}

/** Starts `main/server/cli.ts` with a private user-data folder (`home`, reused if given). */
export async function startBrowserMode(opts: { home?: string; session?: string; port?: number; env?: Record<string, string>; args?: string[] } = {}): Promise<BrowserMode> {
  const home = opts.home ?? fs.mkdtempSync(path.join(os.tmpdir(), 'slab-e2e-'));
  const args = [path.join(ROOT, 'bin/run-ts'), path.join(ROOT, 'main/server/cli.ts'), '--json', '--port', String(opts.port ?? 0)];
  if (opts.session) args.push('--session', opts.session);
  args.push(...(opts.args ?? []));
  const proc = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, SPARSITY_LAB_HOME: home, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d.toString()));
  const first = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`browser mode did not start in 60 s; stderr:\n${stderr}`)), 60_000);
    proc.stdout!.on('data', (d) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl));
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`browser mode exited with ${code}; stderr:\n${stderr}`));
    });
  });
  const info = JSON.parse(first) as { url: string; port: number; token: string };
  return {
    ...info,
    home,
    proc,
    log: () => stderr,
    close: () => stopServer(proc),
  };
}

/** Ends a browser-mode server process: SIGTERM, then SIGKILL if it has not exited within 5 s. */
export async function stopServer(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
  if (proc.exitCode === null) proc.kill('SIGKILL');
}

export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

export function chromiumPath(): string {
  const p = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!fs.existsSync(p)) throw new Error(`Chromium not found at ${p}: install it with 'apt-get install -y chromium' (.ci/run does)`);
  return p;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_FLAGS });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Collects page errors and console errors so a test can assert there were none. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/favicon/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return errors;
}

export interface LabOptions {
  /** the server's user-data folder (SPARSITY_LAB_HOME); default: the lab's work folder */
  home?: string;
  /** the session the server opens (`--session`) */
  session?: string;
  env?: Record<string, string>;
  /** more flags for main/server/cli.ts (e.g. --start) */
  args?: string[];
  /** of the first page (default 1360 × 900) */
  viewport?: { width: number; height: number };
  acceptDownloads?: boolean;
  /** runs on the first page before anything loads in it (e.g. an init script) */
  pageInit?: (page: Page) => Promise<unknown>;
}

/** Browser mode and Chromium with one page on it, its page and console errors collected. */
export interface Lab {
  /** a private temporary folder for the file's data, removed at the end */
  work: string;
  server: BrowserMode;
  browser: Browser;
  page: Page;
  errors: string[];
}

/** Starts browser mode (startBrowserMode) and Chromium, and opens a page on it; `close` ends both. */
export async function openLab(work: string, opts: LabOptions = {}): Promise<Lab & { close(): Promise<void> }> {
  const server = await startBrowserMode({ home: opts.home ?? work, session: opts.session, env: opts.env, args: opts.args });
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: opts.viewport ?? { width: 1360, height: 900 }, acceptDownloads: opts.acceptDownloads });
    const errors = watchErrors(page);
    await opts.pageInit?.(page);
    const b = browser;
    const close = async () => {
      await b.close();
      await server.close();
    };
    return { work, server, browser, page, errors, close };
  } catch (e) {
    await browser?.close();
    await server.close();
    throw e;
  }
}

/**
 * One lab for a test file: the work folder exists at once (`lab.work`, named `<prefix>…` under the temp folder);
 * `setup` runs in beforeAll (make checkpoints and sessions there) and says how to start; the server, Chromium and
 * `lab.page` are ready for the tests; afterAll closes them (a server a test restarted into `lab.server` too) and
 * removes the work folder.
 */
export function useLab(prefix: string, setup?: (work: string) => LabOptions | void | Promise<LabOptions | void>): Lab {
  const lab = { work: fs.mkdtempSync(path.join(os.tmpdir(), prefix)) } as Partial<Lab> & { work: string };
  beforeAll(async () => {
    const opts = (await setup?.(lab.work)) ?? {};
    const { close: _close, ...opened } = await openLab(lab.work, opts);
    Object.assign(lab, opened);
  });
  afterAll(async () => {
    // the fields, not openLab's close: a test may restart the server (lab.server = await startBrowserMode(…))
    await lab.browser?.close();
    await lab.server?.close();
    fs.rmSync(lab.work, { recursive: true, force: true, maxRetries: 5, retryDelay: 500 });
  });
  return lab as Lab;
}
