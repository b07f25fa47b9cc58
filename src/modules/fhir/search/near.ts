import { errors } from '../../../platform/http/errors.js';
import type { Params } from './scope.js';

/** Mean Earth radius (km, IUGG): the haversine distance is accurate to about 0.5%. */
const EARTH_KM = 6371.0088;
/** What "near" means when the request gives no distance: the spec leaves it to the server. */
export const DEFAULT_NEAR_KM = 10;
const KM_PER_UNIT: Record<string, number> = { km: 1, m: 0.001, '[mi_i]': 1.609344, '[nmi_i]': 1.852 };

export interface Near {
  latitude: number;
  longitude: number;
  km: number;
}

function number(text: string | undefined, what: string): number | undefined {
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isFinite(n)) throw errors.badRequest(`near: ${what} must be a number (got "${text}")`);
  return n;
}

/** `latitude|longitude|distance|units` (WGS84 degrees; distance in UCUM km, m, [mi_i] or [nmi_i]). */
export function parseNear(value: string): Near {
  const [lat, lon, distance, units = 'km'] = value.split('|');
  const latitude = number(lat, 'latitude');
  const longitude = number(lon, 'longitude');
  if (latitude === undefined || longitude === undefined)
    throw errors.badRequest('near takes latitude|longitude[|distance[|units]]');
  if (Math.abs(latitude) > 90 || Math.abs(longitude) > 180)
    throw errors.badRequest('near: latitude must be within ±90 and longitude within ±180');
  const perUnit = KM_PER_UNIT[units];
  if (perUnit === undefined)
    throw errors.badRequest(
      `near: units must be one of ${Object.keys(KM_PER_UNIT).join(', ')} (got "${units}")`,
    );
  const d = number(distance, 'distance');
  if (d !== undefined && d <= 0) throw errors.badRequest('near: the distance must be positive');
  return { latitude, longitude, km: d === undefined ? DEFAULT_NEAR_KM : d * perUnit };
}

/**
 * Locations whose position lies within the distance (great-circle, haversine), on the two
 * numbers indexed per position. A latitude/longitude box around the point lets the number
 * index narrow the candidates first; the box on longitude is dropped near the poles and where
 * it would cross the antimeridian.
 */
export function nearSql(params: Params, alias: string, type: string, code: string, near: Near): string {
  const p = (v: unknown) => `${params.add(v)}::float8`;
  const latSpan = (near.km / EARTH_KM) * (180 / Math.PI);
  const cosLat = Math.cos((near.latitude * Math.PI) / 180);
  const lonSpan = cosLat > 0.01 ? latSpan / cosLat : Infinity;
  const lonBox =
    near.longitude - lonSpan >= -180 && near.longitude + lonSpan <= 180
      ? ` AND lon.value BETWEEN ${p(near.longitude - lonSpan)} AND ${p(near.longitude + lonSpan)}`
      : '';
  const lat0 = p(near.latitude);
  const lon0 = p(near.longitude);
  const distance = `2 * ${EARTH_KM} * asin(least(1, sqrt(
      power(sin(radians(i.value::float8 - ${lat0}) / 2), 2)
      + cos(radians(${lat0})) * cos(radians(i.value::float8)) * power(sin(radians(lon.value::float8 - ${lon0}) / 2), 2))))`;
  return `EXISTS (SELECT 1 FROM fhir_idx_number i JOIN fhir_idx_number lon
      ON lon.resource_type = i.resource_type AND lon.resource_id = i.resource_id AND lon.code = ${params.add(`${code}$longitude`)}
    WHERE i.resource_type = ${params.add(type)} AND i.resource_id = ${alias}.id AND i.code = ${params.add(`${code}$latitude`)}
      AND i.value BETWEEN ${p(near.latitude - latSpan)} AND ${p(near.latitude + latSpan)}${lonBox}
      AND ${distance} <= ${p(near.km)})`;
}
