/**
 * The ICAP log's line list: a virtualised ARIA grid like webview/components/virtualTable.ts, but
 * each line is drawn from highlight spans (DOM text nodes, never markup), the list grows at both
 * ends (earlier pages on top, followed lines at the bottom) without the view jumping, and
 * key=value fields can be shown as extra columns.
 *
 * Keyboard: Up/Down, PageUp/PageDown, Home/End move the active line (roving tabindex); Enter
 * opens the line's details.
 */
import { clear, h } from '../components/dom';
import type { IcapViewLine } from '../../src/webviewProtocol/icapLog';

/** Characters of a line drawn in a row (the details pane shows the whole text). */
export const maxRowChars = 2000;
const overscan = 10;

export interface LogListOptions {
  label: string;
  lineHeader: string;
  /** Header of the verdict column: a long line's verdict, at its end, would otherwise be cut off. */
  verdictHeader: string;
  /** Tooltip of the "shortened" marker: (shown bytes, all bytes). */
  shortenedTitle(shown: number, total: number): string;
  partialTitle: string;
  rowHeight?: number;
  /** Scrolled near the top: the owner may load earlier lines. */
  onNearTop(): void;
  /** Enter / double-click on a line. */
  onActivate(line: IcapViewLine): void;
}

/** Appends `text` with its highlight spans to `parent` (text nodes and spans only). */
export function renderHighlighted(parent: HTMLElement, line: IcapViewLine, limit = Infinity): void {
  const text = line.text;
  const end = Math.min(text.length, limit);
  let at = 0;
  for (const [s, e, kind] of line.spans) {
    if (s >= end) break;
    if (s > at) parent.append(text.slice(at, s));
    const cls = kind === 'verdict' ? `hl hl-verdict v-${line.verdict ?? 'other'}` : kind === 'level' ? `hl hl-level ${levelClass(text.slice(s, e))}` : `hl hl-${kind}`;
    parent.append(h('span', { class: cls }, text.slice(s, Math.min(e, end))));
    at = Math.min(e, end);
  }
  if (at < end) parent.append(text.slice(at, end));
}

function levelClass(level: string): string {
  const l = level.replace(/^level=/i, '').replace(/[[\]<>"']/g, '').toLowerCase();
  if (/^(err|error|crit|critical|fatal|alert|emerg)$/.test(l)) return 'lv-error';
  if (/^(warn|warning)$/.test(l)) return 'lv-warn';
  return 'lv-info';
}

export class LogList {
  readonly el: HTMLElement;
  private readonly header: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly pool: HTMLElement[] = [];
  private readonly drawn = new WeakMap<HTMLElement, IcapViewLine>();
  private lines: IcapViewLine[] = [];
  private columns: string[] = [];
  private template = '1fr';
  private active = -1;
  private readonly rh: number;
  private frame: number | undefined;

  constructor(private readonly o: LogListOptions) {
    this.rh = o.rowHeight ?? 20;
    this.header = h('div', { class: 'kds-vt-header ll-header', role: 'row', 'aria-rowindex': 1 });
    this.spacer = h('div', { class: 'kds-vt-spacer', role: 'presentation' });
    this.viewport = h('div', { class: 'kds-vt-viewport ll-viewport', role: 'rowgroup', tabindex: 0 }, this.spacer);
    this.el = h('div', { class: 'kds-vt ll', role: 'grid', 'aria-label': o.label, 'aria-rowcount': 1, 'aria-colcount': 1 }, h('div', { role: 'rowgroup' }, this.header), this.viewport);
    this.viewport.addEventListener('scroll', () => {
      this.schedule();
      if (this.viewport.scrollTop < this.rh * 5) o.onNearTop();
    });
    this.viewport.addEventListener('keydown', (e) => this.onKey(e));
    this.viewport.addEventListener('click', (e) => {
      const i = this.indexOf(e);
      if (i !== undefined) this.setActive(i);
    });
    this.viewport.addEventListener('dblclick', (e) => {
      const i = this.indexOf(e);
      if (i !== undefined && this.lines[i]) o.onActivate(this.lines[i]);
    });
    new ResizeObserver(() => this.schedule()).observe(this.viewport);
    this.setColumns([]);
  }

  get length(): number {
    return this.lines.length;
  }

  get first(): IcapViewLine | undefined {
    return this.lines[0];
  }

  /** Field keys shown as columns after the line; the verdict column always leads. */
  setColumns(keys: string[]): void {
    if (keys.join('\0') === this.columns.join('\0') && this.header.childElementCount) return;
    this.columns = keys;
    // A fixed width: each row is its own grid, so a content-sized column would shift every line differently.
    this.template = ['9em', 'minmax(20em, 1fr)', ...keys.map(() => 'minmax(6em, 12em)')].join(' ');
    clear(this.header);
    this.header.style.gridTemplateColumns = this.template;
    for (const label of [this.o.verdictHeader, this.o.lineHeader, ...keys]) this.header.append(h('div', { role: 'columnheader', class: 'kds-vt-cell', title: label }, label));
    this.el.setAttribute('aria-colcount', String(keys.length + 2));
    for (const row of this.pool) row.remove();
    this.pool.length = 0;
    this.render();
  }

  /** Replaces everything; scrolls to the bottom (the newest line). */
  reset(lines: IcapViewLine[]): void {
    this.lines = lines;
    this.active = -1;
    this.resize();
    this.viewport.scrollTop = this.spacer.offsetHeight;
    this.render();
  }

  /** Earlier lines on top; the lines in view stay where they are. */
  prepend(lines: IcapViewLine[]): void {
    if (!lines.length) return;
    const top = this.viewport.scrollTop;
    this.lines = lines.concat(this.lines);
    if (this.active >= 0) this.active += lines.length;
    this.resize();
    this.viewport.scrollTop = top + lines.length * this.rh;
    this.render();
  }

  /**
   * New lines at the bottom (follow mode). A first line with the offset of the last one replaces it
   * (a partial line completed). Keeps following the bottom when the view was there. `max` bounds
   * the lines held: the oldest go first. Returns how many were dropped from the top.
   */
  append(lines: IcapViewLine[], max: number): number {
    if (!lines.length) return 0;
    const atBottom = this.viewport.scrollTop + this.viewport.clientHeight >= this.spacer.offsetHeight - this.rh;
    const last = this.lines[this.lines.length - 1];
    let add = lines;
    if (last && lines[0]!.offset === last.offset) {
      this.lines[this.lines.length - 1] = lines[0]!;
      add = lines.slice(1);
    }
    for (const l of add) this.lines.push(l);
    let dropped = 0;
    if (this.lines.length > max) {
      dropped = this.lines.length - max;
      this.lines.splice(0, dropped);
      if (this.active >= 0) this.active = Math.max(-1, this.active - dropped);
    }
    const top = this.viewport.scrollTop;
    this.resize();
    this.viewport.scrollTop = atBottom ? this.spacer.offsetHeight : Math.max(0, top - dropped * this.rh);
    this.render();
    return dropped;
  }

  all(): readonly IcapViewLine[] {
    return this.lines;
  }

  /** True when the top of the list is in view (more earlier lines are wanted). */
  nearTop(): boolean {
    return this.viewport.scrollTop < this.rh * 5;
  }

  focus(): void {
    if (this.active < 0 && this.lines.length) this.setActive(this.lines.length - 1);
    else this.focusActive();
  }

  private resize(): void {
    this.spacer.style.height = `${this.lines.length * this.rh}px`;
    this.el.setAttribute('aria-rowcount', String(this.lines.length + 1));
  }

  private schedule(): void {
    this.frame ??= requestAnimationFrame(() => {
      this.frame = undefined;
      this.render();
    });
  }

  private render(): void {
    const rh = this.rh;
    const height = this.viewport.clientHeight || 400;
    const firstRow = Math.max(0, Math.floor(this.viewport.scrollTop / rh) - overscan);
    const lastRow = Math.min(this.lines.length, Math.ceil((this.viewport.scrollTop + height) / rh) + overscan);
    const needed = Math.max(0, lastRow - firstRow);
    while (this.pool.length < needed) {
      const row = h('div', { class: 'kds-vt-row ll-row', role: 'row', tabindex: -1 });
      row.style.gridTemplateColumns = this.template;
      row.style.height = `${rh}px`;
      row.append(h('div', { role: 'gridcell', class: 'kds-vt-cell ll-verdict' }));
      row.append(h('div', { role: 'gridcell', class: 'kds-vt-cell ll-text' }));
      for (let c = 0; c < this.columns.length; c++) row.append(h('div', { role: 'gridcell', class: 'kds-vt-cell ll-field' }));
      this.pool.push(row);
      this.spacer.append(row);
    }
    const focusedInside = this.spacer.contains(document.activeElement);
    for (let k = 0; k < this.pool.length; k++) {
      const row = this.pool[k]!;
      const i = firstRow + k;
      const line = this.lines[i];
      if (k >= needed || !line) {
        row.hidden = true;
        continue;
      }
      row.hidden = false;
      row.style.transform = `translateY(${i * rh}px)`;
      row.dataset.index = String(i);
      row.setAttribute('aria-rowindex', String(i + 2));
      const selected = i === this.active;
      row.setAttribute('aria-selected', String(selected));
      row.tabIndex = selected ? 0 : -1;
      if (this.drawn.get(row) !== line) {
        this.drawn.set(row, line);
        this.draw(row, line);
      }
    }
    if (focusedInside) this.focusActive();
  }

  private draw(row: HTMLElement, line: IcapViewLine): void {
    const verdictCell = row.children[0] as HTMLElement;
    const verdictSpan = line.spans.find(([, , kind]) => kind === 'verdict');
    verdictCell.textContent = verdictSpan ? line.text.slice(verdictSpan[0], verdictSpan[1]) : '';
    verdictCell.className = `kds-vt-cell ll-verdict${verdictSpan ? ` hl-verdict v-${line.verdict ?? 'other'}` : ''}`;
    verdictCell.title = verdictCell.textContent;
    const cell = row.children[1] as HTMLElement;
    clear(cell);
    renderHighlighted(cell, line, maxRowChars);
    const cut = line.text.length > maxRowChars;
    if (cut || line.truncated) {
      const shownBytes = line.truncated ? new TextEncoder().encode(line.text).length : maxRowChars;
      cell.append(h('span', { class: 'll-cut', title: this.o.shortenedTitle(shownBytes, line.byteLength), 'aria-label': this.o.shortenedTitle(shownBytes, line.byteLength) }, '…'));
    }
    if (line.partial) cell.append(h('span', { class: 'll-partial', title: this.o.partialTitle, 'aria-label': this.o.partialTitle }, '⏎?'));
    cell.title = line.text.length > 300 ? `${line.text.slice(0, 300)}…` : line.text;
    const values = new Map(line.fields ?? []);
    for (let c = 0; c < this.columns.length; c++) {
      const f = row.children[c + 2] as HTMLElement;
      const v = values.get(this.columns[c]!) ?? '';
      f.textContent = v;
      f.title = v;
    }
  }

  private focusActive(): void {
    const row = this.pool.find((p) => !p.hidden && Number(p.dataset.index) === this.active);
    if (row) row.focus({ preventScroll: true });
    else this.viewport.focus({ preventScroll: true });
  }

  private setActive(i: number): void {
    if (!this.lines.length) return;
    i = Math.max(0, Math.min(this.lines.length - 1, i));
    this.active = i;
    const top = i * this.rh;
    const vh = this.viewport.clientHeight;
    if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
    else if (top + this.rh > this.viewport.scrollTop + vh) this.viewport.scrollTop = top + this.rh - vh;
    this.render();
    this.focusActive();
  }

  private onKey(e: KeyboardEvent): void {
    const page = Math.max(1, Math.floor(this.viewport.clientHeight / this.rh) - 1);
    const moves: Record<string, number | undefined> = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page };
    const from = this.active < 0 ? this.lines.length : this.active;
    if (e.key in moves) this.setActive(from + moves[e.key]!);
    else if (e.key === 'Home') this.setActive(0);
    else if (e.key === 'End') this.setActive(this.lines.length - 1);
    else if (e.key === 'Enter' && this.active >= 0 && this.lines[this.active]) this.o.onActivate(this.lines[this.active]!);
    else return;
    e.preventDefault();
  }

  private indexOf(e: Event): number | undefined {
    const row = (e.target as HTMLElement).closest('.ll-row') as HTMLElement | null;
    return row?.dataset.index !== undefined ? Number(row.dataset.index) : undefined;
  }
}
