import { conformancePart } from './conformance-cases.js';

conformancePart(13, 20);
