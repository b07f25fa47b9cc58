import ipaddr from 'ipaddr.js';
import { errors } from '../../platform/http/errors.js';

/** An allowed-hours or network allow-list rule for a role or a user. */
export interface AccessRule {
  id: string;
  subjectType: 'role' | 'user';
  subject: string;
  kind: 'hours' | 'network';
  timeZone?: string | null;
  /** ISO weekdays, 1 = Monday ... 7 = Sunday. */
  days?: number[] | null;
  /** Minutes after local midnight; a window with start > end wraps past midnight. */
  startMinute?: number | null;
  endMinute?: number | null;
  cidrs?: string[] | null;
  description?: string;
}

const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };
const formatters = new Map<string, Intl.DateTimeFormat>();

function localTime(zone: string, at: Date): { day: number; minute: number } {
  let format = formatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(zone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(at).map((p) => [p.type, p.value]));
  return {
    day: WEEKDAYS[parts.weekday ?? ''] ?? 0,
    minute: Number(parts.hour) * 60 + Number(parts.minute),
  };
}

function withinHours(rule: AccessRule, at: Date): boolean {
  const { day, minute } = localTime(rule.timeZone ?? 'UTC', at);
  const days = rule.days ?? [];
  const start = rule.startMinute ?? 0;
  const end = rule.endMinute ?? 1440;
  if (start <= end) return days.includes(day) && minute >= start && minute < end;
  const previous = day === 1 ? 7 : day - 1;
  return (days.includes(day) && minute >= start) || (days.includes(previous) && minute < end);
}

function withinNetwork(rule: AccessRule, ip: string): boolean {
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.process(ip);
  } catch {
    return false;
  }
  return (rule.cidrs ?? []).some((cidr) => {
    try {
      const range = ipaddr.parseCIDR(cidr);
      return address.kind() === range[0].kind() && address.match(range);
    } catch {
      return false;
    }
  });
}

/**
 * The kind of rule the request breaks, or null. For each kind, the rules that apply form an
 * allow-list: with none, nothing is restricted; with some, at least one must match.
 */
export function violatedRule(rules: readonly AccessRule[], ip: string, at: Date): 'hours' | 'network' | null {
  const hours = rules.filter((r) => r.kind === 'hours');
  if (hours.length > 0 && !hours.some((r) => withinHours(r, at))) return 'hours';
  const networks = rules.filter((r) => r.kind === 'network');
  if (networks.length > 0 && !networks.some((r) => withinNetwork(r, ip))) return 'network';
  return null;
}

/** Checks a rule before it is stored; 422 naming the bad field. */
export function validateRule(rule: Omit<AccessRule, 'id'>): void {
  if (rule.kind === 'hours') {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: rule.timeZone ?? '' });
    } catch {
      throw errors.unprocessable(`Unknown time zone ${JSON.stringify(rule.timeZone)}`);
    }
    if (!rule.days?.length || rule.days.some((d) => !Number.isInteger(d) || d < 1 || d > 7))
      throw errors.unprocessable('days must list ISO weekdays 1 (Monday) to 7 (Sunday)');
    if (rule.startMinute == null || rule.endMinute == null || rule.startMinute === rule.endMinute)
      throw errors.unprocessable('startMinute and endMinute must be different minutes of the day');
  } else {
    if (!rule.cidrs?.length) throw errors.unprocessable('cidrs must list at least one CIDR range');
    for (const cidr of rule.cidrs) {
      try {
        ipaddr.parseCIDR(cidr);
      } catch {
        throw errors.unprocessable(`${JSON.stringify(cidr)} is not a CIDR range such as 10.0.0.0/8`);
      }
    }
  }
}
