import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type Browser, type FrameLocator, type Locator, type Page, chromium } from 'playwright-core';
import { chromiumPath, resultsDir } from './codeServer';
import { waitFor } from './wait';

export { waitFor } from './wait';

/** Flags from the verified recipe (/work/shared/reference/real-vscode-in-ci.md). */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Opens the workbench at `url` (code-server's ?folder= URL) in a fresh browser context. */
export async function openWorkbench(browser: Browser, url: string, opts: { locale?: string } = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, ...(opts.locale ? { locale: opts.locale } : {}) });
  const page = await context.newPage();
  // KDS_E2E_TIMEOUT_MS: a busier machine (many parallel runs on 2 cores) needs longer locator waits.
  page.setDefaultTimeout(Number(process.env.KDS_E2E_TIMEOUT_MS) || 15_000);
  await page.goto(url, { timeout: 90_000 });
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  await page.locator('.statusbar').waitFor({ timeout: 60_000 });
  return page;
}

export async function closeWorkbench(page: Page): Promise<void> {
  await page.context().close().catch(() => undefined);
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-');
}

/** Saves `test-results/<name>.png`; with `html`, the page's HTML beside it. */
export async function saveScreenshot(page: Page, name: string, html = false): Promise<string> {
  mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, `${safeName(name)}.png`);
  await page.screenshot({ path }).catch(() => undefined);
  if (html) writeFileSync(join(resultsDir, `${safeName(name)}.html`), await page.content().catch((e: Error) => `<!-- ${e.message} -->`));
  return path;
}

/**
 * Runs one scenario's body: a screenshot under test-results/ at the end whatever happens, and
 * on failure also the page's HTML.
 */
export async function scenario(t: TestContext, page: () => Page | undefined, name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    const p = page();
    if (p) {
      const shot = await saveScreenshot(p, `${name}-FAILED`, true);
      t.diagnostic(`failure screenshot: ${shot} (and .html)`);
    }
    throw err;
  }
  const p = page();
  if (p) t.diagnostic(`screenshot: ${await saveScreenshot(p, name)}`);
}

// ---------------------------------------------------------------- command palette / quick input

export function quickInput(page: Page): Locator {
  return page.locator('.quick-input-widget');
}

/**
 * Answers VS Code's own file dialog (in the browser: a path box in the quick input) with `path`.
 * The dialog lists the folder as the path is typed and may take an Enter during that for nothing,
 * and it may still put its own starting folder in the box after the path was typed (seen:
 * "/root/.ssh" with ".ssh" selected, and the workspace folder alone): the path is typed again when
 * it was replaced, and Enter pressed again, until the dialog closes.
 */
export async function answerFileDialog(page: Page, path: string, timeoutMs = 30_000): Promise<void> {
  const box = quickInput(page).locator('input.input');
  await waitFor('the file dialog', async () => ((await quickInput(page).isVisible()) && (await box.inputValue()).startsWith('/') ? true : undefined), timeoutMs);
  let pressedAt = 0;
  await waitFor(`the file dialog to take ${path}`, async () => {
    if (!(await quickInput(page).isVisible())) return true;
    if (Date.now() - pressedAt > 2_000) {
      pressedAt = Date.now();
      if ((await box.inputValue().catch(() => path)) !== path) await box.fill(path, { timeout: 2_000 }).catch(() => undefined);
      else await box.press('Enter', { timeout: 2_000 }).catch(() => undefined);
    }
    return undefined;
  }, timeoutMs);
}

/** Rows of the open quick input (command palette, quick pick), as their visible texts. */
export async function quickPickRows(page: Page): Promise<string[]> {
  return page.locator('.quick-input-widget .quick-input-list .monaco-list-row').allInnerTexts();
}

/** F1, type the command's title, pick the row that names it exactly, Enter. */
export async function runCommand(page: Page, title: string): Promise<void> {
  const widget = quickInput(page);
  const box = widget.locator('input.input');
  const row = widget.locator('.quick-input-list .monaco-list-row').filter({ has: page.locator('.label-name', { hasText: exactText(title) }) });
  // The palette can fail to open (F1 landing while another quick input closes) or be closed again
  // by an editor that takes the focus as it finishes opening (Getting Started): then start over.
  await waitFor(`command "${title}" in the palette`, async () => {
    await closeQuickInput(page);
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 5 } }).catch(() => undefined);
    await page.keyboard.press('F1');
    if (!(await box.waitFor({ state: 'visible', timeout: 5_000 }).then(() => true, () => false))) return undefined;
    if (!(await box.fill(`>${title}`, { timeout: 5_000 }).then(() => true, () => false))) return undefined;
    const listed = await waitFor(`"${title}" listed`, async () => ((await row.count()) > 0 ? true : undefined), 10_000).catch(() => false);
    return listed && (await widget.isVisible()) ? true : undefined;
  }, 60_000);
  await row.first().click();
  await waitFor(`the palette to close after "${title}"`, async () => ((await widget.isVisible()) ? undefined : true), 5_000).catch(() => undefined);
}

/** Command titles appear as "Category: Title"; match the end of the label exactly. */
function exactText(title: string): RegExp {
  return new RegExp(`(^|: )${escapeRe(title)}$`);
}

export function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export async function closeQuickInput(page: Page): Promise<void> {
  if (await quickInput(page).isVisible()) {
    await page.keyboard.press('Escape');
    await waitFor('the quick input to close', async () => ((await quickInput(page).isVisible()) ? undefined : true), 3_000).catch(() => undefined);
  }
}

/** Waits for the quick input to show a row whose text contains `text`, then clicks it. */
export async function pickQuickItem(page: Page, text: string | RegExp): Promise<void> {
  const row = quickInput(page).locator('.quick-input-list .monaco-list-row').filter({ hasText: text });
  await waitFor(`quick pick row ${String(text)}`, async () => ((await row.count()) > 0 ? true : undefined));
  await row.first().click();
}

// ---------------------------------------------------------------- views

/** Opens the KDS container from the activity bar (a click, like a person). */
export async function openKdsContainer(page: Page, containerTitle = 'KDS'): Promise<void> {
  const icon = activityBarItem(page, containerTitle);
  // The icon appears once the extension host has read the extension; with other suites on the 2 cores that takes a while.
  await icon.waitFor({ state: 'visible', timeout: 180_000 });
  const li = icon.locator('xpath=..');
  if ((await li.getAttribute('aria-selected')) !== 'true') await icon.click();
  await waitFor('the KDS container to open', async () => ((await li.getAttribute('aria-selected')) === 'true' ? true : undefined));
}

export function activityBarItem(page: Page, title: string): Locator {
  return page.locator(`.activitybar .action-item a.action-label[aria-label="${title}"], .activitybar .action-item a.action-label[aria-label^="${title} "]`).first();
}

/** The number in the activity-bar badge of a container ('' when there is none). */
export async function activityBadge(page: Page, title = 'KDS'): Promise<string> {
  const li = activityBarItem(page, title).locator('xpath=..');
  const badge = li.locator('.badge .badge-content');
  if (!(await badge.count()) || !(await badge.first().isVisible())) return '';
  return (await badge.first().innerText()).trim();
}

/** The pane (view) titled `title` in the open side bar container. */
export function pane(page: Page, title: string): Locator {
  return page.locator('.part.sidebar .pane').filter({ has: page.locator('.pane-header h3.title', { hasText: new RegExp(`^${escapeRe(title)}$`, 'i') }) });
}

/** Titles of the views in the open side bar container, as shown (CSS may upper-case them). */
export async function viewTitles(page: Page): Promise<string[]> {
  return page.locator('.part.sidebar .pane .pane-header h3.title').allInnerTexts();
}

export async function expandView(page: Page, title: string): Promise<Locator> {
  const p = pane(page, title);
  await p.waitFor({ state: 'visible' });
  const header = p.locator('.pane-header');
  if ((await header.getAttribute('aria-expanded')) === 'false') await header.click();
  return p;
}

export interface ViewRow {
  /** The item's label (file name). */
  label: string;
  /** The description (size · age · state or verdict · threat). */
  description: string;
  /** What the row shows, as one line. */
  text: string;
}

/** The rows of a tree view as shown (the view is expanded first when collapsed). */
export async function viewRows(page: Page, viewTitle: string): Promise<ViewRow[]> {
  await expandView(page, viewTitle);
  return (await snapshotViews(page))[viewTitle.toLowerCase()] ?? [];
}

/** Waits until the view shows a row labelled `name` whose description matches `description`. */
export async function waitForRow(page: Page, viewTitle: string, name: string, description?: RegExp, deadlineMs = 30_000): Promise<ViewRow> {
  let seen: ViewRow[] = [];
  try {
    return await waitFor(
      `"${name}" in ${viewTitle}${description ? ` with ${description}` : ''}`,
      async () => {
        seen = await viewRows(page, viewTitle);
        return seen.find((r) => r.label === name && (!description || description.test(r.description)));
      },
      deadlineMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; ${viewTitle} showed: ${JSON.stringify(seen.map((r) => r.text))}`);
  }
}

/** The message a view shows above its rows (TreeView.message; '' when none). */
export async function viewMessage(page: Page, viewTitle: string): Promise<string> {
  const p = await expandView(page, viewTitle);
  const m = p.locator('.message');
  if (!(await m.count()) || !(await m.first().isVisible())) return '';
  return (await m.first().innerText()).trim();
}

/** The welcome content of a view ('' when none is shown). */
export async function welcomeText(page: Page, viewTitle: string): Promise<string> {
  const p = await expandView(page, viewTitle);
  const w = p.locator('.welcome-view-content');
  if (!(await w.count()) || !(await w.first().isVisible())) return '';
  return (await w.first().innerText()).trim();
}

// ---------------------------------------------------------------- status bar, notifications, dialogs

/** The KDS status bar entry (code-server 4.100.3 gives it the DOM id `kds.kds.kds.status`). */
export function kdsStatusItem(page: Page): Locator {
  return page.locator('.statusbar [id="kds.kds.kds.status"], .statusbar [id="kds.kds.status"]');
}

/** Text of the KDS status bar entry ('' when hidden); codicons are not text. */
export async function statusBarText(page: Page): Promise<string> {
  const item = kdsStatusItem(page);
  if (!(await item.count()) || !(await item.first().isVisible())) return '';
  return (await item.first().innerText()).replace(/\s+/g, ' ').trim();
}

/** Every visible status bar entry's text, for diagnostics. */
export async function allStatusBarTexts(page: Page): Promise<string[]> {
  return (await page.locator('.statusbar .statusbar-item').allInnerTexts()).map((s) => s.replace(/\s+/g, ' ').trim()).filter(Boolean);
}

/** Messages of the notification toasts on screen. */
export async function notifications(page: Page): Promise<string[]> {
  return (await page.locator('.notifications-toasts .notification-toast .notification-list-item-message').allInnerTexts()).map((s) => s.trim());
}

export async function waitForNotification(page: Page, text: string | RegExp, deadlineMs = 20_000): Promise<string> {
  let seen: string[] = [];
  try {
    return await waitFor(`a notification ${String(text)}`, async () => {
      seen = await notifications(page);
      return seen.find((m) => (typeof text === 'string' ? m.includes(text) : text.test(m)));
    }, deadlineMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; on screen: ${JSON.stringify(seen)}`);
  }
}

/** The modal dialog on screen (custom dialog style), if any. */
export function dialog(page: Page): Locator {
  return page.locator('.monaco-dialog-box');
}

/** Waits for a modal dialog whose text matches, returns its text, clicks the button `button`. */
export async function answerDialog(page: Page, text: RegExp, button: string): Promise<string> {
  const box = dialog(page);
  await box.waitFor({ state: 'visible' });
  const shown = (await box.innerText()).trim();
  if (!text.test(shown)) throw new Error(`dialog says ${JSON.stringify(shown)}, expected ${text}`);
  await box.locator('.dialog-buttons a.monaco-button, .dialog-buttons .monaco-button').filter({ hasText: new RegExp(`^${escapeRe(button)}$`) }).first().click();
  await box.waitFor({ state: 'hidden' });
  return shown;
}

// ---------------------------------------------------------------- webviews

/** The content of the visible webview: two iframes deep (see the recipe). */
export function webviewFrame(page: Page): FrameLocator {
  return page.locator('iframe.webview.ready:visible, iframe.webview:visible').first().contentFrame().frameLocator('iframe#active-frame');
}

/** The visible webview, once its content has rendered `selector`. */
export async function webviewShowing(page: Page, selector: string): Promise<FrameLocator> {
  const frame = webviewFrame(page);
  await frame.locator(selector).first().waitFor({ state: 'visible', timeout: 30_000 });
  return frame;
}

/** Picks `value` in a toolkit dropdown (click it, click the option), like a person. */
export async function choose(frame: FrameLocator, dropdownSelector: string, value: string): Promise<void> {
  const dd = frame.locator(dropdownSelector).first();
  await dd.click();
  await dd.locator(`vscode-option[value="${value}"]`).click();
}

/** Every view of the open side bar container with its rows, read in one pass over the DOM. */
export async function snapshotViews(page: Page): Promise<Record<string, ViewRow[]>> {
  // Runs in the page; the project compiles without the DOM library, hence the small shape.
  interface El {
    textContent: string | null;
    querySelector(selector: string): El | null;
    querySelectorAll(selector: string): ArrayLike<El>;
  }
  return page.evaluate(() => {
    const doc = (globalThis as unknown as { document: El }).document;
    const out: Record<string, Array<{ label: string; description: string; text: string }>> = {};
    for (const p of Array.from(doc.querySelectorAll('.part.sidebar .pane'))) {
      const title = (p.querySelector('.pane-header h3.title')?.textContent ?? '').trim();
      const rows = Array.from(p.querySelectorAll('.pane-body .monaco-list-row')).map((r) => {
        const label = (r.querySelector('.label-name')?.textContent ?? '').trim();
        const description = (r.querySelector('.label-description')?.textContent ?? '').trim();
        return { label, description, text: `${label} ${description}`.trim() };
      });
      out[title.toLowerCase()] = rows;
    }
    return out;
  });
}

/** Clicks the button `label` of the notification toast whose message matches `text`. */
export async function clickNotificationButton(page: Page, text: RegExp, label: string): Promise<void> {
  await waitForNotification(page, text);
  const toast = page.locator('.notifications-toasts .notification-toast').filter({ has: page.locator('.notification-list-item-message', { hasText: text }) });
  await toast.locator('.notification-list-item-buttons-container .monaco-button').filter({ hasText: new RegExp(`^${escapeRe(label)}$`) }).first().click();
}

/** The text and tooltip of a status bar entry by its id (`<publisher>.<name>.<id>` in code-server 4.100.3); '' when hidden. */
export async function statusBarEntry(page: Page, id: string): Promise<{ text: string; tooltip: string }> {
  const item = page.locator(`.statusbar [id="kds.kds.${id}"], .statusbar [id="${id}"]`);
  if (!(await item.count()) || !(await item.first().isVisible())) return { text: '', tooltip: '' };
  const text = (await item.first().innerText()).replace(/\s+/g, ' ').trim();
  const tooltip = (await item.first().locator('a').first().getAttribute('aria-label').catch(() => null)) ?? '';
  return { text, tooltip };
}
