import { Hl7Context } from '@medplum/core';

const DEFAULT_CONTEXT = new Hl7Context();

/**
 * Escapes text for use inside one HL7 v2 component or sub-component. Line breaks become the
 * `\.br\` formatting command, since a raw CR would end the segment.
 */
export function escapeHl7(text: string, ctx: Hl7Context = DEFAULT_CONTEXT): string {
  const e = ctx.escapeCharacter;
  // Most values (codes, dates, names) hold no delimiter: return them as they are.
  if (!needsEscape(text, ctx)) return text;
  const replacements = new Map<string, string>([
    [e, `${e}E${e}`],
    [ctx.fieldSeparator, `${e}F${e}`],
    [ctx.componentSeparator, `${e}S${e}`],
    [ctx.subcomponentSeparator, `${e}T${e}`],
    [ctx.repetitionSeparator, `${e}R${e}`],
  ]);
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text.charAt(i);
    if (ch === '\r' || ch === '\n') {
      if (ch === '\r' && text.charAt(i + 1) === '\n') i++;
      out += `${e}.br${e}`;
      continue;
    }
    out += replacements.get(ch) ?? ch;
  }
  return out;
}

function needsEscape(text: string, ctx: Hl7Context): boolean {
  for (let i = 0; i < text.length; i++) {
    const ch = text.charAt(i);
    if (
      ch === ctx.escapeCharacter ||
      ch === ctx.fieldSeparator ||
      ch === ctx.componentSeparator ||
      ch === ctx.subcomponentSeparator ||
      ch === ctx.repetitionSeparator ||
      ch === '\r' ||
      ch === '\n'
    )
      return true;
  }
  return false;
}

function decodeHex(hex: string): string | undefined {
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9A-Fa-f]+$/.test(hex)) return undefined;
  return Buffer.from(hex, 'hex').toString('utf8');
}

/**
 * Reverses {@link escapeHl7}. Also accepts `\Xhh..\` hexadecimal data (read as UTF-8) and drops
 * formatting and character-set commands it cannot represent in plain text (`\H\`, `\N\`,
 * `\.sp\`, `\Cxxyy\`, ...). An escape character without a closing one is kept literally.
 */
export function unescapeHl7(text: string, ctx: Hl7Context = DEFAULT_CONTEXT): string {
  const e = ctx.escapeCharacter;
  if (!text.includes(e)) return text;
  const simple: Record<string, string> = {
    F: ctx.fieldSeparator,
    S: ctx.componentSeparator,
    T: ctx.subcomponentSeparator,
    R: ctx.repetitionSeparator,
    E: e,
  };
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text.charAt(i);
    const end = ch === e ? text.indexOf(e, i + 1) : -1;
    if (end < 0) {
      out += ch;
      i++;
      continue;
    }
    const seq = text.slice(i + 1, end);
    const head = seq.charAt(0);
    if (seq.length === 1 && head in simple) out += simple[head];
    else if (seq === '.br' || seq.startsWith('.sp')) out += '\n';
    else if (head === 'X') {
      const decoded = decodeHex(seq.slice(1));
      if (decoded === undefined) {
        out += ch;
        i++;
        continue;
      }
      out += decoded;
    } else if (!/^(H|N|\.[a-z]{2}.*|[CMZ][0-9A-Za-z]*)$/.test(seq)) {
      // Not an escape sequence we know: keep the escape character as text.
      out += ch;
      i++;
      continue;
    }
    i = end + 1;
  }
  return out;
}
