/**
 * Thin wrappers over the toolkit's button, text field, dropdown, checkbox and tabs. Panels see
 * plain HTMLElements plus a small handle; no toolkit type or tag name leaks out of this folder.
 */
import { custom } from './dom';
import { ensureToolkit } from './toolkit';

export interface Control<V> {
  readonly el: HTMLElement;
  value: V;
  disabled: boolean;
}

/** Adds a live `disabled` accessor (an object spread would copy the getter's value, not the accessor). */
function withDisabled<T extends object>(el: HTMLElement, handle: T): T & { disabled: boolean } {
  return Object.defineProperty(handle, 'disabled', {
    get: () => el.hasAttribute('disabled'),
    set: (v: boolean) => el.toggleAttribute('disabled', v),
    enumerable: true,
  }) as T & { disabled: boolean };
}

/** A control whose value is one property of the toolkit element (`value` of a field or dropdown, `checked` of a checkbox). */
function propertyControl<E extends HTMLElement, K extends keyof E & ('value' | 'checked')>(el: E, key: K): Control<E[K]> {
  return withDisabled(el, {
    el,
    get value() {
      return el[key];
    },
    set value(v: E[K]) {
      el[key] = v;
    },
  });
}

export interface ButtonOptions {
  label: string;
  onClick: () => void;
  /** primary (default) or secondary; `icon` for a bare icon button. */
  appearance?: 'primary' | 'secondary' | 'icon';
  title?: string;
  disabled?: boolean;
}

export function button(o: ButtonOptions): Control<string> {
  ensureToolkit();
  const el = custom('vscode-button', { appearance: o.appearance ?? 'primary', title: o.title, 'aria-label': o.title ?? o.label, disabled: o.disabled }, o.label);
  el.addEventListener('click', () => {
    if (!el.hasAttribute('disabled')) o.onClick();
  });
  return withDisabled(el, {
    el,
    get value() {
      return el.textContent ?? '';
    },
    set value(v: string) {
      el.textContent = v;
    },
  });
}

export interface TextFieldOptions {
  label?: string;
  placeholder?: string;
  value?: string;
  /** Called on every keystroke (debounce in the caller if the work is heavy). */
  onInput: (value: string) => void;
  maxLength?: number;
  type?: 'text' | 'search' | 'number' | 'password';
}

export function textField(o: TextFieldOptions): Control<string> {
  ensureToolkit();
  const el = custom('vscode-text-field', { placeholder: o.placeholder, type: o.type ?? 'text', maxlength: o.maxLength, 'aria-label': o.label ?? o.placeholder }) as HTMLElement & { value: string };
  if (o.label) el.append(o.label);
  el.value = o.value ?? '';
  el.addEventListener('input', () => o.onInput(el.value));
  return propertyControl(el, 'value');
}

export interface TextAreaOptions {
  label: string;
  value?: string;
  rows?: number;
  maxLength?: number;
  onInput: (value: string) => void;
}

/** A multi-line text field (JSON of a list, for example), resizable vertically. */
export function textArea(o: TextAreaOptions): Control<string> {
  ensureToolkit();
  const el = custom('vscode-text-area', { rows: o.rows ?? 6, maxlength: o.maxLength, resize: 'vertical', 'aria-label': o.label }) as HTMLElement & { value: string };
  el.append(o.label);
  el.value = o.value ?? '';
  el.addEventListener('input', () => o.onInput(el.value));
  return propertyControl(el, 'value');
}

export interface DropdownOption {
  value: string;
  label: string;
}

export interface DropdownOptions {
  label: string;
  options: DropdownOption[];
  value?: string;
  onChange: (value: string) => void;
}

export function dropdown(o: DropdownOptions): Control<string> {
  ensureToolkit();
  const el = custom('vscode-dropdown', { 'aria-label': o.label, title: o.label }) as HTMLElement & { value: string };
  for (const opt of o.options) el.append(custom('vscode-option', { value: opt.value }, opt.label));
  // The toolkit picks its value once the options are connected.
  queueMicrotask(() => {
    if (o.value !== undefined) el.value = o.value;
  });
  el.addEventListener('change', () => o.onChange(el.value));
  return propertyControl(el, 'value');
}

export interface CheckboxOptions {
  label: string;
  checked?: boolean;
  onChange: (checked: boolean) => void;
}

export function checkbox(o: CheckboxOptions): Control<boolean> {
  ensureToolkit();
  const el = custom('vscode-checkbox', {}, o.label) as HTMLElement & { checked: boolean };
  el.checked = o.checked ?? false;
  el.addEventListener('change', () => o.onChange(el.checked));
  return propertyControl(el, 'checked');
}

export interface Tab {
  id: string;
  label: string;
  content: HTMLElement;
}

export interface TabsHandle {
  readonly el: HTMLElement;
  select(id: string): void;
}

/** Tabs with keyboard support (arrow keys move between tabs, as the toolkit implements the ARIA tabs pattern). */
export function tabs(list: Tab[], onSelect?: (id: string) => void): TabsHandle {
  ensureToolkit();
  const el = custom('vscode-panels', {}) as HTMLElement & { activeid: string };
  for (const t of list) el.append(custom('vscode-panel-tab', { id: `tab-${t.id}` }, t.label));
  for (const t of list) el.append(custom('vscode-panel-view', { id: `view-${t.id}` }, t.content));
  el.addEventListener('change', () => onSelect?.((el.activeid ?? '').replace(/^tab-/, '')));
  return {
    el,
    select(id) {
      el.activeid = `tab-${id}`;
    },
  };
}
