import type { Coding } from 'fhir/r4';

/**
 * Canonical URLs and shared codes: this project's own artefacts (CodeSystems, extensions,
 * Questionnaire) and the HL7 ones several layers read, each defined once.
 */

// ---------------------------------------------------------------------------------------------
// This project's artefacts

/** Canonical base for the project's own artefacts (CodeSystems, extensions, PlanDefinition). */
export const CANONICAL_BASE = 'http://calfpain.example.org/fhir';
export const QUESTIONNAIRE_URL = `${CANONICAL_BASE}/Questionnaire/calf-pain`;
export const EXT_WELLS_SCORE = `${CANONICAL_BASE}/StructureDefinition/wells-score`;
export const EXT_WELLS_SCORE_RANGE = `${CANONICAL_BASE}/StructureDefinition/wells-score-range`;
/** On the DVT prediction: valueCodeableConcept, code `likely` | `unlikely` in CS_CALF_PAIN (absent when undetermined). */
export const EXT_WELLS_TWO_LEVEL = `${CANONICAL_BASE}/StructureDefinition/wells-two-level`;
/** On each differential prediction: valueInteger rank, 1 = most likely. */
export const EXT_DIFFERENTIAL_RANK = `${CANONICAL_BASE}/StructureDefinition/differential-rank`;
/** On the Provenance this service writes: valueReference to the patient the assessment is about. */
export const EXT_PROVENANCE_PATIENT = `${CANONICAL_BASE}/StructureDefinition/provenance-patient`;
export const CS_CALF_PAIN = `${CANONICAL_BASE}/CodeSystem/calf-pain`;

// ---------------------------------------------------------------------------------------------
// HL7 extensions (FHIR core and Structured Data Capture)

const SDC_EXT = 'http://hl7.org/fhir/uv/sdc/StructureDefinition';
export const EXT_ITEM_POPULATION_CONTEXT = `${SDC_EXT}/sdc-questionnaire-itemPopulationContext`;
export const EXT_INITIAL_EXPRESSION = `${SDC_EXT}/sdc-questionnaire-initialExpression`;
export const EXT_LAUNCH_CONTEXT = `${SDC_EXT}/sdc-questionnaire-launchContext`;
export const EXT_ENABLE_WHEN_EXPRESSION = `${SDC_EXT}/sdc-questionnaire-enableWhenExpression`;
export const EXT_OBSERVATION_EXTRACT = `${SDC_EXT}/sdc-questionnaire-observationExtract`;
export const EXT_CALCULATED_EXPRESSION = `${SDC_EXT}/sdc-questionnaire-calculatedExpression`;
export const EXT_VARIABLE = 'http://hl7.org/fhir/StructureDefinition/variable';

// ---------------------------------------------------------------------------------------------
// Code systems and codes

export const RISK_PROBABILITY = 'http://terminology.hl7.org/CodeSystem/risk-probability';
export const SNOMED = 'http://snomed.info/sct';
/** SNOMED CT: the outcome of the DVT prediction and the topic of DVT cards. */
export const SNOMED_DVT: Readonly<Coding> = { system: SNOMED, code: '128053003', display: 'Deep venous thrombosis' };
/** SNOMED CT: the outcome of the red-flag prediction and the topic of red-flag cards. */
export const SNOMED_PE: Readonly<Coding> = { system: SNOMED, code: '59282003', display: 'Pulmonary embolism' };
