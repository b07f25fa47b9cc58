const RELATIVE = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** The type and id a literal reference points at (relative, or absolute ending in Type/id). */
export function parseReference(reference: string): { targetType: string | null; targetId: string | null } {
  if (reference.startsWith('#') || reference.startsWith('urn:')) return { targetType: null, targetId: null };
  const m = RELATIVE.exec(reference);
  return m ? { targetType: m[1] ?? null, targetId: m[2] ?? null } : { targetType: null, targetId: null };
}
