import { conformancePart } from './conformance-cases.js';

conformancePart(9, 20);
