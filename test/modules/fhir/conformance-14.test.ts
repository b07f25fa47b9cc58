import { conformancePart } from './conformance-cases.js';

conformancePart(14, 20);
