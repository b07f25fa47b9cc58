import r4Model from 'fhirpath/fhir-context/r4/index.mjs';
import type { TypedValue } from './search-parameters.js';

/** FHIR primitive types: lower-case names, while a choice element's suffix capitalises them. */
const PRIMITIVES = new Set([
  'base64Binary',
  'boolean',
  'canonical',
  'code',
  'date',
  'dateTime',
  'decimal',
  'id',
  'instant',
  'integer',
  'markdown',
  'oid',
  'positiveInt',
  'string',
  'time',
  'unsignedInt',
  'uri',
  'url',
  'uuid',
  'xhtml',
]);

const BACKBONE = new Set(['BackboneElement', 'Element']);

/** A FHIR primitive, or a FHIRPath system type (`Resource.id` is `System.String`): no members. */
function isPrimitive(type: string): boolean {
  return PRIMITIVES.has(type) || type.startsWith('System.');
}

/** One step of a path: the JSON keys it may read, each with the FHIR type found under it. */
interface Step {
  keys: Array<{ key: string; type: string }>;
}

function typeOfSuffix(suffix: string): string {
  const lower = suffix.charAt(0).toLowerCase() + suffix.slice(1);
  return PRIMITIVES.has(lower) ? lower : suffix;
}

/**
 * The element at `name` under an element of type `type` (a datatype, or the path of a backbone
 * element), as the fhirpath model describes it; undefined when the model does not say.
 */
function member(type: string, name: string): Step | undefined {
  let path = `${type}.${name}`;
  path = r4Model.pathsDefinedElsewhere[path] ?? path;
  const declared = r4Model.path2Type[path];
  if (declared) return { keys: [{ key: name, type: BACKBONE.has(declared) ? path : declared }] };
  const choices = r4Model.choiceTypePaths[path];
  if (!choices) return undefined;
  return { keys: choices.map((suffix) => ({ key: `${name}${suffix}`, type: typeOfSuffix(suffix) })) };
}

/** The FHIRPath type name of an element type (`FHIR.HumanName`; a backbone element by its kind). */
function fhirType(type: string): string {
  if (type.startsWith('System.')) return type;
  return `FHIR.${type.includes('.') ? (r4Model.path2Type[type] ?? type) : type}`;
}

const ROOT = /^([A-Z][A-Za-z]+)/;
const MEMBER = /^\.([a-z][A-Za-z0-9]*)/;
/** `where(system='phone')`: a primitive member equal to a literal. */
const WHERE_EQUALS = /^\.where\(([a-z][A-Za-z0-9]*)\s*=\s*'([^'\\]*)'\)/;
/** `resolve() is Patient`, as the registry rewrites it: the reference's text names the type. */
const WHERE_REFERENCE_TO =
  /^\.where\(reference\.startsWith\('([A-Z][A-Za-z]+)\/'\) or reference\.contains\('\/\1\/'\)\)/;

type Filter = (element: Record<string, unknown>) => boolean;

/** The steps of a plain path, or undefined when the expression is something else. */
function parse(expression: string): { root: string; steps: Array<Step | Filter> } | undefined {
  let rest = expression.trim();
  const root = ROOT.exec(rest)?.[1];
  if (!root) return undefined;
  rest = rest.slice(root.length);
  const anyResource = root === 'Resource' || root === 'DomainResource';
  if (!anyResource && !r4Model.type2Parent[root]) return undefined;
  const steps: Array<Step | Filter> = [];
  let types = [root];
  while (rest.length > 0) {
    const where = WHERE_EQUALS.exec(rest);
    const toType = where ? undefined : WHERE_REFERENCE_TO.exec(rest);
    if (where || toType) {
      if (types.length !== 1 || isPrimitive(types[0] as string)) return undefined;
      if (where) {
        const [, name, literal] = where as unknown as [string, string, string];
        // Only a primitive member compares as its text.
        const member_ = member(types[0] as string, name);
        if (!member_ || member_.keys.length !== 1 || !isPrimitive(member_.keys[0]?.type as string))
          return undefined;
        steps.push((element) => element[name] === literal);
      } else {
        const type = (toType as RegExpExecArray)[1] as string;
        steps.push((element) => {
          const reference = element.reference;
          return (
            typeof reference === 'string' &&
            (reference.startsWith(`${type}/`) || reference.includes(`/${type}/`))
          );
        });
      }
      rest = rest.slice(((where ?? toType) as RegExpExecArray)[0].length);
      continue;
    }
    const name = MEMBER.exec(rest)?.[1];
    // A path goes on only from a single, complex type: primitives have no members to read.
    if (!name || types.length !== 1 || isPrimitive(types[0] as string)) return undefined;
    const step = member(types[0] as string, name);
    if (!step) return undefined;
    steps.push(step);
    types = step.keys.map((k) => k.type);
    rest = rest.slice(name.length + 1);
  }
  if (steps.length === 0) return undefined;
  return { root: anyResource ? '' : root, steps };
}

/**
 * Appends the values under `key`. A primitive may have only an extension (`_birthDate`), or
 * some array items only (`given: ['A', null]`, `_given: [null, {...}]`): FHIRPath still has an
 * element there, without a value.
 */
function read(element: Record<string, unknown>, key: string, type: string, into: TypedValue[]): void {
  const found = element[key];
  const extra = isPrimitive(type) ? element[`_${key}`] : undefined;
  if (Array.isArray(found) || Array.isArray(extra)) {
    const values = Array.isArray(found) ? found : [];
    const extensions = Array.isArray(extra) ? extra : [];
    for (let i = 0; i < Math.max(values.length, extensions.length); i++) {
      const value: unknown = values[i];
      const extension: unknown = extensions[i];
      if ((value !== null && value !== undefined) || (extension !== null && extension !== undefined))
        into.push({ type, value });
    }
  } else if (found !== null && found !== undefined) into.push({ type, value: found });
  else if (extra !== null && extra !== undefined) into.push({ type, value: undefined });
}

/**
 * A fast evaluator for the search parameter expressions that are plain member paths
 * (`Patient.name.family`, `Immunization.occurrence`, `Resource.meta.tag`), optionally filtered
 * by a member equal to a literal (`Patient.telecom.where(system='phone')`) or by the type a
 * reference names: the same values and types as fhirpath.js gives, by walking the JSON with
 * the fhirpath R4 model's element types, without its interpreter (which cost a fifth of the
 * CPU time of an import). Undefined for anything else (unions, casts, other functions,
 * elements the model does not type): those stay with fhirpath.js.
 */
export function compilePlainPath(expression: string): ((resource: object) => TypedValue[]) | undefined {
  const parsed = parse(expression);
  if (!parsed) return undefined;
  const { root, steps } = parsed;
  return (resource) => {
    const own = (resource as { resourceType?: unknown }).resourceType;
    if (root ? own !== root : typeof own !== 'string') return [];
    let nodes: TypedValue[] = [{ type: own as string, value: resource }];
    for (const step of steps) {
      if (typeof step === 'function') {
        nodes = nodes.filter(
          (node) =>
            node.value !== null &&
            typeof node.value === 'object' &&
            step(node.value as Record<string, unknown>),
        );
        continue;
      }
      const next: TypedValue[] = [];
      for (const node of nodes) {
        if (node.value === null || typeof node.value !== 'object') continue;
        const element = node.value as Record<string, unknown>;
        for (const { key, type } of step.keys) read(element, key, type, next);
      }
      nodes = next;
    }
    return nodes.map((node) => ({ type: fhirType(node.type), value: node.value }));
  };
}
