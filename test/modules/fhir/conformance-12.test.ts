import { conformancePart } from './conformance-cases.js';

conformancePart(12, 20);
