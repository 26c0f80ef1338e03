/**
 * "KDS: Create Support Request" (browser side): the checklist form, the files to add, the preview
 * of the archive. The host gathers, scrubs and writes (src/extension/panels/supportRequestPanel.ts);
 * answers typed here survive a reload through setState.
 */
import './style.css';
import { button, checkbox, dropdown } from '../components/controls';
import { clear, h } from '../components/dom';
import { pageStrings, type Strings } from '../shared/l10n';
import { createChannel, persistedViewState } from '../shared/vscodeApi';
import type { SupportFieldInfo, SupportLanguageId, SupportRequestMessage, SupportRequestRequest, SupportRequestStringId } from '../../src/webviewProtocol/supportRequest';
import { maxAnswerLength } from '../../src/webviewProtocol/supportRequest';

interface ViewState {
  answers: Record<string, string>;
  language: SupportLanguageId | '';
  kataLogs: boolean;
  collect: boolean;
}

const { saved, save } = persistedViewState<ViewState>({ answers: {}, language: '', kataLogs: true, collect: true });
const channel = createChannel<SupportRequestMessage, SupportRequestRequest>(['init', 'files', 'busy', 'preview', 'written', 'error']);

let S: Strings<SupportRequestStringId> | undefined;
let fields: SupportFieldInfo[] = [];
let prefill: Record<string, string> = {};
let notes: Record<string, string> = {};
let ui: ReturnType<typeof buildUi> | undefined;

function language(): SupportLanguageId {
  return saved.language === 'ru' ? 'ru' : 'en';
}

function answers(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields) {
    const v = saved.answers[f.key] ?? prefill[f.key] ?? '';
    out[f.key] = v.slice(0, maxAnswerLength);
  }
  return out;
}

channel.onMessage((m) => {
  switch (m.type) {
    case 'init':
      S = pageStrings(m);
      fields = m.fields;
      prefill = m.prefill;
      notes = m.notes ?? {};
      if (!saved.language) save({ language: m.language });
      ui = buildUi(S, m.where);
      ui.showFiles(m.files);
      break;
    case 'files':
      ui?.showFiles(m.files);
      break;
    case 'busy':
      ui?.status(m.text, false);
      break;
    case 'preview':
      ui?.showPreview(m.top, m.entries, m.notes, m.scrubbed);
      break;
    case 'written':
      ui?.status(S!.t('written', m.path, S!.formatNumber(m.size), m.sha256), false);
      ui?.setBusy(false);
      break;
    case 'error':
      ui?.status(m.message, true);
      ui?.setBusy(false);
      break;
  }
});
channel.post({ type: 'ready' });

function buildUi(s: Strings<SupportRequestStringId>, where: string) {
  const root = document.getElementById('root')!;
  clear(root);
  const form = h('div', { class: 'form' });
  root.append(form);
  form.append(h('h1', {}, s.t('title')), h('p', { class: 'kds-muted' }, s.t('intro')), h('p', { class: 'kds-mono', 'data-testid': 'support-where' }, s.t('where', where)));

  const lang = dropdown({
    label: s.t('language'),
    options: [
      { value: 'en', label: 'English' },
      { value: 'ru', label: 'Русский' },
    ],
    value: language(),
    onChange: (v) => {
      save({ language: v === 'ru' ? 'ru' : 'en' });
      drawFields();
    },
  });
  form.append(h('div', { class: 'field' }, h('label', {}, s.t('language')), lang.el));

  const fieldBox = h('div', {});
  form.append(fieldBox);
  const drawFields = () => {
    clear(fieldBox);
    for (const f of fields) {
      const text = f.text[language()];
      const id = `f-${f.key}`;
      const value = saved.answers[f.key] ?? prefill[f.key] ?? '';
      const input = f.multiline ? h('textarea', { id, 'data-testid': id, maxlength: maxAnswerLength }) : h('input', { id, 'data-testid': id, type: 'text', maxlength: maxAnswerLength });
      (input as HTMLInputElement | HTMLTextAreaElement).value = value;
      input.addEventListener('input', () => save({ answers: { ...saved.answers, [f.key]: (input as HTMLInputElement).value } }));
      const label = h('label', { for: id }, text.label, f.required ? h('span', { class: 'req' }, ` * ${s.t('required')}`) : '', prefill[f.key] ? h('span', { class: 'found' }, ` (${s.t('prefilled')})`) : '');
      const note = notes[f.key] ? h('span', { class: 'note', 'data-testid': `${id}-note` }, notes[f.key]) : '';
      fieldBox.append(h('div', { class: 'field' }, label, h('span', { class: 'help' }, text.help), note, input));
    }
  };
  drawFields();

  form.append(h('h2', {}, s.t('sources')));
  const kataLogs = checkbox({ label: s.t('kataLogs'), checked: saved.kataLogs, onChange: (v) => save({ kataLogs: v }) });
  const collect = checkbox({ label: s.t('collect'), checked: saved.collect, onChange: (v) => save({ collect: v }) });
  form.append(h('div', {}, kataLogs.el), h('div', {}, collect.el), h('p', { class: 'kds-muted' }, s.t('collectNote')));

  form.append(h('h2', {}, s.t('files')));
  const fileList = h('div', { class: 'files', 'data-testid': 'support-files' });
  const addBtn = button({ label: s.t('addFiles'), appearance: 'secondary', onClick: () => channel.post({ type: 'addFiles' }) });
  form.append(fileList, addBtn.el);

  const prepareBtn = button({
    label: s.t('prepare'),
    onClick: () => {
      const missing = fields.filter((f) => f.required && !answers()[f.key]!.trim()).map((f) => f.text[language()].label);
      statusEl.textContent = missing.length ? s.t('missing', missing.join(', ')) : '';
      setBusy(true);
      previewBox.hidden = true;
      channel.post({ type: 'prepare', answers: answers(), language: language(), kataLogs: kataLogs.value, collect: collect.value });
    },
  });
  const writeBtn = button({ label: s.t('write'), onClick: () => (setBusy(true), channel.post({ type: 'write' })) });
  writeBtn.disabled = true;
  const statusEl = h('div', { class: 'status', role: 'status', 'data-testid': 'support-status' });
  form.append(h('div', { class: 'actions' }, prepareBtn.el, writeBtn.el), statusEl);

  const previewBox = h('section', { 'data-testid': 'support-preview' });
  previewBox.hidden = true;
  form.append(previewBox);

  const setBusy = (busy: boolean) => {
    prepareBtn.disabled = busy;
    writeBtn.disabled = busy || previewBox.hidden;
  };

  return {
    setBusy,
    status(text: string, bad: boolean) {
      statusEl.textContent = text;
      statusEl.classList.toggle('bad', bad);
    },
    showFiles(files: string[]) {
      clear(fileList);
      if (!files.length) {
        fileList.append(h('p', { class: 'kds-muted' }, s.t('noFiles')));
        return;
      }
      const ul = h('ul', {});
      for (const f of files) {
        const rm = button({ label: s.t('removeFile'), appearance: 'secondary', onClick: () => channel.post({ type: 'removeFile', path: f }) });
        ul.append(h('li', {}, h('span', { class: 'kds-mono' }, f), rm.el));
      }
      fileList.append(ul);
    },
    showPreview(top: string, entries: Array<{ name: string; size: number; about: string }>, notes: string[], scrubbed: number) {
      clear(previewBox);
      previewBox.append(h('h2', {}, s.t('preview')), h('p', { class: 'kds-muted' }, s.t('previewNote')));
      const table = h('table', { class: 'preview' });
      for (const e of entries) table.append(h('tr', {}, h('td', { class: 'kds-mono' }, `${top}/${e.name}`), h('td', { class: 'size' }, s.formatNumber(e.size)), h('td', {}, e.about)));
      previewBox.append(table);
      if (notes.length) {
        const ul = h('ul', {});
        for (const n of notes) ul.append(h('li', {}, n));
        previewBox.append(h('h2', {}, s.t('notIncluded')), ul);
      }
      previewBox.append(h('p', {}, s.t('scrubbed', scrubbed)));
      previewBox.hidden = false;
      statusEl.textContent = '';
      setBusy(false);
    },
  };
}
