import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';

/** The part of the request the `soap` library builds that a registry call uses. */
export interface SoapHttpRequest {
  url: string;
  method: string;
  headers: Record<string, string | number>;
  data?: string | Buffer;
  timeout?: number;
  signal?: AbortSignal;
  httpAgent?: http.Agent;
  httpsAgent?: https.Agent;
  maxContentLength?: number;
}

export interface SoapHttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  data: string;
}

/** A network failure, with the system code (ECONNRESET, ETIMEDOUT, ...) the transport classifies. */
class SoapHttpError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'SoapHttpError';
  }
}

/**
 * Sends the `soap` library's requests with Node's HTTP client instead of its default (axios),
 * which cost more CPU per call than building and parsing the SOAP envelope together. Never
 * follows redirects (they would resend credentials and PHI elsewhere), answers every status
 * (the library reads faults from 4xx/5xx bodies), and refuses bodies above `maxContentLength`.
 */
export function soapHttpRequest(options: SoapHttpRequest): Promise<SoapHttpResponse> {
  return new Promise((resolve, reject) => {
    const url = new URL(options.url);
    const secure = url.protocol === 'https:';
    const limit = options.maxContentLength ?? Number.POSITIVE_INFINITY;
    const request = (secure ? https : http).request(
      url,
      {
        method: options.method,
        headers: options.headers,
        agent: secure ? options.httpsAgent : options.httpAgent,
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > limit) {
            request.destroy(
              new SoapHttpError(`response larger than ${limit} bytes`, 'ERR_RESPONSE_TOO_LARGE'),
            );
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => {
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            data: Buffer.concat(chunks).toString('utf8'),
          });
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    if (options.timeout) {
      request.setTimeout(options.timeout, () => {
        request.destroy(new SoapHttpError(`no answer within ${options.timeout} ms`, 'ETIMEDOUT'));
      });
    }
    request.end(options.data);
  });
}
