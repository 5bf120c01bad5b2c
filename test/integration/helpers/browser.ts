import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import puppeteer, { type Browser } from "puppeteer-core";
import { CHROMIUM } from "./system_tools";

/** Debian's chromium (`.ci/run` installs it), or CHROMIUM_PATH; null when missing. */
export function chromiumPath(): string | null {
  return CHROMIUM.find();
}

/** A headless chromium with a profile of its own, removed by `close()`. */
export interface HeadlessChromium {
  browser: Browser;
  close(): Promise<void>;
}

/**
 * Launches headless chromium for tests and scripts: no sandbox (root in CI),
 * and none of the background networking that this machine's closed network
 * refuses at every start.
 */
export async function launchChromium(): Promise<HeadlessChromium> {
  const executablePath = chromiumPath();
  if (executablePath === null)
    throw new Error(`chromium not found: ${CHROMIUM.install}`);
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), "chromium-"));
  const browser = await puppeteer.launch({
    executablePath,
    userDataDir,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    browser,
    close: async () => {
      await browser.close().catch(() => {});
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}
