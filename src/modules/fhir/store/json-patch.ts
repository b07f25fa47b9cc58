import { isDeepStrictEqual } from 'node:util';
import { errors } from '../../../platform/http/errors.js';

/** One RFC 6902 operation. */
export interface PatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

type Container = Record<string, unknown> | unknown[];

function tokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/'))
    throw errors.badRequest(`JSON Pointer ${JSON.stringify(pointer)} must start with /`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function isContainer(v: unknown): v is Container {
  return typeof v === 'object' && v !== null;
}

function parentOf(doc: unknown, pointer: string): { parent: Container; key: string } {
  const path = tokens(pointer);
  const key = path.pop();
  if (key === undefined) throw errors.badRequest('a patch may not replace the whole resource');
  let node: unknown = doc;
  for (const t of path) {
    node = Array.isArray(node)
      ? node[Number(t)]
      : isContainer(node)
        ? (node as Record<string, unknown>)[t]
        : undefined;
    if (!isContainer(node)) throw errors.badRequest(`patch path ${pointer} does not exist`);
  }
  if (!isContainer(node)) throw errors.badRequest(`patch path ${pointer} does not exist`);
  return { parent: node, key };
}

function get(doc: unknown, pointer: string): unknown {
  let node: unknown = doc;
  for (const t of tokens(pointer)) {
    if (Array.isArray(node)) node = node[Number(t)];
    else if (isContainer(node) && Object.hasOwn(node, t)) node = (node as Record<string, unknown>)[t];
    else throw errors.badRequest(`patch path ${pointer} does not exist`);
    if (node === undefined) throw errors.badRequest(`patch path ${pointer} does not exist`);
  }
  return node;
}

function index(array: unknown[], key: string, forInsert: boolean): number {
  if (forInsert && key === '-') return array.length;
  const i = Number(key);
  const max = forInsert ? array.length : array.length - 1;
  if (!/^(0|[1-9]\d*)$/.test(key) || i > max) throw errors.badRequest(`array index ${key} is out of range`);
  return i;
}

function add(doc: unknown, pointer: string, value: unknown): void {
  const { parent, key } = parentOf(doc, pointer);
  if (Array.isArray(parent)) parent.splice(index(parent, key, true), 0, value);
  else parent[key] = value;
}

function remove(doc: unknown, pointer: string): unknown {
  const { parent, key } = parentOf(doc, pointer);
  if (Array.isArray(parent)) return parent.splice(index(parent, key, false), 1)[0];
  if (!Object.hasOwn(parent, key)) throw errors.badRequest(`patch path ${pointer} does not exist`);
  const old = parent[key];
  delete parent[key];
  return old;
}

/** Applies a JSON Patch to a copy of `document`; a failing `test` or bad path is a 400/422. */
export function applyJsonPatch<T>(document: T, operations: unknown): T {
  if (!Array.isArray(operations)) throw errors.badRequest('a JSON Patch body is an array of operations');
  const doc = structuredClone(document) as unknown;
  for (const raw of operations as PatchOperation[]) {
    if (!isContainer(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw errors.badRequest('each JSON Patch operation needs op and path');
    }
    switch (raw.op) {
      case 'add':
        add(doc, raw.path, structuredClone(raw.value));
        break;
      case 'remove':
        remove(doc, raw.path);
        break;
      case 'replace':
        remove(doc, raw.path);
        add(doc, raw.path, structuredClone(raw.value));
        break;
      case 'move':
        add(doc, raw.path, remove(doc, raw.from ?? ''));
        break;
      case 'copy':
        add(doc, raw.path, structuredClone(get(doc, raw.from ?? '')));
        break;
      case 'test':
        if (!isDeepStrictEqual(get(doc, raw.path), raw.value)) {
          throw errors.unprocessable(`JSON Patch test failed at ${raw.path}`);
        }
        break;
      default:
        throw errors.badRequest(`unknown JSON Patch op ${JSON.stringify((raw as { op: string }).op)}`);
    }
  }
  return doc as T;
}
