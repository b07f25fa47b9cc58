/** An incoming HL7 v2 message cannot be read as the expected message type. */
export class Hl7ParseError extends Error {
  override readonly name = 'Hl7ParseError';
}

/** The FHIR input lacks something the CDC guide requires, so no conformant message can be built. */
export class Hl7BuildError extends Error {
  override readonly name = 'Hl7BuildError';
}
