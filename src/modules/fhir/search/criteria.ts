import { errors } from '../../../platform/http/errors.js';
import { normalizeString } from '../crypto.js';
import type { SearchParam } from '../definitions/search-parameters.js';
import { daysBetween, type DateRange } from '../indexing/dates.js';
import { identifying, isBirthDate, PREFIX_MAX } from '../indexing/policy.js';
import type { FhirRuntime } from '../store/context.js';
import type { Criterion } from './parse.js';
import type { Params } from './scope.js';
import { nearSql, parseNear } from './near.js';
import { approximate, numberRange, rangeSql, searchDate, splitPrefix, type Prefix } from './values.js';

type ValueType = Exclude<SearchParam['type'], 'composite' | 'special'>;

const TABLE: Record<ValueType, string> = {
  string: 'fhir_idx_string',
  token: 'fhir_idx_token',
  date: 'fhir_idx_date',
  reference: 'fhir_idx_reference',
  quantity: 'fhir_idx_quantity',
  number: 'fhir_idx_number',
  uri: 'fhir_idx_uri',
};

const likeEscape = (v: string) => v.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Whether a criterion is a starts-with match answered by the blind prefix index alone. */
export function isPrefixMatch(param: SearchParam, modifier: string | undefined, type: string): boolean {
  return param.type === 'string' && modifier === undefined && identifying(type, param);
}

/** Builds the SQL condition of one criterion on the resource row `alias` of type `type`. */
export class CriteriaBuilder {
  constructor(
    private readonly rt: FhirRuntime,
    private readonly params: Params,
  ) {}

  build(c: Criterion, alias: string, type: string): string {
    const p = this.params;
    switch (c.kind) {
      case 'id':
        return `${c.not ? 'NOT ' : ''}${alias}.id = ANY(${p.add(c.values)}::text[])`;
      case 'lastUpdated':
        return this.or(
          c.values.map((v) => {
            const { prefix, range } = searchDate(v);
            const r = prefix === 'ap' ? approximate(range) : range;
            const col = `${alias}.last_updated`;
            return rangeSql(
              prefix,
              col,
              col,
              () => `${p.add(r.low)}::timestamptz`,
              () => `${p.add(r.high)}::timestamptz`,
            );
          }),
        );
      case 'chain': {
        const inner = c.targetTypes.map(
          (t) => `(t.resource_type = ${p.add(t)} AND ${this.build(c.inner, 't', t)})`,
        );
        return `EXISTS (SELECT 1 FROM fhir_idx_reference ch JOIN fhir_resource t
          ON t.resource_type = ch.target_type AND t.id = ch.target_id AND NOT t.deleted
          WHERE ch.resource_type = ${p.add(type)} AND ch.resource_id = ${alias}.id AND ch.code = ${p.add(c.param.code)}
          AND (${inner.join(' OR ')}))`;
      }
      case 'has':
        return `EXISTS (SELECT 1 FROM fhir_idx_reference hs JOIN fhir_resource h
          ON h.resource_type = hs.resource_type AND h.id = hs.resource_id AND NOT h.deleted
          WHERE hs.resource_type = ${p.add(c.sourceType)} AND hs.code = ${p.add(c.referenceCode)}
          AND hs.target_type = ${p.add(type)} AND hs.target_id = ${alias}.id
          AND ${this.build(c.inner, 'h', c.sourceType)})`;
      case 'param':
        return this.param(c.param, c.modifier, c.values, alias, type);
    }
  }

  private or(parts: string[]): string {
    return parts.length === 1 ? (parts[0] as string) : `(${parts.join(' OR ')})`;
  }

  private exists(
    param: SearchParam,
    alias: string,
    type: string,
    condition: string,
    table = TABLE[param.type as ValueType],
  ) {
    const p = this.params;
    return `EXISTS (SELECT 1 FROM ${table} i WHERE i.resource_type = ${p.add(type)} AND i.resource_id = ${alias}.id
      AND i.code = ${p.add(param.code)}${condition ? ` AND ${condition}` : ''})`;
  }

  private param(
    param: SearchParam,
    modifier: string | undefined,
    values: string[],
    alias: string,
    type: string,
  ) {
    if (modifier === 'missing') {
      // A composite is present when its first part is: only complete groups are indexed.
      const missing = values[values.length - 1] === 'true';
      return `${missing ? 'NOT ' : ''}${this.exists(param.components?.[0] ?? param, alias, type, '')}`;
    }
    if (param.components) return this.composite(param, param.components, values, alias, type);
    if (param.type === 'special') {
      return this.or(values.map((v) => nearSql(this.params, alias, type, param.code, parseNear(v))));
    }
    if (param.type === 'token' && modifier === 'not') {
      return `NOT ${this.exists(param, alias, type, this.or(values.map((v) => this.token(param, type, v))))}`;
    }
    if (param.type === 'reference' && modifier === 'identifier') {
      const code = `${param.code}:identifier`;
      const conds = values.map((v) => this.token({ ...param, code }, type, v, true));
      return this.exists({ ...param, code }, alias, type, this.or(conds), 'fhir_idx_token');
    }
    if (isPrefixMatch(param, modifier, type)) {
      // Blind-indexed names: the prefix table alone answers the default (starts-with) match.
      return this.exists(
        param,
        alias,
        type,
        this.prefixCondition(param, values, type, 'i'),
        'fhir_idx_string_prefix',
      );
    }
    const conds = values.map((v) => this.value(param, modifier, v, type));
    return this.exists(param, alias, type, this.or(conds));
  }

  /** `part$part`: every part must match within one group, i.e. the same element of the resource. */
  private composite(
    param: SearchParam,
    components: SearchParam[],
    values: string[],
    alias: string,
    type: string,
  ): string {
    return this.or(
      values.map((value) => {
        const parts = value.split(/(?<!\\)\$/).map((v) => v.replace(/\\\$/g, '$'));
        if (parts.length !== components.length) {
          throw errors.badRequest(
            `${param.code} takes ${components.length} values joined by $ (got "${value}")`,
          );
        }
        return `EXISTS (${this.group(components, parts, 0, alias, type, '1')})`;
      }),
    );
  }

  /**
   * Part `n` as a query over its index table, with the parts after it nested inside and
   * joined on the group. Every level names its table `i`, as the value conditions expect; the
   * outer `i.grp` is read before the nested query hides that name.
   */
  private group(
    components: SearchParam[],
    parts: string[],
    n: number,
    alias: string,
    type: string,
    select: string,
  ): string {
    const p = this.params;
    const component = components[n] as SearchParam;
    const next =
      n + 1 < components.length
        ? ` AND i.grp IN (${this.group(components, parts, n + 1, alias, type, 'i.grp')})`
        : '';
    return `SELECT ${select} FROM ${TABLE[component.type as ValueType]} i WHERE i.resource_type = ${p.add(type)}
      AND i.resource_id = ${alias}.id AND i.code = ${p.add(component.code)}
      AND ${this.value(component, undefined, parts[n] as string, type)}${next}`;
  }

  /**
   * Several starts-with matches on blind-indexed values (`family` and `given`, say) as one set
   * of ids, intersected on the index rows before any resource row is read. As one EXISTS each,
   * the planner read and scope-checked every resource matching the first (1,110 patients for
   * `family=Smith1` among 100,000) before the second cut them to a tenth.
   */
  prefixIntersection(
    criteria: Array<{ param: SearchParam; values: string[] }>,
    alias: string,
    type: string,
  ): string {
    const p = this.params;
    const [first, ...rest] = criteria.map((c, k) => ({ ...c, x: `x${k}` }));
    if (!first) throw new Error('no criteria to intersect');
    const joins = rest.map(
      (c) => `JOIN fhir_idx_string_prefix ${c.x} ON ${c.x}.resource_type = x0.resource_type
        AND ${c.x}.resource_id = x0.resource_id AND ${c.x}.code = ${p.add(c.param.code)}
        AND ${this.prefixCondition(c.param, c.values, type, c.x)}`,
    );
    return `${alias}.id IN (SELECT x0.resource_id FROM fhir_idx_string_prefix x0 ${joins.join(' ')}
      WHERE x0.resource_type = ${p.add(type)} AND x0.code = ${p.add(first.param.code)}
      AND ${this.prefixCondition(first.param, first.values, type, first.x)})`;
  }

  private prefixCondition(param: SearchParam, values: string[], type: string, table: string): string {
    return this.or(
      values.map(
        (v) => `${table}.prefix = ANY(${this.params.add(this.prefixHmacs(param, type, v))}::text[])`,
      ),
    );
  }

  private prefixHmacs(param: SearchParam, type: string, value: string): string[] {
    const prefix = [...normalizeString(value)].slice(0, PREFIX_MAX).join('');
    return this.rt.blind.candidates(`p|${type}|${param.code}`, prefix);
  }

  private value(param: SearchParam, modifier: string | undefined, value: string, type: string): string {
    const p = this.params;
    switch (param.type) {
      case 'string':
        return this.string(param, modifier, value, type);
      case 'token':
        if (modifier === 'text') return `i.text LIKE ${p.add(`${likeEscape(normalizeString(value))}%`)}`;
        return this.token(param, type, value);
      case 'date':
        return this.date(param, value, type);
      case 'reference':
        return this.reference(param, modifier, value);
      case 'number':
      case 'quantity':
        return this.number(param, value);
      case 'uri':
        if (modifier === 'below') return `i.value LIKE ${p.add(`${likeEscape(value)}%`)}`;
        if (modifier === 'above')
          return `${p.add(value)} LIKE (replace(replace(i.value, '%', '\\%'), '_', '\\_') || '%')`;
        return `i.value = ${p.add(value)}`;
      case 'composite':
      case 'special':
        throw errors.badRequest(`${param.code} cannot be used here`);
    }
  }

  private string(param: SearchParam, modifier: string | undefined, value: string, type: string): string {
    const p = this.params;
    const normalized = normalizeString(value);
    if (!identifying(type, param)) {
      if (modifier === 'exact') return `i.exact = ${p.add(value)}`;
      if (modifier === 'contains') return `i.value LIKE ${p.add(`%${likeEscape(normalized)}%`)}`;
      return `i.value LIKE ${p.add(`${likeEscape(normalized)}%`)}`;
    }
    // The default match on blind-indexed values is answered by the prefix table (see param()).
    if (modifier === 'exact') {
      return `i.exact = ANY(${p.add(this.rt.blind.candidates(`s|${type}|${param.code}`, value))}::text[])`;
    }
    throw errors.badRequest(
      `:${modifier ?? 'contains'} is not available on ${param.code}: it is stored as a blind index`,
    );
  }

  /** `code`, `system|code`, `|code` (no system) or `system|` (any code of the system). */
  token(param: SearchParam, type: string, value: string, forceBlind = false): string {
    const p = this.params;
    const bar = value.indexOf('|');
    const system = bar < 0 ? undefined : value.slice(0, bar);
    const code = bar < 0 ? value : value.slice(bar + 1);
    const conds: string[] = [];
    if (system === '') conds.push('i.system IS NULL');
    else if (system !== undefined) conds.push(`i.system = ${p.add(system)}`);
    if (code !== '') {
      const blinded = this.rt.blind.candidates(`t|${type}|${param.code}`, code);
      const candidates = forceBlind ? blinded : identifying(type, param) ? blinded : [code, ...blinded];
      conds.push(`i.value = ANY(${p.add(candidates)}::text[])`);
    }
    return conds.length === 0 ? 'TRUE' : `(${conds.join(' AND ')})`;
  }

  private date(param: SearchParam, value: string, type: string): string {
    const p = this.params;
    const { prefix, range } = searchDate(value);
    const r = prefix === 'ap' ? approximate(range) : range;
    const plain = (q: DateRange) =>
      rangeSql(
        prefix,
        'i.low',
        'i.high',
        () => `${p.add(q.low)}::timestamptz`,
        () => `${p.add(q.high)}::timestamptz`,
      );
    if (!isBirthDate(type, param) || range.precision === 'year') return plain(r);
    return this.blindedDay(param, type, prefix, range, plain);
  }

  /**
   * Birth dates keep only their year in plain. Inside the searched value's year the exact days
   * are matched through the day blind index: every day of that year that satisfies the prefix
   * is hashed and looked up; other years are decided by the plain year range.
   */
  private blindedDay(
    param: SearchParam,
    type: string,
    prefix: Prefix,
    range: DateRange,
    plain: (q: DateRange) => string,
  ): string {
    const p = this.params;
    const year = range.low.getUTCFullYear();
    const yearStart = new Date(Date.UTC(year, 0, 1));
    const yearEnd = new Date(Date.UTC(year + 1, 0, 1) - 1);
    const dayOk = (day: Date): boolean => {
      const low = day.getTime();
      const high = low + 86_399_999;
      const [ql, qh] = [range.low.getTime(), range.high.getTime()];
      switch (prefix) {
        case 'eq':
        case 'ap':
          return low >= ql && high <= qh;
        case 'ne':
          return !(low >= ql && high <= qh);
        case 'lt':
          return low < ql;
        case 'gt':
          return high > qh;
        case 'le':
          return low <= qh;
        case 'ge':
          return high >= ql;
        case 'sa':
          return low > qh;
        case 'eb':
          return high < ql;
      }
    };
    const days = daysBetween(yearStart, new Date(Date.UTC(year, 11, 31)))
      .filter((d) => dayOk(new Date(`${d}T00:00:00Z`)))
      .flatMap((d) => this.rt.blind.candidates(`d|${type}|${param.code}`, d));
    const otherYears = `(i.low <> ${p.add(yearStart)}::timestamptz AND ${plain(range)})`;
    const sameYear = `(i.low = ${p.add(yearStart)}::timestamptz AND i.high = ${p.add(yearEnd)}::timestamptz
      AND i.day_blind = ANY(${p.add(days)}::text[]))`;
    return `(${otherYears} OR ${sameYear})`;
  }

  private reference(param: SearchParam, modifier: string | undefined, value: string): string {
    const p = this.params;
    const base = `${this.rt.baseUrl}/`;
    const local = value.startsWith(base) ? value.slice(base.length) : value;
    const parts = local.split('/');
    if (parts.length === 2 && /^[A-Z]/.test(parts[0] ?? '')) {
      return `(i.target_type = ${p.add(parts[0])} AND i.target_id = ${p.add(parts[1])})`;
    }
    if (parts.length === 1 && !local.includes(':')) {
      const types = modifier ? [modifier] : param.target;
      const typed = types.length > 0 ? ` AND i.target_type = ANY(${p.add(types)}::text[])` : '';
      return `(i.target_id = ${p.add(local)}${typed})`;
    }
    return `i.reference = ${p.add(value)}`;
  }

  private number(param: SearchParam, value: string): string {
    const p = this.params;
    const [numberPart = '', system, code] = value.split('|');
    const { prefix, rest } = splitPrefix(numberPart);
    const n = numberRange(rest);
    const conds: string[] = [];
    const v = 'i.value';
    // Placeholders are added only when used: an unused one has no type and fails the statement.
    const lo = () => `${p.add(n.low)}::numeric`;
    const hi = () => `${p.add(n.high)}::numeric`;
    const exact = () => `${p.add(n.value)}::numeric`;
    switch (prefix) {
      case 'eq':
        conds.push(`${v} >= ${lo()} AND ${v} < ${hi()}`);
        break;
      case 'ne':
        conds.push(`NOT (${v} >= ${lo()} AND ${v} < ${hi()})`);
        break;
      case 'lt':
      case 'eb':
        conds.push(`${v} < ${exact()}`);
        break;
      case 'gt':
      case 'sa':
        conds.push(`${v} > ${exact()}`);
        break;
      case 'le':
        conds.push(`${v} <= ${exact()}`);
        break;
      case 'ge':
        conds.push(`${v} >= ${exact()}`);
        break;
      case 'ap': {
        const e = exact();
        conds.push(`${v} BETWEEN least(${e} * 0.9, ${e} * 1.1) AND greatest(${e} * 0.9, ${e} * 1.1)`);
        break;
      }
    }
    if (param.type === 'quantity') {
      if (system) conds.push(`i.system = ${p.add(system)}`);
      if (code) conds.push(`i.unit = ${p.add(code)}`);
    }
    return `(${conds.join(' AND ')})`;
  }
}
