import { conformancePart } from './conformance-cases.js';

conformancePart(19, 20);
