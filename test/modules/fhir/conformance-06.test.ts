import { conformancePart } from './conformance-cases.js';

conformancePart(6, 20);
