/** The delimiters of one HL7 v2 message (MSH-1 and MSH-2). */
export interface Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

export const STANDARD_DELIMITERS: Delimiters = {
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
};

/** Decodes HL7 escape sequences (\F\ \S\ \T\ \R\ \E\ \Xhh\ and the formatting ones) in one value. */
export function unescapeHl7(value: string, d: Delimiters = STANDARD_DELIMITERS): string {
  const e = d.escape;
  if (!e || !value.includes(e)) return value;
  let out = '';
  let i = 0;
  while (i < value.length) {
    const ch = value[i]!;
    const end = ch === e ? value.indexOf(e, i + 1) : -1;
    if (end < 0) {
      out += ch;
      i += 1;
      continue;
    }
    out += decodeSequence(value.slice(i + 1, end), d) ?? value.slice(i, end + 1);
    i = end + 1;
  }
  return out;
}

function decodeSequence(seq: string, d: Delimiters): string | undefined {
  switch (seq) {
    case 'F':
      return d.field;
    case 'S':
      return d.component;
    case 'T':
      return d.subcomponent;
    case 'R':
      return d.repetition;
    case 'E':
      return d.escape;
    case '.br':
      return '\n';
  }
  if (/^X(?:[0-9A-Fa-f]{2})+$/.test(seq)) return Buffer.from(seq.slice(1), 'hex').toString('latin1');
  // Highlighting (\H\ \N\) and other formatting commands carry no data for a registry.
  if (seq === 'H' || seq === 'N' || /^\.(?:sp|in|ti|sk|fi|nf|ce)/.test(seq)) return '';
  return undefined;
}

/** Encodes a value for a field of a message using the standard delimiters. */
export function escapeHl7(value: string): string {
  return value.replace(/[\\|^&~\r\n]/g, (ch) => ESCAPES[ch] ?? ch);
}

const ESCAPES: Record<string, string> = {
  '\\': '\\E\\',
  '|': '\\F\\',
  '^': '\\S\\',
  '&': '\\T\\',
  '~': '\\R\\',
  '\r': '\\X0D\\',
  '\n': '\\.br\\',
};
