import type { StoredDose } from './types.js';

/** A patient as the registry knows it: demographics from the latest message that named them. */
export interface PatientRecord {
  key: string;
  identifiers: { value: string; authority: string; type: string }[];
  family: string;
  given: string;
  dob: string;
  sex: string;
}

export interface DoseInput extends Omit<StoredDose, 'id' | 'receivedAt'> {
  patientKey: string;
}

/** Patient identity used as the storage key: first identifier value plus its assigning authority. */
export function patientKey(value: string, authority: string): string {
  return `${authority}|${value}`;
}

/**
 * In-memory doses and patients. Doses sit in one insertion-ordered map so the oldest can be evicted
 * when the cap is reached, with a per-patient index for queries.
 */
export class DoseStore {
  private readonly doseMap = new Map<string, StoredDose & { patientKey: string }>();
  private readonly byPatient = new Map<string, Set<string>>();
  private readonly patients = new Map<string, PatientRecord>();
  private readonly idIndex = new Map<string, Set<string>>();
  private readonly demoIndex = new Map<string, Set<string>>();
  private nextId = 1;

  constructor(private readonly maxDoses: number) {}

  get size(): number {
    return this.doseMap.size;
  }

  upsertPatient(record: PatientRecord): void {
    const known = this.patients.get(record.key);
    const target = known ?? { ...record, identifiers: [] };
    if (known) {
      removeFrom(this.demoIndex, demoKey(known.family, known.dob), known.key);
      Object.assign(known, { family: record.family, given: record.given, dob: record.dob, sex: record.sex });
    } else {
      this.patients.set(record.key, target);
    }
    for (const id of record.identifiers) {
      if (target.identifiers.some((i) => i.value === id.value && i.authority === id.authority)) continue;
      target.identifiers.push(id);
      addTo(this.idIndex, id.value, record.key);
    }
    addTo(this.demoIndex, demoKey(target.family, target.dob), record.key);
    while (this.patients.size > this.maxDoses) {
      const oldest = this.patients.values().next().value;
      if (!oldest) break;
      this.dropPatient(oldest);
    }
  }

  /** Adds a dose, replacing one of the same patient with the same filler order (resends and updates). */
  put(input: DoseInput): StoredDose {
    const key = this.doseKey(input.patientKey, input.fillerOrder, input.cvx, input.date);
    const previous = this.doseMap.get(key);
    this.doseMap.delete(key);
    const dose = {
      ...input,
      id: previous?.id ?? `sim-${this.nextId++}`,
      receivedAt: new Date().toISOString(),
    };
    this.doseMap.set(key, dose);
    addTo(this.byPatient, input.patientKey, key);
    this.evict();
    return strip(dose);
  }

  /** Removes the patient's dose with this filler order; false when there was none. */
  remove(patient: string, fillerOrder: string): boolean {
    const key = this.doseKey(patient, fillerOrder, '', '');
    if (!this.doseMap.delete(key)) return false;
    removeFrom(this.byPatient, patient, key);
    return true;
  }

  /** Removes a dose by its simulator id (FHIR delete); false when unknown. */
  removeById(id: string): boolean {
    for (const [key, dose] of this.doseMap) {
      if (dose.id !== id) continue;
      this.doseMap.delete(key);
      removeFrom(this.byPatient, dose.patientKey, key);
      return true;
    }
    return false;
  }

  dosesOf(patient: string): StoredDose[] {
    const keys = this.byPatient.get(patient);
    if (!keys) return [];
    const out: StoredDose[] = [];
    for (const key of keys) {
      const dose = this.doseMap.get(key);
      if (dose) out.push(strip(dose));
    }
    return out.sort((a, b) => a.date.localeCompare(b.date));
  }

  all(): StoredDose[] {
    return [...this.doseMap.values()].map(strip);
  }

  patient(key: string): PatientRecord | undefined {
    return this.patients.get(key);
  }

  /** Patients holding this identifier; an empty authority matches any authority. */
  findByIdentifier(value: string, authority: string): PatientRecord[] {
    return this.lookup(this.idIndex.get(value)).filter((p) =>
      p.identifiers.some((i) => i.value === value && (!authority || i.authority === authority)),
    );
  }

  /** Patients by name and birth date (case-insensitive), optionally by given name and sex. */
  findByDemographics(family: string, given: string, dob: string, sex: string): PatientRecord[] {
    const g = given.toUpperCase();
    return this.lookup(this.demoIndex.get(demoKey(family, dob))).filter(
      (p) => (!g || p.given.toUpperCase() === g) && (!sex || !p.sex || p.sex === sex),
    );
  }

  clear(): void {
    this.doseMap.clear();
    this.byPatient.clear();
    this.patients.clear();
    this.idIndex.clear();
    this.demoIndex.clear();
    this.nextId = 1;
  }

  private lookup(keys: Set<string> | undefined): PatientRecord[] {
    const out: PatientRecord[] = [];
    for (const key of keys ?? []) {
      const p = this.patients.get(key);
      if (p) out.push(p);
    }
    return out;
  }

  private dropPatient(p: PatientRecord): void {
    this.patients.delete(p.key);
    removeFrom(this.demoIndex, demoKey(p.family, p.dob), p.key);
    for (const id of p.identifiers) removeFrom(this.idIndex, id.value, p.key);
  }

  private doseKey(patient: string, fillerOrder: string, cvx: string, date: string): string {
    return fillerOrder ? `${patient}#${fillerOrder}` : `${patient}#${cvx}@${date}`;
  }

  private evict(): void {
    while (this.doseMap.size > this.maxDoses) {
      const oldest = this.doseMap.entries().next().value;
      if (!oldest) return;
      this.doseMap.delete(oldest[0]);
      removeFrom(this.byPatient, oldest[1].patientKey, oldest[0]);
    }
  }
}

function demoKey(family: string, dob: string): string {
  return `${family.toUpperCase()}|${dob.slice(0, 8)}`;
}

function addTo(index: Map<string, Set<string>>, key: string, value: string): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom(index: Map<string, Set<string>>, key: string, value: string): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}

function strip(dose: StoredDose & { patientKey?: string }): StoredDose {
  const { patientKey: _key, ...rest } = dose;
  return rest;
}
