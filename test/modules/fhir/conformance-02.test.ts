import { conformancePart } from './conformance-cases.js';

conformancePart(2, 4);
