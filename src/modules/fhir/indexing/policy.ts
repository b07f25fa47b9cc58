import type { SearchParam } from '../definitions/search-parameters.js';

/** Resource types that describe a person: their names, contacts and addresses identify them. */
const PERSON_TYPES = new Set(['Patient', 'Person', 'RelatedPerson', 'Practitioner']);
const IDENTIFYING_PATH = /\.(name|address|telecom|identifier|birthDate)\b/;

/**
 * Whether a parameter's values identify a person and so may only be indexed as keyed HMAC
 * blind indexes. Identifier and ContactPoint values are blinded on every type (extract.ts).
 */
export function identifying(resourceType: string, param: SearchParam): boolean {
  return PERSON_TYPES.has(resourceType) && IDENTIFYING_PATH.test(param.expression);
}

export function isBirthDate(resourceType: string, param: SearchParam): boolean {
  return PERSON_TYPES.has(resourceType) && /\.birthDate\b/.test(param.expression);
}

/** Longest name prefix indexed (characters); longer search values are cut to it. */
export const PREFIX_MAX = 40;
