import { conformancePart } from './conformance-cases.js';

conformancePart(8, 20);
