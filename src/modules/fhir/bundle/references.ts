/** Every `reference` string inside a resource, with a setter to rewrite it in place. */
function visit(node: unknown, fn: (value: string, set: (v: string) => void) => void): void {
  if (Array.isArray(node)) {
    for (const item of node) visit(item, fn);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const obj = node as Record<string, unknown>;
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'reference' && typeof value === 'string') fn(value, (v) => (obj[key] = v));
    else if (typeof value === 'object') visit(value, fn);
  }
}

/** References of the form `Type?criteria` (resolved by search inside the transaction). */
export function conditionalReferences(resource: unknown): string[] {
  const found: string[] = [];
  visit(resource, (value) => {
    if (/^[A-Z][A-Za-z]+\?/.test(value)) found.push(value);
  });
  return found;
}

/** Rewrites references through `map` (fullUrl or conditional reference → `Type/id`). */
export function rewriteReferences(resource: unknown, map: ReadonlyMap<string, string>): void {
  visit(resource, (value, set) => {
    const [head, fragment] = value.split('#', 2) as [string, string | undefined];
    const target = map.get(head);
    if (target) set(fragment !== undefined ? `${target}#${fragment}` : target);
  });
}
