import { t } from '../common/l10n';
import { type ConfigPropertySchema, configProperties, configSubProperties, originalTemplate, requiredKeys } from '../engine/config';

/**
 * The form of the configuration editor, derived from the JSON Schema the engine validates with.
 * Everything here is plain data (JSON-serialisable) so that it can be posted to a webview.
 */

/** 'json': a value that is not a scalar (the list of shares), edited as its JSON text. */
export type FieldKind = 'folder' | 'file' | 'string' | 'integer' | 'number' | 'boolean' | 'enum' | 'tristate' | 'json';

export type GroupId = 'folders' | 'connection' | 'trust' | 'scanning' | 'logging' | 'monitoring' | 'other';

export interface FieldDescriptor {
  /** A top-level key, or `parent.key` for a key inside an object-valued one (siem.host). */
  key: string;
  group: GroupId;
  /** Localised title from the schema. */
  title: string;
  /** Localised description from the schema (plain text; `code` in backticks as in the schema). */
  description: string;
  kind: FieldKind;
  /** The engine refuses the file without this key. */
  required: boolean;
  /** One of the seven keys of the original kata_dir_scanner.conf. */
  original: boolean;
  /** The schema's default: the value the engine uses when the key is absent (for required keys: the template's value); absent when it depends on other keys (siem.port). */
  default?: unknown;
  /** 'enum': the allowed values; 'tristate': ["auto", true, false]. */
  enumValues?: unknown[];
  /** Numbers: inclusive bounds; exclusiveMin for max_file_size_mb (> 0). */
  min?: number;
  max?: number;
  exclusiveMin?: number;
  /** Strings: the schema's pattern (JavaScript RegExp source, `u` flag not needed) and lengths. */
  pattern?: string;
  /** Localised hint shown when `pattern` does not match (the schema's patternErrorMessage). */
  patternMessage?: string;
  minLength?: number;
  maxLength?: number;
  examples?: unknown[];
  /** Paths: relative paths are resolved against the folder of the configuration file. */
  relativeToConfig?: boolean;
}

export interface FieldGroup {
  id: GroupId;
  /** Localised. */
  title: string;
  keys: string[];
}

/** Order of the form: groups, and keys within each group. A schema key missing here lands in 'other'. */
const layout: ReadonlyArray<{ id: GroupId; keys: readonly string[] }> = [
  { id: 'folders', keys: ['in_dir', 'out_dir', 'qrnt_dir', 'shares', 'state_dir'] },
  { id: 'connection', keys: ['kata_cn_addr', 'kata_cn_port', 'system_id', 'sensor_instance_id'] },
  { id: 'trust', keys: ['cert_pem', 'cert_key', 'kata_ca', 'kata_cert_sha256', 'insecure'] },
  { id: 'scanning', keys: ['exclude_list', 'exclude_case_sensitive', 'max_file_size_mb', 'stable_ms', 'poll_interval_s', 'scan_timeout_s', 'max_inflight', 'use_polling'] },
  { id: 'logging', keys: ['log_file', 'log_format'] },
  {
    id: 'monitoring',
    keys: ['metrics_listen', 'siem.host', 'siem.port', 'siem.transport', 'siem.format', 'siem.ca', 'siem.client_cert', 'siem.framing', 'siem.facility', 'siem.queue_size'],
  },
];

const folderKeys = new Set(['in_dir', 'out_dir', 'qrnt_dir', 'state_dir']);
const fileKeys = new Set(['cert_pem', 'cert_key', 'kata_ca', 'exclude_list', 'log_file', 'siem.ca']);

function groupTitle(id: GroupId): string {
  switch (id) {
    case 'folders': return t('Folders');
    case 'connection': return t('KATA connection');
    case 'trust': return t('Certificates & trust');
    case 'scanning': return t('Scanning');
    case 'logging': return t('Logging');
    case 'monitoring': return t('Monitoring and SIEM');
    case 'other': return t('Other');
  }
}

function kindOf(key: string, p: ConfigPropertySchema): FieldKind {
  if (folderKeys.has(key)) return 'folder';
  if (fileKeys.has(key)) return 'file';
  if (p.type === 'array' || p.type === 'object') return 'json';
  if (p.enum && !p.type) return p.enum.some((v) => typeof v === 'boolean') ? 'tristate' : 'enum';
  if (p.enum) return 'enum';
  if (p.type === 'integer') return 'integer';
  if (p.type === 'number') return 'number';
  if (p.type === 'boolean') return 'boolean';
  return 'string';
}

function describe(key: string, group: GroupId, p: ConfigPropertySchema): FieldDescriptor {
  const kind = kindOf(key, p);
  const original = key in originalTemplate;
  const d: FieldDescriptor = {
    key,
    group,
    title: p.title ? t(p.title) : key,
    description: p.description ? t(p.description) : '',
    kind,
    required: requiredKeys.includes(key),
    original,
  };
  const def = original ? originalTemplate[key as keyof typeof originalTemplate] : p.default;
  if (def !== undefined) d.default = def;
  if (p.enum) d.enumValues = [...p.enum];
  if (p.minimum !== undefined) d.min = p.minimum;
  if (p.maximum !== undefined) d.max = p.maximum;
  if (p.exclusiveMinimum !== undefined) d.exclusiveMin = p.exclusiveMinimum;
  if (p.pattern !== undefined) d.pattern = p.pattern;
  if (p.patternErrorMessage) d.patternMessage = t(p.patternErrorMessage);
  if (p.minLength !== undefined) d.minLength = p.minLength;
  if (p.maxLength !== undefined) d.maxLength = p.maxLength;
  if (p.examples) d.examples = [...p.examples];
  if (kind === 'folder' || kind === 'file') d.relativeToConfig = true;
  return d;
}

/**
 * The schema's keys as form fields: a key whose value is an object (siem) is not one field but
 * one per sub-key, named `parent.key`.
 */
function fieldSchemas(): Record<string, ConfigPropertySchema> {
  const out: Record<string, ConfigPropertySchema> = {};
  for (const [key, p] of Object.entries(configProperties())) {
    const sub = configSubProperties(key);
    if (Object.keys(sub).length === 0) out[key] = p;
    else for (const [k, q] of Object.entries(sub)) out[`${key}.${k}`] = q;
  }
  return out;
}

/** Every key of the schema as a field, in form order (group by group). Localised with the current locale. */
export function formFields(): FieldDescriptor[] {
  const props = fieldSchemas();
  const fields: FieldDescriptor[] = [];
  const placed = new Set<string>();
  for (const g of layout) {
    for (const key of g.keys) {
      const p = props[key];
      if (!p) continue;
      fields.push(describe(key, g.id, p));
      placed.add(key);
    }
  }
  // A key added to the schema but not to the layout still gets a field, at the end.
  for (const [key, p] of Object.entries(props)) if (!placed.has(key)) fields.push(describe(key, 'other', p));
  return fields;
}

/** The groups in form order, each with its keys; groups without fields are left out. */
export function formGroups(fields: FieldDescriptor[] = formFields()): FieldGroup[] {
  const ids: GroupId[] = [...layout.map((g) => g.id), 'other'];
  return ids
    .map((id) => ({ id, title: groupTitle(id), keys: fields.filter((f) => f.group === id).map((f) => f.key) }))
    .filter((g) => g.keys.length > 0);
}

/** The keys of the form in form order. */
export function formKeyOrder(): string[] {
  return formFields().map((f) => f.key);
}

/** The English texts of the schema that the form shows through t() (titles, descriptions, pattern hints). */
export function schemaTexts(): string[] {
  const out = new Set<string>();
  for (const p of [...Object.values(configProperties()), ...Object.values(fieldSchemas())]) {
    for (const s of [p.title, p.description, p.patternErrorMessage]) if (s) out.add(s);
  }
  return [...out];
}
