/**
 * "KDS: Edit Configuration" (browser side). The host owns the form (src/configEditor/formSession.ts):
 * it validates every edit with the engine's own rules and answers with the new state. This page
 * draws the controls, forwards edits (text fields debounced), and keeps unsaved edits in
 * setState so that a window reload restores them.
 */
import './style.css';
import { button, checkbox, dropdown, textArea, textField, type Control } from '../components/controls';
import { clear, h } from '../components/dom';
import { pageStrings, type Strings } from '../shared/l10n';
import { createChannel, persistedViewState } from '../shared/vscodeApi';
import type {
  CheckItemInfo,
  ConfigEditorMessage,
  ConfigEditorRequest,
  ConfigEditorStringId,
  FormFieldInfo,
  FormGroupInfo,
  FormState,
  InputValue,
} from '../../src/webviewProtocol/configEditor';

interface ViewState {
  /** The form's inputs while it has unsaved edits ({} otherwise). */
  inputs: Record<string, InputValue>;
  /** The file the edits were made on. */
  baseSha256: string;
  scrollTop: number;
}

// `persist` rather than `save`: buildUi has a Save button of that name.
const { saved, save: persist } = persistedViewState<ViewState>({ inputs: {}, baseSha256: '', scrollTop: 0 });
const channel = createChannel<ConfigEditorMessage, ConfigEditorRequest>(['init', 'state', 'testStarted', 'testResult']);
const debounceMs = 300;
// What the previous page kept (read before the first state message overwrites it).
const savedEdits = { ...saved.inputs };
const savedBase = saved.baseSha256;

let S: Strings<ConfigEditorStringId> | undefined;
let ui: Ui | undefined;
let state: FormState | undefined;
let restoreOffered = false;
const pending = new Map<string, { value: InputValue; timer: number }>();

channel.onMessage((m) => {
  switch (m.type) {
    case 'init':
      S = pageStrings(m);
      ui = buildUi(S, m.fields, m.groups);
      break;
    case 'state':
      if (!ui) return;
      state = m.state;
      ui.render(m.state);
      persist({ inputs: m.state.dirty ? m.state.inputs : {}, baseSha256: m.state.baseSha256 });
      if (!restoreOffered && m.state.replaceInputs) {
        restoreOffered = true;
        if (Object.keys(savedEdits).length > 0) channel.post({ type: 'restore', inputs: savedEdits, baseSha256: savedBase });
        window.scrollTo(0, saved.scrollTop);
      }
      break;
    case 'testStarted':
      ui?.testStarted();
      break;
    case 'testResult':
      ui?.testResult(m.exitCode, m.items);
      break;
  }
});

let scrollTimer: number | undefined;
window.addEventListener('scroll', () => {
  scrollTimer ??= window.setTimeout(() => {
    scrollTimer = undefined;
    persist({ scrollTop: window.scrollY });
  }, 200);
});

channel.post({ type: 'ready' });

/** Sends an edit now (checkboxes, dropdowns, pickers) or after a pause in typing (text fields). */
function edit(key: string, value: InputValue, debounce: boolean): void {
  const p = pending.get(key);
  if (p) window.clearTimeout(p.timer);
  if (!debounce) {
    pending.delete(key);
    channel.post({ type: 'edit', key, value });
    return;
  }
  pending.set(key, {
    value,
    timer: window.setTimeout(() => {
      pending.delete(key);
      channel.post({ type: 'edit', key, value });
    }, debounceMs),
  });
  // Save (which sends pending edits first) must not wait for the host's answer to this one.
  ui?.editPending();
}

/** Posts every debounced edit now (before Save / Test), or drops them (Revert). */
function flush(send: boolean): void {
  for (const [key, p] of pending) {
    window.clearTimeout(p.timer);
    if (send) channel.post({ type: 'edit', key, value: p.value });
  }
  pending.clear();
}

interface FieldUi {
  info: FormFieldInfo;
  control: Control<string> | Control<boolean>;
  error: HTMLElement;
  row: HTMLElement;
  browse?: Control<string>;
}

interface Ui {
  render(s: FormState): void;
  /** A typed edit waits for its debounce: Save is possible now. */
  editPending(): void;
  testStarted(): void;
  testResult(exitCode: number, items: CheckItemInfo[]): void;
}

function buildUi(S: Strings<ConfigEditorStringId>, fields: FormFieldInfo[], groups: FormGroupInfo[]): Ui {
  const root = document.getElementById('root')!;
  clear(root);
  const byKey = new Map(fields.map((f) => [f.key, f]));
  const fieldUis = new Map<string, FieldUi>();

  // --- header: file, status, actions --------------------------------------------------------
  const fileLine = h('div', { class: 'file kds-mono' });
  const statusLine = h('div', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const save = button({ label: S.t('save'), onClick: () => { flush(true); channel.post({ type: 'save' }); } });
  const revert = button({ label: S.t('revert'), appearance: 'secondary', onClick: () => { flush(false); channel.post({ type: 'reload' }); } });
  const test = button({ label: S.t('test'), appearance: 'secondary', onClick: () => { flush(true); channel.post({ type: 'test' }); } });
  const openText = button({ label: S.t('openAsText'), appearance: 'secondary', onClick: () => channel.post({ type: 'openAsText' }) });
  const header = h('header', { class: 'bar' }, h('div', { class: 'where' }, h('h1', {}, S.t('title')), fileLine, statusLine), h('div', { class: 'kds-row-gap' }, save.el, revert.el, test.el, openText.el));

  // --- banners ------------------------------------------------------------------------------
  const changedBanner = h('div', { class: 'banner warn', role: 'alert', hidden: true },
    h('div', {}, h('strong', {}, S.t('changedOnDisk')), ' ', h('span', {}, S.t('changedOnDiskHint'))),
    h('div', { class: 'kds-row-gap' },
      button({ label: S.t('reload'), appearance: 'secondary', onClick: () => { flush(false); channel.post({ type: 'reload' }); } }).el,
      button({ label: S.t('overwrite'), onClick: () => { flush(true); channel.post({ type: 'overwrite' }); } }).el));
  const parseMessage = h('pre', { class: 'kds-mono parse' });
  const parseBanner = h('div', { class: 'banner error', role: 'alert', hidden: true },
    h('div', {}, h('strong', {}, S.t('parseError'))), parseMessage,
    h('div', { class: 'kds-row-gap' },
      button({ label: S.t('openAsText'), onClick: () => channel.post({ type: 'openAsText' }) }).el,
      button({ label: S.t('reload'), appearance: 'secondary', onClick: () => channel.post({ type: 'reload' }) }).el));
  const noticeBanner = h('div', { class: 'banner', role: 'status', 'aria-live': 'polite', hidden: true });
  const newBanner = h('div', { class: 'banner info', hidden: true }, S.t('newFile'));
  const noPathBanner = h('div', { class: 'banner error', hidden: true }, S.t('noPath'));
  const wholeFileError = h('div', { class: 'banner error', id: 'err-', hidden: true });

  // --- the form -----------------------------------------------------------------------------
  const form = h('div', { class: 'form' });
  for (const g of groups) {
    const headingId = `group-${g.id}`;
    const section = h('section', { class: 'group', 'aria-labelledby': headingId }, h('h2', { id: headingId }, g.title));
    for (const key of g.keys) {
      const info = byKey.get(key);
      if (!info) continue;
      const f = fieldUi(S, info);
      fieldUis.set(key, f);
      section.append(f.row);
    }
    form.append(section);
  }

  // --- unknown keys and the test result -------------------------------------------------------
  const unknownList = h('dl', { class: 'unknown kds-mono' });
  const unknownSection = h('section', { class: 'group', 'aria-labelledby': 'unknown-h', hidden: true },
    h('h2', { id: 'unknown-h' }, S.t('unknownKeys')), h('p', { class: 'kds-muted' }, S.t('unknownKeysHint')), unknownList);
  const testBody = h('div', { 'data-testid': 'test-result' });
  const closeTest = button({ label: S.t('close'), appearance: 'secondary', onClick: () => { testSection.hidden = true; (test.el as HTMLElement).focus(); } });
  const testSection = h('section', { class: 'group test', 'aria-labelledby': 'test-h', 'aria-live': 'polite', hidden: true }, h('h2', { id: 'test-h' }, S.t('test'), closeTest.el), testBody);

  // The header, the changed-on-disk banner, the last notice and the connection test's result stay
  // in view while scrolling: the result shows next to the button that asked for it, wherever the
  // form is scrolled to.
  const top = h('div', { class: 'top' }, header, changedBanner, noticeBanner, testSection);
  root.append(h('main', { class: 'editor' }, top, noPathBanner, parseBanner, newBanner, wholeFileError, form, unknownSection));

  return {
    render(s) {
      fileLine.textContent = s.path ? S.t('file', s.path) : '';
      noPathBanner.hidden = s.path !== '';
      changedBanner.hidden = !s.changedOnDisk;
      parseBanner.hidden = !s.parseError;
      parseMessage.textContent = s.parseError?.message ?? '';
      form.hidden = !!s.parseError;
      newBanner.hidden = !s.isNew || !s.path;
      noticeBanner.hidden = !s.notice;
      noticeBanner.className = `banner ${s.notice?.kind === 'error' ? 'error' : 'info'}`;
      noticeBanner.textContent = s.notice?.text ?? '';
      const errorCount = Object.keys(s.errors).length;
      wholeFileError.hidden = !s.errors[''];
      wholeFileError.textContent = s.errors[''] ?? '';
      statusLine.textContent = s.parseError ? '' : [s.dirty ? S.t('unsaved') : S.t('saved'), errorCount ? S.tn('problems', errorCount) : S.t('valid')].join(' ');
      statusLine.classList.toggle('bad', errorCount > 0);
      // With a typed edit still waiting for its debounce, Save stays usable: it sends the edit first
      // and the host refuses an invalid form with a notice.
      save.disabled = !!s.parseError || !s.path || (pending.size === 0 && (errorCount > 0 || !s.dirty));
      save.el.title = errorCount > 0 ? S.t('saveBlocked') : '';
      revert.disabled = !s.dirty || s.isNew;
      test.disabled = !!s.parseError || !s.path;
      openText.disabled = !s.path || s.isNew;
      for (const [key, f] of fieldUis) {
        if (s.replaceInputs && key in s.inputs && !pending.has(key)) setControl(f, s.inputs[key]!);
        const message = s.errors[key];
        f.error.textContent = message ?? '';
        f.error.hidden = !message;
        f.row.classList.toggle('invalid', !!message);
        if (message) f.control.el.setAttribute('aria-invalid', 'true');
        else f.control.el.removeAttribute('aria-invalid');
      }
      clear(unknownList);
      for (const u of s.unknown) unknownList.append(h('dt', {}, u.key), h('dd', {}, u.json));
      unknownSection.hidden = s.unknown.length === 0 || !!s.parseError;
    },
    editPending() {
      if (state && !state.parseError && state.path) save.disabled = false;
    },
    testStarted() {
      testSection.hidden = false;
      test.disabled = true;
      clear(testBody);
      testBody.append(h('p', { class: 'kds-muted' }, S.t('testing')));
    },
    testResult(exitCode, items) {
      testSection.hidden = false;
      test.disabled = !!state?.parseError || !state?.path;
      clear(testBody);
      const summary = ([S.t('testResult0'), S.t('testResult1'), S.t('testResult2'), S.t('testResult3')] as const)[exitCode] ?? S.t('testResult1');
      testBody.append(h('p', { class: `summary exit-${exitCode}` }, summary, ' ', h('span', { class: 'kds-muted' }, S.t('exitCode', exitCode))));
      const list = h('ul', { class: 'checks' });
      for (const i of items) {
        const mark = i.status === 'ok' ? '✓' : i.status === 'warn' ? '!' : '✗';
        const label = i.status === 'ok' ? S.t('statusOk') : i.status === 'warn' ? S.t('statusWarn') : S.t('statusFail');
        const li = h('li', { class: `check ${i.status}` },
          h('span', { class: 'mark', 'aria-hidden': 'true' }, mark),
          h('span', { class: 'visually-hidden' }, `${label}: `),
          h('span', { class: 'check-title' }, i.title));
        if (i.details.length) li.append(h('ul', { class: 'details kds-mono' }, ...i.details.map((d) => h('li', {}, d))));
        list.append(li);
      }
      testBody.append(list);
    },
  };
}

function fieldUi(S: Strings<ConfigEditorStringId>, info: FormFieldInfo): FieldUi {
  const descId = `desc-${info.key}`;
  const errId = `err-${info.key}`;
  const title = info.required ? `${info.title} *` : info.title;
  let control: Control<string> | Control<boolean>;
  let browse: Control<string> | undefined;
  const inputRow = h('div', { class: 'input-row' });
  switch (info.kind) {
    case 'boolean':
      control = checkbox({ label: info.title, onChange: (v) => edit(info.key, v, false) });
      inputRow.append(control.el);
      break;
    case 'enum':
    case 'tristate': {
      const label = (v: string) => (v === 'auto' ? S.t('auto') : v === 'true' ? S.t('yes') : v === 'false' ? S.t('no') : v);
      const options = (info.options ?? []).map((v) => ({ value: v, label: label(v) }));
      if (!info.required) options.unshift({ value: '', label: S.t('notSet', label(info.placeholder)) });
      control = dropdown({ label: info.title, options, onChange: (v) => edit(info.key, v, false) });
      inputRow.append(h('span', { class: 'label', 'aria-hidden': 'true' }, title), control.el);
      break;
    }
    case 'json':
      // A list (shares): its JSON, edited as text and checked by the engine's own validation.
      control = textArea({ label: title, rows: 8, maxLength: 4096, onInput: (v) => edit(info.key, v, true) });
      control.el.classList.add('grow', 'kds-mono');
      inputRow.append(control.el);
      break;
    default: {
      control = textField({ label: title, placeholder: info.placeholder, maxLength: 4096, onInput: (v) => edit(info.key, v, true) });
      inputRow.append(control.el);
      control.el.classList.add('grow');
      if (info.kind === 'folder' || info.kind === 'file') {
        browse = button({ label: S.t('browse'), title: S.t('browseLabel', info.title), appearance: 'secondary', onClick: () => { flush(true); channel.post({ type: 'browse', key: info.key }); } });
        inputRow.append(browse.el);
      }
    }
  }
  control.el.setAttribute('aria-describedby', `${errId} ${descId}`);
  control.el.id = `field-${info.key}`;
  const desc = h('p', { class: 'desc', id: descId }, h('code', {}, info.key), ' — ', ...withCode(info.description));
  if (info.placeholder && info.kind !== 'enum' && info.kind !== 'tristate') desc.append(' ', h('span', { class: 'kds-muted' }, S.t('defaultValue', info.placeholder)));
  const error = h('div', { class: 'error', id: errId, 'aria-live': 'polite', hidden: true });
  const row = h('div', { class: `field kind-${info.kind}` }, inputRow, error, desc);
  return { info, control, error, row, browse };
}

function setControl(f: FieldUi, v: InputValue): void {
  if (f.info.kind === 'boolean') (f.control as Control<boolean>).value = v === true;
  else (f.control as Control<string>).value = typeof v === 'string' ? v : String(v);
}

/** `text` with its `backticked` parts as <code> (the schema's descriptions use Markdown's backticks). */
function withCode(text: string): Array<Node | string> {
  return text.split(/(`[^`]+`)/).filter(Boolean).map((part) => (part.length > 2 && part.startsWith('`') && part.endsWith('`') ? h('code', {}, part.slice(1, -1)) : part));
}
