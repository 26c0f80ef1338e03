/**
 * What every e2e file stands up once: a fresh base dir, code-server with the packaged .vsix, and
 * headless Chromium; workbench windows are opened on folders through it. stop() undoes it all,
 * whatever part of start() got done.
 */
import type { Browser, Page } from 'playwright-core';
import { type CodeServer, type CodeServerOptions, freshDir, removeDir, startCodeServer } from './codeServer';
import { closeWorkbench, launchBrowser, openWorkbench } from './workbench';

export class WorkbenchHost {
  base = '';
  private codeServer: CodeServer | undefined;
  private chromium: Browser | undefined;

  /** A fresh temp dir `prefix…` for the file's workspaces (removed by stop()). */
  newBase(prefix: string): string {
    this.base = freshDir(prefix);
    return this.base;
  }

  /** code-server on `dir` (default: the base dir), then Chromium. */
  async start(opts: CodeServerOptions & { dir?: string } = {}): Promise<void> {
    const { dir = this.base, ...csOpts } = opts;
    this.codeServer = await startCodeServer(dir, csOpts);
    this.chromium = await launchBrowser();
  }

  get cs(): CodeServer {
    if (!this.codeServer) throw new Error('code-server is not started');
    return this.codeServer;
  }

  get browser(): Browser {
    if (!this.chromium) throw new Error('Chromium is not started');
    return this.chromium;
  }

  /** A workbench window on the folder `ws`. */
  open(ws: string, opts: { locale?: string } = {}): Promise<Page> {
    return openWorkbench(this.browser, this.cs.folderUrl(ws), opts);
  }

  /** Closes `page`, Chromium and code-server, then runs `alsoStop` in order, then removes the base dir. */
  async stop(page: Page | undefined, ...alsoStop: Array<() => Promise<unknown>>): Promise<void> {
    if (page) await closeWorkbench(page);
    await this.chromium?.close().catch(() => undefined);
    await this.codeServer?.stop();
    for (const stop of alsoStop) await stop();
    if (this.base) removeDir(this.base);
  }
}
