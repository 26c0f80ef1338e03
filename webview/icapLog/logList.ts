/**
 * The ICAP log's line list: a virtualised ARIA grid like webview/components/virtualTable.ts, but
 * each line is drawn from highlight spans (DOM text nodes, never markup), the list grows at both
 * ends (earlier pages on top, followed lines at the bottom) without the view jumping, columns
 * (verdict; with "fields as columns" mode, threat, URL and a few fields) stand before the line,
 * and long lines may wrap.
 *
 * Wrapping makes rows of different heights. A row's height is first estimated from its length
 * (the line is in the editor's monospace font, so characters per visual line follow from the
 * column's width), then measured once drawn; rows are placed from a prefix sum of the heights, so
 * 100 000 lines still cost only the rows in view.
 *
 * Keyboard: Up/Down, PageUp/PageDown, Home/End move the active line (roving tabindex); Enter
 * opens the line's details.
 */
import { clear, h } from '../components/dom';
import type { IcapViewLine } from '../../src/webviewProtocol/icapLog';

/** Characters of a line drawn in a row (the details pane shows the whole text). */
export const maxRowChars = 2000;
const overscan = 10;

/** A column before the line. */
export interface LogColumn {
  id: string;
  label: string;
  /** A CSS grid track in rem (fixed, so that every row — its own grid — lines up with the header). */
  width: string;
  /** Extra class of its cells (ll-verdict keeps the verdict colour). */
  className?: string;
  value(line: IcapViewLine): string;
  /** Class by value (the verdict's colour). */
  valueClass?(line: IcapViewLine): string | undefined;
}

export interface LogListOptions {
  label: string;
  lineHeader: string;
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

/** The verdict word of a line (its highlighted span), '' when none. */
export function verdictText(line: IcapViewLine): string {
  const span = line.spans.find(([, , kind]) => kind === 'verdict');
  return span ? line.text.slice(span[0], span[1]) : '';
}

function levelClass(level: string): string {
  const l = level.replace(/^level=/i, '').replace(/[[\]<>"']/g, '').toLowerCase();
  if (/^(err|error|crit|critical|fatal|alert|emerg)$/.test(l)) return 'lv-error';
  if (/^(warn|warning)$/.test(l)) return 'lv-warn';
  return 'lv-info';
}

/** Visual length of a line's shown text: tabs take 8 columns, and the row's markers a few. */
function shownLength(line: IcapViewLine): number {
  const text = line.text.length > maxRowChars ? line.text.slice(0, maxRowChars) : line.text;
  let n = text.length;
  for (let i = text.indexOf('\t'); i >= 0; i = text.indexOf('\t', i + 1)) n += 7;
  return n + (line.text.length > maxRowChars || line.truncated ? 3 : 0) + (line.partial ? 4 : 0);
}

export class LogList {
  readonly el: HTMLElement;
  private readonly header: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly pool: HTMLElement[] = [];
  private readonly drawn = new WeakMap<HTMLElement, IcapViewLine>();
  private lines: IcapViewLine[] = [];
  private columns: LogColumn[] = [];
  private template = '1fr';
  private active = -1;
  private readonly rh: number;
  private frame: number | undefined;
  private wrap = false;
  /** Heights in px by line (wrap only); NaN = not estimated yet. Prefix sums in `tops` (length + 1). */
  private heights = new Float64Array(0);
  private tops = new Float64Array(1);
  private topsDirty = true;
  /** Characters per visual line of the text column (wrap only). */
  private charsPerRow = 0;
  private readonly measure: HTMLElement;

  constructor(private readonly o: LogListOptions) {
    this.rh = o.rowHeight ?? 20;
    this.header = h('div', { class: 'kds-vt-header ll-header', role: 'row', 'aria-rowindex': 1 });
    this.spacer = h('div', { class: 'kds-vt-spacer', role: 'presentation' });
    this.viewport = h('div', { class: 'kds-vt-viewport ll-viewport', role: 'rowgroup', tabindex: 0 }, this.spacer);
    this.measure = h('span', { class: 'll-measure', 'aria-hidden': 'true' }, 'M'.repeat(100));
    this.el = h('div', { class: 'kds-vt ll', role: 'grid', 'aria-label': o.label, 'aria-rowcount': 1, 'aria-colcount': 1 }, h('div', { role: 'rowgroup' }, this.header), this.viewport, this.measure);
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
    let width = 0;
    new ResizeObserver(() => {
      // Another width wraps every line differently: estimate again.
      if (this.wrap && this.viewport.clientWidth !== width) this.reestimate();
      width = this.viewport.clientWidth;
      this.schedule();
    }).observe(this.viewport);
    this.setColumns([]);
  }

  get length(): number {
    return this.lines.length;
  }

  get first(): IcapViewLine | undefined {
    return this.lines[0];
  }

  /** The columns before the line. */
  setColumns(columns: LogColumn[]): void {
    const key = columns.map((c) => `${c.id}:${c.label}:${c.width}`).join('\0');
    if (key === this.columns.map((c) => `${c.id}:${c.label}:${c.width}`).join('\0') && this.header.childElementCount) return;
    this.columns = columns;
    // Fixed widths: each row is its own grid, so a content-sized column would shift every line differently.
    // In rem, not em: the rows are in the editor's font and the header in the UI's, and the columns must line up.
    this.template = [...columns.map((c) => c.width), 'minmax(16rem, 1fr)'].join(' ');
    clear(this.header);
    this.header.style.gridTemplateColumns = this.template;
    for (const c of columns) this.header.append(h('div', { role: 'columnheader', class: 'kds-vt-cell', title: c.label }, c.label));
    this.header.append(h('div', { role: 'columnheader', class: 'kds-vt-cell ll-text-header', title: this.o.lineHeader }, this.o.lineHeader));
    this.el.setAttribute('aria-colcount', String(columns.length + 1));
    for (const row of this.pool) row.remove();
    this.pool.length = 0;
    if (this.wrap) this.reestimate();
    this.render();
  }

  /** Long lines wrap (rows grow) or are cut at the column's edge (one row each). */
  setWrap(on: boolean): void {
    if (on === this.wrap) return;
    const anchor = this.firstVisible();
    this.wrap = on;
    this.el.classList.toggle('ll-wrap', on);
    for (const row of this.pool) row.remove();
    this.pool.length = 0;
    this.reestimate();
    this.viewport.scrollTop = this.topOf(anchor);
    this.render();
  }

  /** Replaces everything; scrolls to the bottom (the newest line). */
  reset(lines: IcapViewLine[]): void {
    this.lines = lines;
    this.active = -1;
    this.heights = new Float64Array(lines.length).fill(NaN);
    this.topsDirty = true;
    this.resize();
    this.viewport.scrollTop = this.spacer.offsetHeight;
    this.render();
  }

  /** Earlier lines on top; the lines in view stay where they are. */
  prepend(lines: IcapViewLine[]): void {
    if (!lines.length) return;
    const top = this.viewport.scrollTop;
    const before = this.totalHeight();
    this.lines = lines.concat(this.lines);
    const heights = new Float64Array(this.lines.length).fill(NaN);
    heights.set(this.heights, lines.length);
    this.heights = heights;
    this.topsDirty = true;
    if (this.active >= 0) this.active += lines.length;
    this.resize();
    this.viewport.scrollTop = top + (this.totalHeight() - before);
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
      this.heights[this.lines.length - 1] = NaN;
      add = lines.slice(1);
    }
    for (const l of add) this.lines.push(l);
    let dropped = 0;
    let droppedHeight = 0;
    if (this.lines.length > max) {
      dropped = this.lines.length - max;
      droppedHeight = this.topOf(dropped);
      this.lines.splice(0, dropped);
      if (this.active >= 0) this.active = Math.max(-1, this.active - dropped);
    }
    const heights = new Float64Array(this.lines.length).fill(NaN);
    heights.set(this.heights.subarray(dropped, Math.min(this.heights.length, dropped + this.lines.length)));
    this.heights = heights;
    this.topsDirty = true;
    const top = this.viewport.scrollTop;
    this.resize();
    this.viewport.scrollTop = atBottom ? this.spacer.offsetHeight : Math.max(0, top - droppedHeight);
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

  // ------------------------------------------------------------------ heights

  /** Forget every height (the width or the wrapping changed); rows are estimated again as needed. */
  private reestimate(): void {
    this.charsPerRow = 0;
    this.heights.fill(NaN);
    this.topsDirty = true;
    this.resize();
  }

  private estimate(line: IcapViewLine): number {
    if (!this.wrap) return this.rh;
    if (!this.charsPerRow) {
      const textHeader = this.header.querySelector<HTMLElement>('.ll-text-header');
      const width = (textHeader?.getBoundingClientRect().width ?? this.viewport.clientWidth) - 12;
      const charWidth = this.measure.getBoundingClientRect().width / 100 || 8;
      this.charsPerRow = Math.max(10, Math.floor(width / charWidth));
    }
    return Math.max(1, Math.ceil(shownLength(line) / this.charsPerRow)) * this.rh;
  }

  private heightOf(i: number): number {
    let v = this.heights[i]!;
    if (Number.isNaN(v)) {
      v = this.estimate(this.lines[i]!);
      this.heights[i] = v;
    }
    return v;
  }

  /** Top of line `i` (i = length: the total height). */
  private topOf(i: number): number {
    if (!this.wrap) return i * this.rh;
    if (this.topsDirty) {
      const n = this.lines.length;
      const tops = this.tops.length === n + 1 ? this.tops : new Float64Array(n + 1);
      tops[0] = 0;
      for (let k = 0; k < n; k++) tops[k + 1] = tops[k]! + this.heightOf(k);
      this.tops = tops;
      this.topsDirty = false;
    }
    return this.tops[Math.min(i, this.lines.length)]!;
  }

  private totalHeight(): number {
    return this.topOf(this.lines.length);
  }

  /** The line at `y` px from the top of the list. */
  private indexAt(y: number): number {
    if (!this.wrap) return Math.floor(y / this.rh);
    this.topOf(0);
    let lo = 0;
    let hi = this.lines.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.tops[mid]! <= y) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private firstVisible(): number {
    return Math.min(this.lines.length, this.indexAt(this.viewport.scrollTop));
  }

  private resize(): void {
    this.spacer.style.height = `${this.totalHeight()}px`;
    this.el.setAttribute('aria-rowcount', String(this.lines.length + 1));
  }

  // ------------------------------------------------------------------ drawing

  private schedule(): void {
    this.frame ??= requestAnimationFrame(() => {
      this.frame = undefined;
      this.render();
    });
  }

  private newRow(): HTMLElement {
    const row = h('div', { class: 'kds-vt-row ll-row', role: 'row', tabindex: -1 });
    row.style.gridTemplateColumns = this.template;
    for (const c of this.columns) row.append(h('div', { role: 'gridcell', class: `kds-vt-cell ll-col${c.className ? ` ${c.className}` : ''}` }));
    row.append(h('div', { role: 'gridcell', class: 'kds-vt-cell ll-text' }));
    this.pool.push(row);
    this.spacer.append(row);
    return row;
  }

  private render(): void {
    const height = this.viewport.clientHeight || 400;
    const firstRow = Math.max(0, this.indexAt(this.viewport.scrollTop) - overscan);
    const lastRow = Math.min(this.lines.length, this.indexAt(this.viewport.scrollTop + height) + 1 + overscan);
    const needed = Math.max(0, lastRow - firstRow);
    while (this.pool.length < needed) this.newRow();
    const focusedInside = this.spacer.contains(document.activeElement);
    let remeasure = false;
    for (let k = 0; k < this.pool.length; k++) {
      const row = this.pool[k]!;
      const i = firstRow + k;
      const line = this.lines[i];
      if (k >= needed || !line) {
        row.hidden = true;
        continue;
      }
      row.hidden = false;
      row.style.transform = `translateY(${this.topOf(i)}px)`;
      row.style.height = `${this.heightOf(i)}px`;
      row.dataset.index = String(i);
      row.setAttribute('aria-rowindex', String(i + 2));
      const selected = i === this.active;
      row.setAttribute('aria-selected', String(selected));
      row.tabIndex = selected ? 0 : -1;
      if (this.drawn.get(row) !== line) {
        this.drawn.set(row, line);
        this.draw(row, line);
      }
      if (this.wrap) {
        // The estimate was off (proportional glyphs, wide characters): use what the row needs.
        const text = row.lastElementChild as HTMLElement;
        const need = Math.max(this.rh, Math.ceil(text.scrollHeight / this.rh) * this.rh);
        if (need !== this.heights[i]) {
          this.heights[i] = need;
          this.topsDirty = true;
          remeasure = true;
        }
      }
    }
    if (remeasure) {
      this.resize();
      this.schedule();
    }
    if (focusedInside) this.focusActive();
  }

  private draw(row: HTMLElement, line: IcapViewLine): void {
    for (let c = 0; c < this.columns.length; c++) {
      const col = this.columns[c]!;
      const cell = row.children[c] as HTMLElement;
      const v = col.value(line);
      cell.textContent = v;
      cell.title = v;
      const extra = col.valueClass?.(line);
      cell.className = `kds-vt-cell ll-col${col.className ? ` ${col.className}` : ''}${extra ? ` ${extra}` : ''}`;
    }
    const cell = row.lastElementChild as HTMLElement;
    clear(cell);
    renderHighlighted(cell, line, maxRowChars);
    const cut = line.text.length > maxRowChars;
    if (cut || line.truncated) {
      const shownBytes = line.truncated ? new TextEncoder().encode(line.text).length : maxRowChars;
      cell.append(h('span', { class: 'll-cut', title: this.o.shortenedTitle(shownBytes, line.byteLength), 'aria-label': this.o.shortenedTitle(shownBytes, line.byteLength) }, '…'));
    }
    if (line.partial) cell.append(h('span', { class: 'll-partial', title: this.o.partialTitle, 'aria-label': this.o.partialTitle }, '⏎?'));
    cell.title = line.text.length > 300 ? `${line.text.slice(0, 300)}…` : line.text;
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
    const top = this.topOf(i);
    const bottom = this.topOf(i + 1);
    const vh = this.viewport.clientHeight;
    if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
    else if (bottom > this.viewport.scrollTop + vh) this.viewport.scrollTop = Math.min(top, bottom - vh);
    this.render();
    this.focusActive();
  }

  private onKey(e: KeyboardEvent): void {
    const first = this.firstVisible();
    const visible = Math.max(1, this.indexAt(this.viewport.scrollTop + this.viewport.clientHeight) - first - 1);
    const moves: Record<string, number | undefined> = { ArrowDown: 1, ArrowUp: -1, PageDown: visible, PageUp: -visible };
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
