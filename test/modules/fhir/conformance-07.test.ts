import { conformancePart } from './conformance-cases.js';

conformancePart(7, 20);
