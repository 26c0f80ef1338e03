/**
 * A virtualised, keyboard-accessible table (ARIA grid pattern) of our own: only the rows in
 * view (plus a few) exist in the DOM, so 100 000 rows scroll as smoothly as 100. The toolkit's
 * data grid renders every row, which is why it is not used here.
 *
 * Keyboard: Up/Down, PageUp/PageDown, Home/End move the active row (roving tabindex); Enter
 * activates it; column headers are buttons (Enter/Space sorts).
 */
import { clear, h } from './dom';

export interface Column<R> {
  id: string;
  label: string;
  /** A CSS grid track, e.g. '10em' or 'minmax(8em, 2fr)'. */
  width: string;
  text(row: R): string;
  /** Right-aligned (numbers). */
  end?: boolean;
  /** Optional class per cell (e.g. a verdict colour). */
  className?(row: R): string | undefined;
  /** Tooltip per cell; default: the text. */
  title?(row: R): string | undefined;
}

export interface VirtualTableOptions<R> {
  label: string;
  columns: Column<R>[];
  rowId(row: R): string;
  rowHeight?: number;
  /** Header click / Enter on a header. */
  onSort?(columnId: string): void;
  /** The active row changed (arrow keys, click). */
  onSelect?(row: R | undefined): void;
  /** Enter or double-click on a row (and a single click with `activateOnClick`). */
  onActivate?(row: R): void;
  /** A single click activates too (a details pane beside the list, as in VS Code's own lists). */
  activateOnClick?: boolean;
  /** Scrolled (for persisting the position). */
  onScroll?(scrollTop: number): void;
  /** Labels for the sort state, read by screen readers. */
  sortLabels?: { ascending: string; descending: string };
}

const overscan = 8;

export class VirtualTable<R> {
  readonly el: HTMLElement;
  private readonly header: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly pool: HTMLElement[] = [];
  private rows: readonly R[] = [];
  private active = -1;
  private selectedId: string | undefined;
  private readonly rowHeight: number;
  private readonly template: string;
  private frame: number | undefined;

  constructor(private readonly o: VirtualTableOptions<R>) {
    this.rowHeight = o.rowHeight ?? 24;
    this.template = o.columns.map((c) => c.width).join(' ');
    this.header = h('div', { class: 'kds-vt-header', role: 'row', 'aria-rowindex': 1 });
    this.header.style.gridTemplateColumns = this.template;
    for (const c of o.columns) {
      const b = h('button', { type: 'button', title: c.label }, c.label);
      b.addEventListener('click', () => o.onSort?.(c.id));
      this.header.append(h('div', { role: 'columnheader', 'data-col': c.id, class: c.end ? 'kds-vt-cell end' : 'kds-vt-cell' }, b));
    }
    this.spacer = h('div', { class: 'kds-vt-spacer', role: 'presentation' });
    this.viewport = h('div', { class: 'kds-vt-viewport', role: 'rowgroup' }, this.spacer);
    this.el = h('div', { class: 'kds-vt', role: 'grid', 'aria-label': o.label, 'aria-colcount': o.columns.length, 'aria-rowcount': 1 }, h('div', { role: 'rowgroup' }, this.header), this.viewport);
    this.viewport.addEventListener('scroll', () => {
      this.schedule();
      o.onScroll?.(this.viewport.scrollTop);
    });
    this.viewport.addEventListener('keydown', (e) => this.onKey(e));
    this.viewport.addEventListener('click', (e) => {
      const i = this.indexOfEvent(e);
      if (i === undefined) return;
      this.setActive(i, true);
      if (o.activateOnClick && this.rows[i]) o.onActivate?.(this.rows[i]);
    });
    this.viewport.addEventListener('dblclick', (e) => {
      const i = this.indexOfEvent(e);
      if (i !== undefined && this.rows[i] && !o.activateOnClick) o.onActivate?.(this.rows[i]);
    });
    new ResizeObserver(() => this.schedule()).observe(this.viewport);
  }

  /** Replaces the rows (already filtered and sorted); the selected row keeps its selection by id. */
  setRows(rows: readonly R[]): void {
    this.rows = rows;
    this.el.setAttribute('aria-rowcount', String(rows.length + 1));
    this.spacer.style.height = `${rows.length * this.rowHeight}px`;
    this.active = this.selectedId === undefined ? -1 : rows.findIndex((r) => this.o.rowId(r) === this.selectedId);
    this.render();
  }

  /** Shows the sort arrow on a column. */
  setSort(columnId: string, descending: boolean): void {
    for (const cell of this.header.children) {
      const on = (cell as HTMLElement).dataset.col === columnId;
      if (on) cell.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
      else cell.removeAttribute('aria-sort');
      const b = cell.firstElementChild;
      const col = this.o.columns.find((c) => c.id === (cell as HTMLElement).dataset.col);
      if (b && col && this.o.sortLabels) b.setAttribute('aria-label', on ? `${col.label}, ${descending ? this.o.sortLabels.descending : this.o.sortLabels.ascending}` : col.label);
    }
  }

  select(id: string | undefined): void {
    this.selectedId = id;
    this.active = id === undefined ? -1 : this.rows.findIndex((r) => this.o.rowId(r) === id);
    this.render();
  }

  get scrollTop(): number {
    return this.viewport.scrollTop;
  }

  set scrollTop(v: number) {
    this.viewport.scrollTop = v;
    this.render();
  }

  focus(): void {
    if (this.active < 0 && this.rows.length) this.setActive(0, false);
    this.focusActive();
  }

  private schedule(): void {
    this.frame ??= requestAnimationFrame(() => {
      this.frame = undefined;
      this.render();
    });
  }

  private render(): void {
    const rh = this.rowHeight;
    const height = this.viewport.clientHeight || 400;
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / rh) - overscan);
    const last = Math.min(this.rows.length, Math.ceil((this.viewport.scrollTop + height) / rh) + overscan);
    const needed = Math.max(0, last - first);
    while (this.pool.length < needed) {
      const row = h('div', { class: 'kds-vt-row', role: 'row', tabindex: -1 });
      row.style.gridTemplateColumns = this.template;
      row.style.height = `${rh}px`;
      for (const c of this.o.columns) row.append(h('div', { role: 'gridcell', class: c.end ? 'kds-vt-cell end' : 'kds-vt-cell' }));
      this.pool.push(row);
      this.spacer.append(row);
    }
    const focusedInside = this.spacer.contains(document.activeElement);
    // Rows beyond the last entry are hidden in a tight loop; all children are present, so restyle only.
    for (let k = 0; k < this.pool.length; k++) {
      const el = this.pool[k]!;
      const i = first + k;
      const row = this.rows[i];
      if (k >= needed || !row) {
        el.hidden = true;
        continue;
      }
      el.hidden = false;
      el.style.transform = `translateY(${i * rh}px)`;
      el.dataset.index = String(i);
      el.setAttribute('aria-rowindex', String(i + 2));
      const selected = i === this.active;
      el.setAttribute('aria-selected', String(selected));
      el.tabIndex = selected ? 0 : -1;
      for (let c = 0; c < this.o.columns.length; c++) {
        const col = this.o.columns[c]!;
        const cell = el.children[c] as HTMLElement;
        const text = col.text(row);
        if (cell.textContent !== text) cell.textContent = text;
        cell.title = col.title?.(row) ?? text;
        cell.className = `kds-vt-cell${col.end ? ' end' : ''}${col.className ? ' ' + (col.className(row) ?? '') : ''}`;
      }
    }
    // Nothing active in view: make the viewport itself tabbable so Tab still reaches the grid.
    this.viewport.tabIndex = this.active >= first && this.active < last ? -1 : 0;
    if (focusedInside) this.focusActive();
  }

  private focusActive(): void {
    const el = this.pool.find((p) => !p.hidden && Number(p.dataset.index) === this.active);
    if (el) el.focus({ preventScroll: true });
    else this.viewport.focus({ preventScroll: true });
  }

  private setActive(i: number, _fromMouse: boolean): void {
    if (!this.rows.length) return;
    i = Math.max(0, Math.min(this.rows.length - 1, i));
    this.active = i;
    this.selectedId = this.o.rowId(this.rows[i]!);
    const rh = this.rowHeight;
    const top = i * rh;
    const vh = this.viewport.clientHeight;
    if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
    else if (top + rh > this.viewport.scrollTop + vh) this.viewport.scrollTop = top + rh - vh;
    this.render();
    this.focusActive();
    this.o.onSelect?.(this.rows[i]);
  }

  private onKey(e: KeyboardEvent): void {
    const page = Math.max(1, Math.floor(this.viewport.clientHeight / this.rowHeight) - 1);
    const moves: Record<string, number | undefined> = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page };
    if (e.key in moves) this.setActive((this.active < 0 ? -1 : this.active) + moves[e.key]!, false);
    else if (e.key === 'Home') this.setActive(0, false);
    else if (e.key === 'End') this.setActive(this.rows.length - 1, false);
    else if (e.key === 'Enter' && this.active >= 0 && this.rows[this.active]) this.o.onActivate?.(this.rows[this.active]!);
    else return;
    e.preventDefault();
  }

  private indexOfEvent(e: Event): number | undefined {
    const row = (e.target as HTMLElement).closest('.kds-vt-row') as HTMLElement | null;
    return row?.dataset.index !== undefined ? Number(row.dataset.index) : undefined;
  }

  /** Removes everything (the table cannot be used afterwards). */
  dispose(): void {
    clear(this.el);
  }
}
