/**
 * The one place that calls acquireVsCodeApi(): a typed channel to the extension host and the
 * webview's persisted state (VS Code keeps it across hide/show and, with the panel's
 * WebviewPanelSerializer, across a window reload).
 */

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): unknown;
}

declare function acquireVsCodeApi(): VsCodeApi;

let api: VsCodeApi | undefined;

function vscode(): VsCodeApi {
  // acquireVsCodeApi may be called only once per page load.
  api ??= acquireVsCodeApi();
  return api;
}

/** `In`: host → webview messages; `Out`: webview → host requests (both from src/webviewProtocol/<panel>.ts). */
export interface Channel<In extends { type: string }, Out extends { type: string }> {
  post(message: Out): void;
  /** Calls `handler` for every message from the host whose `type` is one of `types`. Returns an unsubscribe. */
  onMessage(handler: (message: In) => void): () => void;
}

export function createChannel<In extends { type: string }, Out extends { type: string }>(types: ReadonlyArray<In['type']>): Channel<In, Out> {
  return {
    post: (message) => vscode().postMessage(message),
    onMessage(handler) {
      const listener = (event: MessageEvent) => {
        const data: unknown = event.data;
        // Only the host posts to this window; still, ignore anything not shaped like our protocol.
        if (typeof data === 'object' && data !== null && types.includes((data as { type: In['type'] }).type)) handler(data as In);
      };
      window.addEventListener('message', listener);
      return () => window.removeEventListener('message', listener);
    },
  };
}

/** The persisted state merged over `defaults` (missing or mistyped keys fall back to the default). */
export function getState<S extends object>(defaults: S): S {
  const saved = vscode().getState();
  if (typeof saved !== 'object' || saved === null) return { ...defaults };
  const out = { ...defaults };
  for (const key of Object.keys(defaults) as Array<keyof S>) {
    const v = (saved as S)[key];
    if (v !== undefined && typeof v === typeof defaults[key]) out[key] = v;
  }
  return out;
}

/** Persists the whole state (keep it small: filters, sort, scroll position, selection). */
export function setState<S extends object>(state: S): void {
  vscode().setState(state);
}

/**
 * The page's view state, read once at load, and `save`, which changes part of it and persists the
 * whole through `write` (setState, or a throttledSetState where saving follows scrolling).
 */
export function persistedViewState<S extends object>(defaults: S, write: (state: S) => void = setState): { saved: S; save(patch: Partial<S>): void } {
  const saved = getState(defaults);
  return {
    saved,
    save(patch) {
      Object.assign(saved, patch);
      write({ ...saved });
    },
  };
}

/** setState at most once per `ms` (scrolling fires many times a second). */
export function throttledSetState<S extends object>(ms = 200): (state: S) => void {
  let timer: number | undefined;
  let latest: S | undefined;
  return (state) => {
    latest = state;
    timer ??= window.setTimeout(() => {
      timer = undefined;
      if (latest) setState(latest);
    }, ms);
  };
}
