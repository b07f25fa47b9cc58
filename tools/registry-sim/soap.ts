import { XMLParser } from 'fast-xml-parser';
import type { Registry } from './registry.js';
import type { SimCredentials } from './types.js';

const SOAP12_NS = 'http://www.w3.org/2003/05/soap-envelope';
const SOAP11_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
const CDC_NS = 'urn:cdc:iisb:2011';

export interface SoapReply {
  status: number;
  body: string;
}

type CdcFault = 'SecurityFault' | 'MessageTooLargeFault' | 'UnknownFault';

/** A SOAP fault to answer; `detail` is the urn:cdc:iisb:2011 element, when the WSDL declares one. */
class SoapFault {
  constructor(
    readonly code: 'Sender' | 'Receiver' | 'VersionMismatch',
    readonly reason: string,
    readonly detail?: { name: CdcFault; code: number; extra?: Record<string, string | number> },
  ) {}
}

// Entities are decoded by `text()` in one pass (the parser's own decoding costs half the throughput), and
// the separate validation pass is skipped for the same reason: a broken envelope still fails below.
const parser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: false,
});

export interface SoapEndpointOptions {
  credentials?: SimCredentials;
  maxMessageBytes: number;
}

/** The CDC IIS SOAP 1.2 web service (urn:cdc:iisb:2011) in front of the registry. */
export class SoapEndpoint {
  constructor(
    private readonly registry: Registry,
    private readonly options: SoapEndpointOptions,
  ) {}

  handle(xml: string): SoapReply {
    try {
      return { status: 200, body: this.dispatch(xml) };
    } catch (err) {
      if (err instanceof SoapFault) return { status: 500, body: faultEnvelope(err) };
      throw err;
    }
  }

  /** Fault for a request body too large to even parse. */
  tooLarge(size: number): SoapReply {
    return { status: 500, body: faultEnvelope(this.tooLargeFault(size)) };
  }

  private dispatch(xml: string): string {
    if (!xml.includes(SOAP12_NS)) {
      const why = xml.includes(SOAP11_NS) ? 'SOAP 1.1 envelopes are not accepted' : 'not a SOAP 1.2 envelope';
      throw new SoapFault('VersionMismatch', `${why}; use ${SOAP12_NS}`);
    }
    let doc: Record<string, unknown>;
    try {
      doc = parser.parse(xml) as Record<string, unknown>;
    } catch (err) {
      throw new SoapFault('Sender', `malformed XML: ${(err as Error).message}`);
    }
    const body = (doc.Envelope as Record<string, unknown> | undefined)?.Body;
    if (!body || typeof body !== 'object') throw new SoapFault('Sender', 'the envelope has no Body');
    const operation = Object.keys(body).find((k) => k !== '#text');
    const args = (body as Record<string, unknown>)[operation ?? ''];
    const params = typeof args === 'object' && args !== null ? (args as Record<string, unknown>) : {};
    if (operation === 'connectivityTest') {
      this.maybeUnknownFault();
      return responseEnvelope('connectivityTestResponse', text(params.echoBack));
    }
    if (operation === 'submitSingleMessage') {
      this.authenticate(text(params.username), text(params.password), text(params.facilityID));
      const hl7 = text(params.hl7Message);
      const size = Buffer.byteLength(hl7, 'utf8');
      if (size > this.options.maxMessageBytes) throw this.tooLargeFault(size);
      this.maybeUnknownFault();
      return responseEnvelope('submitSingleMessageResponse', this.registry.submitHl7(hl7));
    }
    throw new SoapFault('Sender', `unknown operation "${operation ?? ''}"`);
  }

  private authenticate(username: string, password: string, facilityId: string): void {
    const c = this.options.credentials;
    if (!c) return;
    if (username !== c.username || password !== c.password) {
      throw new SoapFault('Sender', 'authentication failed', {
        name: 'SecurityFault',
        code: 401,
        extra: { Detail: 'username or password not recognised' },
      });
    }
    if (c.facilityId !== undefined && facilityId !== c.facilityId) {
      throw new SoapFault('Sender', 'facility not authorised', {
        name: 'SecurityFault',
        code: 403,
        extra: { Detail: 'facilityID is not authorised for this account' },
      });
    }
  }

  private tooLargeFault(size: number): SoapFault {
    const max = this.options.maxMessageBytes;
    return new SoapFault('Sender', `message of ${size} bytes exceeds the ${max} byte limit`, {
      name: 'MessageTooLargeFault',
      code: 413,
      extra: { Detail: 'split the message or send fewer doses', Size: size, MaxSize: max },
    });
  }

  private maybeUnknownFault(): void {
    if (this.registry.faults.soapUnknownFault()) {
      throw new SoapFault('Receiver', 'internal registry error (injected)', {
        name: 'UnknownFault',
        code: 500,
        extra: { Detail: 'fault injected by the registry simulator' },
      });
    }
  }
}

function text(value: unknown): string {
  if (typeof value === 'string') return xmlUnescape(value);
  if (value && typeof value === 'object' && '#text' in value) {
    return xmlUnescape(String((value as { '#text': unknown })['#text']));
  }
  return '';
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Decodes the predefined entities and character references of XML text content. */
export function xmlUnescape(value: string): string {
  if (!value.includes('&')) return value;
  return value.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (whole, ref: string) => {
    if (ref[0] !== '#') return NAMED_ENTITIES[ref] ?? whole;
    const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

/** XML-escapes text; CR is written as a character reference so XML line-end normalisation keeps HL7 segment breaks. */
export function xmlEscape(value: string): string {
  return value.replace(/[&<>"\r]/g, (ch) => XML_ESCAPES[ch]!);
}

const XML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  '\r': '&#13;',
};

function envelope(body: string): string {
  return `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="${SOAP12_NS}"><soap:Body>${body}</soap:Body></soap:Envelope>`;
}

function responseEnvelope(element: string, value: string): string {
  return envelope(`<${element} xmlns="${CDC_NS}"><return>${xmlEscape(value)}</return></${element}>`);
}

function faultEnvelope(f: SoapFault): string {
  let detail = '';
  if (f.detail) {
    const fields = { Code: f.detail.code, Reason: f.reason, ...f.detail.extra };
    const inner = Object.entries(fields)
      .map(([k, v]) => `<${k}>${xmlEscape(String(v))}</${k}>`)
      .join('');
    detail = `<soap:Detail><${f.detail.name} xmlns="${CDC_NS}">${inner}</${f.detail.name}></soap:Detail>`;
  }
  return envelope(
    `<soap:Fault><soap:Code><soap:Value>soap:${f.code}</soap:Value></soap:Code>` +
      `<soap:Reason><soap:Text xml:lang="en">${xmlEscape(f.reason)}</soap:Text></soap:Reason>${detail}</soap:Fault>`,
  );
}

/** The service description with its address pointing at this simulator. */
export function wsdlFor(wsdl: string, soapUrl: string): string {
  return wsdl.replace(/(<soap12:address\s+location=")[^"]*(")/, `$1${xmlEscape(soapUrl)}$2`);
}
