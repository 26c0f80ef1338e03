import type { AbortLike } from '../kata/scannerApi';

/**
 * Cancels one upload (a file changed while it was sent, or the service stops). The engine makes
 * one per file and almost never uses it: an AbortController, its EventTarget and a listener
 * record cost about 15 µs a file to create, listen to and let go, this a plain object. Behaves
 * as an AbortSignal does for what the KATA client asks of it (client.ts, AnswerHandler).
 */
export class UploadCancel implements AbortLike {
  aborted = false;
  reason: unknown = undefined;
  private listeners: Array<() => void> = [];

  abort(reason: unknown = new DOMException('This operation was aborted', 'AbortError')): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = [];
    for (const l of listeners) l();
  }

  /** Like an AbortSignal's: each listener is called once, at the abort. */
  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.aborted) this.listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.listeners.indexOf(listener);
    if (i >= 0) this.listeners.splice(i, 1);
  }
}
