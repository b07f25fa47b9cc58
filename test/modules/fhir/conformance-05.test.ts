import { conformancePart } from './conformance-cases.js';

conformancePart(5, 20);
