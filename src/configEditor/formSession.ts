import { isAbsolute, dirname, relative } from 'node:path';
import { originalTemplate } from '../engine/config';
import type { FormFieldInfo, FormGroupInfo, FormState, InputValue } from '../webviewProtocol/configEditor';
import type { FileFingerprint } from './fileWatch';
import { type FieldDescriptor, formFields, formGroups } from './formModel';
import { loadForm, renderConfig, validateForm, valueFromInput } from './formValues';

/**
 * One open configuration form, as the editor panel's host holds it: the file as loaded, the
 * values being edited, and the state posted to the webview. Pure (no vscode, no I/O): the panel
 * reads and writes the file and passes the text and fingerprints in.
 */
export class FormSession {
  readonly fields: FieldDescriptor[] = formFields();
  private readonly byKey = new Map(this.fields.map((f) => [f.key, f]));
  /** The text as loaded ('' for a new file). */
  originalText = '';
  /** Fingerprint taken when the text was loaded; undefined: the file did not exist. */
  fingerprint: FileFingerprint | undefined;
  values: Record<string, unknown> = {};
  unknown: Record<string, unknown> = {};
  parseError: FormState['parseError'];
  /** What each control shows (kept as typed, so "12a" stays "12a" while it is wrong). */
  private inputs: Record<string, InputValue> = {};
  private loadedInputs: Record<string, InputValue> = {};
  private loadedKeys = new Set<string>();
  changedOnDisk = false;

  constructor(readonly path: string) {}

  /** (Re)loads from the file's text; `text` undefined: there is no file, start from the original template. */
  load(text: string | undefined, fingerprint: FileFingerprint | undefined): void {
    this.fingerprint = fingerprint;
    this.changedOnDisk = false;
    this.originalText = text ?? '';
    if (text === undefined) {
      this.values = { ...originalTemplate };
      this.unknown = {};
      this.parseError = undefined;
    } else {
      const loaded = loadForm(text, this.path);
      this.values = loaded.values;
      this.unknown = loaded.unknown;
      this.parseError = loaded.parseError;
    }
    this.inputs = Object.fromEntries(this.fields.map((f) => [f.key, toInput(f, this.values[f.key])]));
    this.loadedInputs = { ...this.inputs };
    this.loadedKeys = new Set(Object.keys(this.values));
  }

  get isNew(): boolean {
    return this.fingerprint === undefined;
  }

  /** A form key, or undefined for anything else (the webview names keys; never trust them). */
  field(key: string): FieldDescriptor | undefined {
    return this.byKey.get(key);
  }

  /** Applies what the user put in a control. Returns false for a key the form does not have or a value of the wrong type. */
  edit(key: string, input: InputValue): boolean {
    const f = this.field(key);
    if (!f || this.parseError) return false;
    if ((f.kind === 'boolean') !== (typeof input === 'boolean')) return false;
    this.inputs[key] = input;
    const v = valueFromInput(key, input);
    // A checkbox back at the default for a key the file did not have: leave the key out again.
    const atDefault = f.kind === 'boolean' && !f.required && v === (f.default ?? false) && !this.loadedKeys.has(key);
    if (v === undefined || atDefault) delete this.values[key];
    else this.values[key] = v;
    return true;
  }

  /**
   * Re-applies edits kept by the webview across a window reload: only the inputs that differ
   * from what the file gave. When the file is no longer the one they were made on, the edits are
   * still applied and `changedOnDisk` is set (the user decides: Reload or Overwrite).
   */
  restore(inputs: Record<string, InputValue>, baseSha256: string): number {
    let n = 0;
    for (const [k, v] of Object.entries(inputs)) {
      if (this.field(k) && this.loadedInputs[k] !== v && this.edit(k, v)) n++;
    }
    if (n > 0 && baseSha256 !== (this.fingerprint?.sha256 ?? '')) this.changedOnDisk = true;
    return n;
  }

  /** The form differs from the file (for a new file: always, there is something to create). */
  get dirty(): boolean {
    return this.isNew || this.fields.some((f) => this.inputs[f.key] !== this.loadedInputs[f.key]);
  }

  /** The user changed a control since the file was (re)loaded: closing the form would lose that. */
  get edited(): boolean {
    return this.fields.some((f) => this.inputs[f.key] !== this.loadedInputs[f.key]);
  }

  /**
   * Problems by key ('' for the whole file), as the engine would report them — without the
   * engine's "<file>: " prefix, since the form shows the file once in its header.
   */
  errors(): Record<string, string> {
    if (this.parseError) return {};
    const out: Record<string, string> = {};
    const prefix = `${this.path}: `;
    for (const p of validateForm(this.values, this.path)) {
      // A problem of a key the form has no field for (siem given as something else than an object) concerns the whole file.
      const key = this.byKey.has(p.key) ? p.key : '';
      out[key] ??= this.path && p.message.startsWith(prefix) ? p.message.slice(prefix.length) : p.message;
    }
    return out;
  }

  /** The text Save writes: formatted JSON, unknown keys kept, key order of the file. */
  render(): string {
    return renderConfig(this.values, this.unknown, this.originalText || undefined);
  }

  /** After a successful save of `text`: it is now the loaded file. */
  saved(text: string, fingerprint: FileFingerprint): void {
    this.load(text, fingerprint);
  }

  state(replaceInputs: boolean, notice?: FormState['notice']): FormState {
    const s: FormState = {
      path: this.path,
      inputs: { ...this.inputs },
      errors: this.errors(),
      dirty: this.dirty,
      isNew: this.isNew,
      unknown: Object.entries(this.unknown).map(([key, v]) => ({ key, json: JSON.stringify(v) ?? 'null' })),
      changedOnDisk: this.changedOnDisk,
      baseSha256: this.fingerprint?.sha256 ?? '',
      replaceInputs,
    };
    if (this.parseError) s.parseError = { ...this.parseError };
    if (notice) s.notice = notice;
    return s;
  }

  /**
   * The value to put in a path field after the user picked `picked` (absolute) in a dialog: a
   * path relative to the configuration's folder when the field already held a relative path
   * (keeps a portable config portable), otherwise the absolute path.
   */
  pickedPath(key: string, picked: string): string {
    const current = this.inputs[key];
    if (typeof current === 'string' && current.trim() !== '' && !isAbsolute(current)) {
      const rel = relative(dirname(this.path), picked);
      return rel === '' ? '.' : rel;
    }
    return picked;
  }
}

/** What a control shows for a stored value (undefined: not set). */
export function toInput(f: Pick<FieldDescriptor, 'kind'>, v: unknown): InputValue {
  if (f.kind === 'boolean') return v === true;
  if (v === undefined || v === null) return '';
  if (f.kind === 'tristate') return String(v);
  if (f.kind === 'json') return JSON.stringify(v, null, 2);
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
}

/** The fields as the webview draws them. */
export function formFieldInfos(fields: FieldDescriptor[] = formFields()): FormFieldInfo[] {
  return fields.map((f) => {
    const info: FormFieldInfo = {
      key: f.key,
      title: f.title,
      description: f.description,
      kind: f.kind,
      required: f.required,
      placeholder: f.required || f.default === undefined || f.default === null ? '' : toInput({ kind: f.kind === 'boolean' ? 'string' : f.kind }, f.default) as string,
    };
    if (f.kind === 'enum' || f.kind === 'tristate') info.options = (f.enumValues ?? []).map((v) => String(v));
    return info;
  });
}

export function formGroupInfos(fields: FieldDescriptor[] = formFields()): FormGroupInfo[] {
  return formGroups(fields).map((g) => ({ id: g.id, title: g.title, keys: [...g.keys] }));
}
