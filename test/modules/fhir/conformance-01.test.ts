import { conformancePart } from './conformance-cases.js';

conformancePart(1, 4);
