// The CVX codes the simulator recognises. A real registry loads the full CDC table; a short list is
// enough here to exercise the "unknown vaccine code" warning path.
export const KNOWN_CVX: ReadonlyMap<string, string> = new Map([
  ['03', 'MMR'],
  ['08', 'Hep B, adolescent or pediatric'],
  ['10', 'IPV'],
  ['20', 'DTaP'],
  ['21', 'varicella'],
  ['33', 'pneumococcal polysaccharide PPV23'],
  ['43', 'Hep B, adult'],
  ['45', 'Hep B, unspecified formulation'],
  ['49', 'Hib (PRP-OMP)'],
  ['62', 'HPV, quadrivalent'],
  ['83', 'Hep A, ped/adol, 2 dose'],
  ['88', 'influenza, unspecified formulation'],
  ['94', 'MMRV'],
  ['106', 'DTaP, 5 pertussis antigens'],
  ['110', 'DTaP-Hep B-IPV'],
  ['113', 'Td (adult), preservative free'],
  ['115', 'Tdap'],
  ['116', 'rotavirus, pentavalent'],
  ['119', 'rotavirus, monovalent'],
  ['120', 'DTaP-Hib-IPV'],
  ['133', 'pneumococcal conjugate PCV 13'],
  ['140', 'influenza, seasonal, injectable, preservative free'],
  ['141', 'influenza, seasonal, injectable'],
  ['150', 'influenza, injectable, quadrivalent, preservative free'],
  ['158', 'influenza, injectable, quadrivalent'],
  ['165', 'HPV9'],
  ['187', 'zoster recombinant'],
  ['207', 'COVID-19, mRNA, LNP-S, PF, 100 mcg/0.5mL dose'],
  ['208', 'COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose'],
  ['213', 'SARS-COV-2 (COVID-19) vaccine, UNSPECIFIED FORMULATION'],
  ['998', 'no vaccine administered'],
  ['999', 'unknown'],
]);

/** CVX codes that record that no vaccine was given; they take no part in forecasts. */
export const NO_VACCINE_CVX = new Set(['998']);
