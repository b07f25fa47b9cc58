/**
 * Loads the CDC CDSi supporting data (antigen and schedule XML) into typed structures, validating
 * as it goes. A new CDC release is a data drop: files are discovered by name, nothing is hard-coded.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XMLParser } from 'fast-xml-parser';
import { XmlReader, SupportingDataError, normaliseCvx } from './xml-read.js';
import type { XmlNode } from './xml-read.js';
import type {
  AgeSpec,
  Antigen,
  AntigenAssociation,
  ConditionalSkip,
  IntervalSpec,
  LiveVirusConflict,
  ObservationInfo,
  Series,
  SeriesDose,
  SkipCondition,
  SkipConditionType,
  SupportingData,
  VaccineGroup,
  VaccineSpec,
} from './types.js';

export { SupportingDataError } from './xml-read.js';

/** Same relative depth from src/ (tsx) and dist/ (tsc output) to the repository root. */
export const DEFAULT_CDSI_DIR = fileURLToPath(
  new URL('../../../../reference-data/cdsi/4.64/', import.meta.url),
);
export const DEFAULT_CDC_DIR = fileURLToPath(new URL('../../../../reference-data/cdc/', import.meta.url));

const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: true });

function parseFile(path: string, rootName: string, encoding: BufferEncoding = 'utf8'): XmlReader {
  const file = basename(path);
  let doc: XmlNode;
  try {
    doc = parser.parse(readFileSync(path, encoding)) as XmlNode;
  } catch (err) {
    throw new SupportingDataError(file, rootName, `cannot parse XML: ${(err as Error).message}`);
  }
  const root = doc[rootName];
  if (typeof root !== 'object' || root === null) {
    throw new SupportingDataError(file, rootName, 'root element is missing');
  }
  return new XmlReader(file, rootName, root as XmlNode);
}

function parseDoseNumber(r: XmlReader): number {
  const text = r.required('doseNumber');
  const m = /^Dose\s+(\d+)$/i.exec(text);
  if (!m) throw new SupportingDataError(r.file, `${r.path}/doseNumber`, `expected "Dose N", found "${text}"`);
  return Number(m[1]);
}

function readAge(r: XmlReader): AgeSpec {
  return {
    absMinAge: r.duration('absMinAge'),
    minAge: r.duration('minAge'),
    earliestRecAge: r.duration('earliestRecAge'),
    latestRecAge: r.duration('latestRecAge'),
    maxAge: r.duration('maxAge'),
    effectiveDate: r.date('effectiveDate'),
    cessationDate: r.date('cessationDate'),
  };
}

function readInterval(r: XmlReader): IntervalSpec {
  const target = r.text('fromTargetDose');
  const targetNumber = target === '' ? undefined : Number(target);
  if (targetNumber !== undefined && !Number.isInteger(targetNumber)) {
    throw new SupportingDataError(
      r.file,
      `${r.path}/fromTargetDose`,
      `expected a dose number, found "${target}"`,
    );
  }
  const obs = r.child('fromRelevantObs');
  return {
    fromPrevious: r.yesNo('fromPrevious'),
    fromTargetDose: targetNumber,
    fromMostRecent: r.cvxList('fromMostRecent'),
    fromRelevantObs: obs ? obs.text('code') || undefined : undefined,
    absMinInt: r.duration('absMinInt'),
    minInt: r.duration('minInt'),
    earliestRecInt: r.duration('earliestRecInt'),
    latestRecInt: r.duration('latestRecInt'),
    override: r.text('intervalPriority').toLowerCase() === 'override',
    effectiveDate: r.date('effectiveDate'),
    cessationDate: r.date('cessationDate'),
  };
}

function readVaccine(r: XmlReader): VaccineSpec {
  return {
    vaccineType: r.text('vaccineType'),
    cvx: normaliseCvx(r.required('cvx')),
    beginAge: r.duration('beginAge'),
    endAge: r.duration('endAge'),
    mvx: r.text('mvx') || undefined,
    forecastVaccineType: r.yesNo('forecastVaccineType'),
  };
}

const CONDITION_TYPES: readonly SkipConditionType[] = [
  'Age',
  'Interval',
  'Completed Series',
  'Vaccine Count by Age',
  'Vaccine Count by Date',
  'Vaccine Count by Date and Age',
];

function readCondition(r: XmlReader): SkipCondition {
  const count = r.text('doseCount');
  return {
    type: r.oneOf('conditionType', CONDITION_TYPES),
    startDate: r.date('startDate'),
    endDate: r.date('endDate'),
    beginAge: r.duration('beginAge'),
    endAge: r.duration('endAge'),
    interval: r.duration('interval'),
    doseCount: count === '' ? undefined : Number(count),
    validOnly: r.text('doseType').toLowerCase() === 'valid',
    countLogic: r.oneOf('doseCountLogic', ['greater than', 'equal to', 'less than'] as const, 'greater than'),
    vaccineTypes: r.cvxList('vaccineTypes'),
    seriesGroups: r
      .text('seriesGroups')
      .split(/[;,]/)
      .map((s) => s.trim())
      .filter(Boolean),
  };
}

function readSkip(r: XmlReader): ConditionalSkip {
  return {
    context: r.oneOf('context', ['Evaluation', 'Forecast', 'Both'] as const),
    setLogic: r.text('setLogic').toUpperCase() === 'AND' ? 'AND' : 'OR',
    sets: r.children('set').map((s) => ({
      id: s.text('setID'),
      description: s.text('setDescription'),
      effectiveDate: s.date('effectiveDate'),
      cessationDate: s.date('cessationDate'),
      conditionLogic: s.text('conditionLogic').toUpperCase() === 'OR' ? 'OR' : 'AND',
      conditions: s.children('condition').map(readCondition),
    })),
  };
}

function readSeriesDose(r: XmlReader): SeriesDose {
  const season = r.child('seasonalRecommendation');
  return {
    doseNumber: parseDoseNumber(r),
    ages: r.children('age').map(readAge),
    intervals: r.children('interval').map(readInterval),
    allowableIntervals: r.children('allowableInterval').map(readInterval),
    preferableVaccines: r.children('preferableVaccine').map(readVaccine),
    allowableVaccines: r.children('allowableVaccine').map(readVaccine),
    inadvertentCvx: new Set(r.children('inadvertentVaccine').map((v) => normaliseCvx(v.required('cvx')))),
    conditionalSkips: r.children('conditionalSkip').map(readSkip),
    recurring: r.yesNo('recurringDose'),
    seasonStart: season?.date('startDate'),
    seasonEnd: season?.date('endDate'),
  };
}

function readSeries(r: XmlReader, antigen: string): Series {
  const select = r.requiredChild('selectSeries');
  const preference = Number(select.text('seriesPreference') || '99');
  const doses = r.children('seriesDose').map(readSeriesDose);
  doses.forEach((d, i) => {
    if (d.doseNumber !== i + 1) {
      throw new SupportingDataError(r.file, `${r.path}/seriesDose[${i + 1}]`, `dose numbers must run 1..n`);
    }
  });
  if (doses.length === 0)
    throw new SupportingDataError(r.file, `${r.path}/seriesDose`, 'series has no doses');
  return {
    name: r.required('seriesName'),
    antigen,
    vaccineGroup: r.required('vaccineGroup'),
    type: r.oneOf('seriesType', ['Standard', 'Risk', 'Evaluation Only'] as const),
    equivalentSeriesGroups: r
      .text('equivalentSeriesGroups')
      .split(/[;,]/)
      .map((s) => s.trim())
      .filter(Boolean),
    requiredGenders: r.texts('requiredGender'),
    defaultSeries: select.yesNo('defaultSeries'),
    productPath: select.yesNo('productPath'),
    seriesGroup: select.required('seriesGroup'),
    priority: select.text('seriesPriority') || 'A',
    preference: Number.isFinite(preference) ? preference : 99,
    minAgeToStart: select.duration('minAgeToStart'),
    maxAgeToStart: select.duration('maxAgeToStart'),
    indications: r
      .children('indication')
      .map((i) => ({
        observationCode: i.child('observationCode')?.text('code') ?? '',
        beginAge: i.duration('beginAge'),
        endAge: i.duration('endAge'),
      }))
      .filter((i) => i.observationCode !== ''),
    doses,
  };
}

function readAntigen(path: string): Antigen {
  const root = parseFile(path, 'antigenSupportingData');
  const seriesNodes = root.children('series');
  if (seriesNodes.length === 0)
    throw new SupportingDataError(root.file, 'antigenSupportingData/series', 'no series');
  const name = seriesNodes[0]?.required('targetDisease') ?? '';
  const contra = root.child('contraindications');
  const immunity = root.child('immunity');
  const birth = immunity?.child('dateOfBirth');
  return {
    name,
    series: seriesNodes.map((s) => readSeries(s, name)),
    groupContraindications: (contra?.child('vaccineGroup')?.children('contraindication') ?? []).map((c) => ({
      observationCode: c.required('observationCode'),
      text: c.text('contraindicationText') || c.text('observationTitle'),
      beginAge: c.duration('beginAge'),
      endAge: c.duration('endAge'),
    })),
    vaccineContraindications: (contra?.child('vaccine')?.children('contraindication') ?? []).map((c) => ({
      observationCode: c.required('observationCode'),
      text: c.text('contraindicationText') || c.text('observationTitle'),
      vaccines: c.children('contraindicatedVaccine').map((v) => ({
        cvx: normaliseCvx(v.required('cvx')),
        beginAge: v.duration('beginAge'),
        endAge: v.duration('endAge'),
      })),
    })),
    immunityCodes: new Set(
      (immunity?.children('clinicalHistory') ?? []).map((c) => c.required('guidelineCode')),
    ),
    immunityBirthDate: birth?.date('immunityBirthDate'),
    immunityExclusions: new Set((birth?.children('exclusion') ?? []).map((e) => e.required('exclusionCode'))),
  };
}

function readSchedule(
  path: string,
): Omit<SupportingData, 'antigens' | 'version' | 'cvxDescriptions' | 'activeCvx'> {
  const root = parseFile(path, 'scheduleSupportingData');
  const liveVirusConflicts: LiveVirusConflict[] = (
    root.requiredChild('liveVirusConflicts').children('liveVirusConflict') ?? []
  ).map((c) => ({
    previousCvx: normaliseCvx(c.requiredChild('previous').required('cvx')),
    currentCvx: normaliseCvx(c.requiredChild('current').required('cvx')),
    begin: c.requiredDuration('conflictBeginInterval'),
    minEnd: c.duration('minConflictEndInterval') ?? c.requiredDuration('conflictEndInterval'),
    end: c.requiredDuration('conflictEndInterval'),
  }));
  const liveVirusByCurrent = new Map<string, LiveVirusConflict[]>();
  for (const c of liveVirusConflicts) {
    const list = liveVirusByCurrent.get(c.currentCvx) ?? [];
    list.push(c);
    liveVirusByCurrent.set(c.currentCvx, list);
  }
  const antigensByGroup = new Map<string, string[]>();
  for (const m of root.requiredChild('vaccineGroupToAntigenMap').children('vaccineGroupMap')) {
    antigensByGroup.set(m.required('name'), m.texts('antigen'));
  }
  const vaccineGroups: VaccineGroup[] = root
    .requiredChild('vaccineGroups')
    .children('vaccineGroup')
    .map((g) => {
      const name = g.required('name');
      return {
        name,
        administerFullVaccineGroup: g.yesNo('administerFullVaccineGroup'),
        antigens: antigensByGroup.get(name) ?? [],
      };
    });
  const cvxToAntigens = new Map<string, AntigenAssociation[]>();
  for (const m of root.requiredChild('cvxToAntigenMap').children('cvxMap')) {
    cvxToAntigens.set(
      normaliseCvx(m.required('cvx')),
      m.children('association').map((a) => ({
        antigen: a.required('antigen'),
        beginAge: a.duration('associationBeginAge'),
        endAge: a.duration('associationEndAge'),
      })),
    );
  }
  const observations = new Map<string, ObservationInfo>();
  for (const o of root.child('observations')?.children('observation') ?? []) {
    const code = o.required('observationCode');
    observations.set(code, {
      code,
      title: o.text('observationTitle'),
      codedValues: o
        .children('codedValues')
        .flatMap((cv) => cv.children('codedValue'))
        .map((v) => ({ system: v.required('codeSystem'), code: v.required('code') })),
    });
  }
  return { liveVirusConflicts, liveVirusByCurrent, vaccineGroups, cvxToAntigens, observations };
}

function readCvxCodeSet(dir: string): { descriptions: Map<string, string>; active: Set<string> } {
  const descriptions = new Map<string, string>();
  const active = new Set<string>();
  const out = { descriptions, active };
  let root: XmlReader;
  try {
    root = parseFile(join(dir, 'cvx.xml'), 'CVXCodes', 'latin1');
  } catch (err) {
    // The CVX code set only adds human-readable names; the engine works without it.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw err;
  }
  for (const info of root.children('CVXInfo')) {
    const cvx = normaliseCvx(info.required('CVXCode'));
    descriptions.set(cvx, info.text('ShortDescription'));
    if (info.text('Status').toLowerCase() === 'active') active.add(cvx);
  }
  return out;
}

/** Reads and validates every supporting-data file in `cdsiDir`. */
export function loadSupportingData(cdsiDir = DEFAULT_CDSI_DIR, cdcDir = DEFAULT_CDC_DIR): SupportingData {
  const files = readdirSync(cdsiDir)
    .filter((f) => /^AntigenSupportingData.*\.xml$/i.test(f))
    .sort();
  if (files.length === 0)
    throw new SupportingDataError(cdsiDir, 'antigenSupportingData', 'no antigen files found');
  const antigens = new Map<string, Antigen>();
  for (const f of files) {
    const antigen = readAntigen(join(cdsiDir, f));
    antigens.set(antigen.name, antigen);
  }
  const schedule = readSchedule(join(cdsiDir, 'ScheduleSupportingData.xml'));
  for (const group of schedule.vaccineGroups) {
    for (const a of group.antigens) {
      if (!antigens.has(a)) {
        throw new SupportingDataError(
          'ScheduleSupportingData.xml',
          'vaccineGroupToAntigenMap',
          `unknown antigen "${a}"`,
        );
      }
    }
  }
  const codeSet = readCvxCodeSet(cdcDir);
  return {
    version: basename(cdsiDir.replace(/[\\/]+$/, '')),
    antigens,
    ...schedule,
    cvxDescriptions: codeSet.descriptions,
    activeCvx: codeSet.active,
  };
}

let cached: SupportingData | undefined;

/** The default data set, loaded once per process. */
export function getSupportingData(): SupportingData {
  cached ??= loadSupportingData();
  return cached;
}
