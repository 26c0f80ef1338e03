import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as vscode from 'vscode';

/**
 * Shared host side of every KDS webview panel: one instance per panel type, strict CSP with a
 * fresh nonce per load, resources only from dist/webview, validated message dispatch, and
 * restore after a window reload (WebviewPanelSerializer). See docs/webviews.md.
 */

/** What a panel (one folder in webview/ + one protocol module) tells the helper. */
export interface PanelDefinition<Request, Message> {
  /** The view type, also used in package.json `activationEvents` as `onWebviewPanel:<viewType>`. */
  viewType: string;
  /** webview/<bundle>/main.ts → dist/webview/<bundle>.js (+ .css when the panel imports CSS). */
  bundle: string;
  /** The tab title (translated). */
  title(): string;
  /** Host-side validator from src/webviewProtocol/<panel>.ts; undefined = reject. */
  parse(raw: unknown): Request | undefined;
  /** Builds the controller for one live panel; called on open and on restore. */
  create(host: PanelHost<Message>): PanelController<Request>;
  /** Codicon-free icon for the tab (a file under media/); every KDS panel shows the KDS logo unless it names another. */
  icon?: string;
}

/** What a controller can do with its panel. */
export interface PanelHost<Message> {
  readonly panel: vscode.WebviewPanel;
  /** Posts a typed message; resolves false when the webview is gone. */
  post(message: Message): Thenable<boolean>;
}

export interface PanelController<Request> {
  /** Every valid request from the webview (already parsed by `parse`). */
  onRequest(request: Request): void | Promise<void>;
  dispose(): void;
}

export interface RegisteredPanel {
  /** Opens the panel, or reveals it when already open. */
  open(column?: vscode.ViewColumn): void;
}

/**
 * Registers a panel type: the serializer (restore after reload) and the single-instance
 * bookkeeping. Everything created is pushed to context.subscriptions.
 */
export function registerWebviewPanel<Request, Message>(
  context: vscode.ExtensionContext,
  log: vscode.LogOutputChannel,
  def: PanelDefinition<Request, Message>,
): RegisteredPanel {
  let live: vscode.WebviewPanel | undefined;

  const attach = (panel: vscode.WebviewPanel) => {
    live = panel;
    panel.webview.options = webviewOptions(context.extensionUri);
    panel.title = def.title();
    panel.iconPath = vscode.Uri.joinPath(context.extensionUri, def.icon ?? 'media/kds.svg');
    panel.webview.html = panelHtml(panel.webview, context.extensionUri, def.bundle, def.title());
    const host: PanelHost<Message> = { panel, post: (m) => panel.webview.postMessage(m) };
    const controller = def.create(host);
    const subscription = panel.webview.onDidReceiveMessage(async (raw: unknown) => {
      const request = def.parse(raw);
      if (!request) {
        log.warn(`[webview] ${def.viewType}: dropped an invalid message: ${describe(raw)}`);
        return;
      }
      try {
        await controller.onRequest(request);
      } catch (err) {
        log.error(`[webview] ${def.viewType}: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    panel.onDidDispose(() => {
      subscription.dispose();
      controller.dispose();
      if (live === panel) live = undefined;
    });
  };

  context.subscriptions.push(
    vscode.window.registerWebviewPanelSerializer(def.viewType, {
      async deserializeWebviewPanel(panel) {
        // The webview's own getState() holds its view state; the host only rebuilds the page.
        attach(panel);
      },
    }),
    { dispose: () => live?.dispose() },
  );

  return {
    open(column = vscode.ViewColumn.Active) {
      if (live) {
        live.reveal(column);
        return;
      }
      attach(vscode.window.createWebviewPanel(def.viewType, def.title(), column, { ...webviewOptions(context.extensionUri), retainContextWhenHidden: false }));
    },
  };
}

/** Scripts on, and the only readable files are the built webview assets. */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions & vscode.WebviewPanelOptions {
  return {
    enableScripts: true,
    enableCommandUris: false,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview')],
  };
}

/** A fresh random nonce (128 bits) for each page load. */
export function createNonce(): string {
  return randomBytes(16).toString('base64');
}

/** The Content-Security-Policy of every panel: nothing by default; our nonce'd script and our stylesheet only. */
export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
  ].join('; ');
}

/** The page: CSP, the panel's stylesheet (when the bundle has one) and its script. */
export function panelHtml(webview: vscode.Webview, extensionUri: vscode.Uri, bundle: string, title: string): string {
  const nonce = createNonce();
  const asset = (file: string) => vscode.Uri.joinPath(extensionUri, 'dist', 'webview', file);
  const script = webview.asWebviewUri(asset(`${bundle}.js`));
  const cssFile = asset(`${bundle}.css`);
  const css = existsSync(cssFile.fsPath) ? `<link rel="stylesheet" nonce="${nonce}" href="${webview.asWebviewUri(cssFile).toString()}">` : '';
  return `<!DOCTYPE html>
<html lang="${escapeHtml(vscode.env.language)}">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(webview.cspSource, nonce)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
${css}
<title>${escapeHtml(title)}</title>
</head>
<body>
<div id="root"></div>
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A short, safe description of a rejected message for the log. */
function describe(raw: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(raw) ?? String(raw);
  } catch {
    text = String(raw);
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
