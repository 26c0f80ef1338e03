import { t } from './l10n';

// Node 20's JSON.parse often names no position ("Unexpected token '}', ... is not valid JSON"),
// so a small scanner finds the first error again and says what is wrong in terms an administrator
// editing the file by hand recognises (comments, trailing commas, single quotes, Windows paths).

type JsonProblem = 'end' | 'char' | 'comment' | 'trailingComma' | 'singleQuote' | 'key' | 'colon' | 'commaOrBrace' | 'commaOrBracket' | 'escape' | 'control' | 'number' | 'word' | 'extra';

class JsonSyntax {
  constructor(
    readonly at: number,
    readonly problem: JsonProblem,
  ) {}
}

/**
 * Where the first JSON syntax error of `text` is (1-based line and column) and what is wrong,
 * in an administrator's words; undefined when the scanner finds none (the engine's configuration
 * errors and the form editor both say where).
 */
export function locateJsonError(text: string): { line: number; column: number; message: string } | undefined {
  const found = findJsonProblem(text);
  if (!found) return undefined;
  const before = text.slice(0, found.at);
  const line = before.split('\n').length;
  const column = found.at - (before.lastIndexOf('\n') + 1) + 1;
  return { line, column, message: problemText(found.problem, text[found.at]) };
}

function problemText(p: JsonProblem, ch: string | undefined): string {
  switch (p) {
    case 'end': return t('the text ends too early (a missing " , } or ]?)');
    case 'char': return t('unexpected character {0}', JSON.stringify(ch ?? ''));
    case 'comment': return t('comments are not allowed in JSON');
    case 'trailingComma': return t('a comma before a closing } or ] is not allowed in JSON');
    case 'singleQuote': return t('strings and keys need double quotes (")');
    case 'key': return t('expected a key in double quotes');
    case 'colon': return t('expected ":" after the key');
    case 'commaOrBrace': return t('expected "," or "}" (a missing comma?)');
    case 'commaOrBracket': return t('expected "," or "]" (a missing comma?)');
    case 'escape': return t('invalid escape after a backslash; write a backslash as \\\\');
    case 'control': return t('a line break or control character inside a string');
    case 'number': return t('invalid number');
    case 'word': return t('unexpected word; use true, false, null, a number or a string in double quotes');
    case 'extra': return t('unexpected text after the end of the JSON object');
  }
}

function findJsonProblem(s: string): JsonSyntax | undefined {
  let i = 0;
  const fail = (problem: JsonProblem, at = i): never => {
    throw new JsonSyntax(at, problem);
  };
  const space = () => {
    for (;;) {
      const c = s[i];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') i++;
      else if (c === '/' && (s[i + 1] === '/' || s[i + 1] === '*')) fail('comment');
      else return;
    }
  };
  const string = () => {
    i++;
    for (;;) {
      const c = s[i];
      if (c === undefined) fail('end');
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        const e = s[i + 1];
        if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) i += 6;
        else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail('escape');
        continue;
      }
      if (c! < ' ') fail('control');
      i++;
    }
  };
  const value = (): void => {
    space();
    const c = s[i];
    if (c === undefined) return fail('end');
    if (c === '{') return object();
    if (c === '[') return array();
    if (c === '"') return string();
    if (c === "'") return fail('singleQuote');
    if (c === '-' || (c >= '0' && c <= '9')) {
      const m = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
      m.lastIndex = i;
      if (!m.exec(s)) return fail('number');
      i = m.lastIndex;
      return;
    }
    for (const word of ['true', 'false', 'null']) {
      if (s.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    return /[A-Za-z]/.test(c) ? fail('word') : fail('char');
  };
  const members = (close: '}' | ']', member: () => void, separatorProblem: JsonProblem) => {
    i++;
    space();
    if (s[i] === close) {
      i++;
      return;
    }
    for (;;) {
      member();
      space();
      if (s[i] === ',') {
        const comma = i++;
        space();
        if (s[i] === close) fail('trailingComma', comma);
        continue;
      }
      if (s[i] === close) {
        i++;
        return;
      }
      fail(s[i] === undefined ? 'end' : separatorProblem);
    }
  };
  const object = () =>
    members('}', () => {
      space();
      if (s[i] === "'") fail('singleQuote');
      if (s[i] === undefined) fail('end');
      if (s[i] !== '"') fail('key');
      string();
      space();
      if (s[i] !== ':') fail(s[i] === undefined ? 'end' : 'colon');
      i++;
      value();
    }, 'commaOrBrace');
  const array = () => members(']', value, 'commaOrBracket');

  try {
    value();
    space();
    if (i < s.length) fail('extra');
    return undefined;
  } catch (err) {
    if (err instanceof JsonSyntax) return err;
    throw err;
  }
}
