import type {
  CodeableConcept,
  Extension,
  Provenance,
  QuestionnaireResponse,
  Reference,
  RiskAssessment,
  RiskAssessmentPrediction,
} from 'fhir/r4';
import type { CompiledRules } from './rules';
import {
  CS_CALF_PAIN,
  EXT_DIFFERENTIAL_RANK,
  EXT_PROVENANCE_PATIENT,
  EXT_WELLS_SCORE,
  EXT_WELLS_SCORE_RANGE,
  EXT_WELLS_TWO_LEVEL,
  RISK_PROBABILITY,
  SNOMED_DVT,
  SNOMED_PE,
} from '../core/canonical';
import type { AssessmentSummary, ThreeLevel } from './types';

/**
 * Rendering: an assessment summary as a FHIR RiskAssessment (one prediction for DVT, one for PE when a
 * red flag is raised, one per cause of the differential), and the Provenance of a stored assessment.
 */

/** The service itself, as the performer of assessments and the agent of their Provenance. */
export const SERVICE_DEVICE: Reference = { reference: 'Device/calf-pain-cds', display: 'Calf-pain decision support service' };

export function buildRiskAssessment(
  rules: CompiledRules,
  response: QuestionnaireResponse,
  summary: AssessmentSummary,
  now: Date,
): RiskAssessment {
  const predictions: RiskAssessmentPrediction[] = [dvtPrediction(rules, summary)];
  if (summary.peRedFlags.length) predictions.push(pePrediction(summary));
  summary.differential.forEach((cause, index) => predictions.push(differentialPrediction(cause, index + 1)));

  return {
    resourceType: 'RiskAssessment',
    extension: scoreExtensions(summary),
    status: summary.status,
    method: {
      coding: [{ system: CS_CALF_PAIN, code: 'wells-dvt', display: 'Wells DVT score' }],
      text: 'Wells DVT score (Wells 2003, two-level; Wells 1997, three-level) with PE red flags and calf-pain differential',
    },
    code: { text: 'Calf pain assessment' },
    subject: response.subject ?? { display: 'Unidentified patient (the response names no subject)' },
    ...(response.encounter ? { encounter: response.encounter } : {}),
    occurrenceDateTime: now.toISOString(),
    performer: SERVICE_DEVICE,
    basis: [basisOf(response)],
    prediction: predictions,
    mitigation: summary.nextSteps.join('\n\n'),
    note: [
      {
        text:
          'Decision support, not a diagnosis. Rules: PlanDefinition calf-pain-assessment ' +
          (rules.plan.version ?? '') +
          ' (sources cited there).',
      },
    ],
  };
}

/** Provenance for a stored RiskAssessment (target) derived from a stored QuestionnaireResponse (entity). */
export function buildProvenance(riskAssessment: RiskAssessment, response: QuestionnaireResponse, now = new Date()): Provenance {
  const version = response.meta?.versionId;
  const patient = response.subject?.reference?.startsWith('Patient/') ? response.subject : undefined;
  const raVersion = riskAssessment.meta?.versionId;
  return {
    resourceType: 'Provenance',
    // Which patient the target is about: indexed as Provenance `patient` (search and compartment checks).
    ...(patient ? { extension: [{ url: EXT_PROVENANCE_PATIENT, valueReference: { reference: patient.reference } }] } : {}),
    target: [
      {
        reference: `RiskAssessment/${riskAssessment.id}${raVersion ? `/_history/${raVersion}` : ''}`,
      },
    ],
    recorded: now.toISOString(),
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE', display: 'create' }] },
    agent: [
      {
        type: {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'assembler', display: 'Assembler' },
          ],
        },
        who: SERVICE_DEVICE,
      },
    ],
    entity: [{ role: 'source', what: { reference: `QuestionnaireResponse/${response.id}${version ? `/_history/${version}` : ''}` } }],
  };
}

/** The stored response when it has an id; otherwise a description (with its identifier, when it has one). */
function basisOf(response: QuestionnaireResponse): Reference {
  return response.id
    ? { reference: `QuestionnaireResponse/${response.id}`, display: 'Calf pain questionnaire response' }
    : { display: 'Calf pain questionnaire response (not stored)', ...(response.identifier ? { identifier: response.identifier } : {}) };
}

function dvtPrediction(rules: CompiledRules, summary: AssessmentSummary): RiskAssessmentPrediction {
  const category = summary.threeLevel ? rules.categories.get(summary.threeLevel)! : undefined;
  const twoLevel = summary.twoLevel ? rules.categories.get(summary.twoLevel)! : undefined;
  return {
    extension: [
      ...(twoLevel
        ? [
            {
              url: EXT_WELLS_TWO_LEVEL,
              valueCodeableConcept: { coding: [{ ...twoLevel.code, system: CS_CALF_PAIN }], text: twoLevel.title },
            },
          ]
        : []),
      ...scoreExtensions(summary),
    ],
    outcome: {
      coding: [{ ...SNOMED_DVT }],
      text: 'Deep vein thrombosis (Wells DVT score)',
    },
    ...probability(summary.dvtProbability),
    ...(summary.threeLevel ? { qualitativeRisk: riskConcept(summary.threeLevel, category!.title) } : {}),
    rationale: dvtRationale(rules, summary),
  };
}

/** The score (or why it is not final), both categories (or why not determined), and the criteria counted. */
function dvtRationale(rules: CompiledRules, summary: AssessmentSummary): string {
  const { min, max } = summary.scoreRange;
  const parts: string[] = [];
  parts.push(
    summary.wellsScore !== undefined
      ? `Wells DVT score ${summary.wellsScore}.`
      : `Wells DVT score not final: ${summary.unanswered.length} criteria not answered ` +
          `(${summary.unanswered.map((u) => u.title).join('; ')}); possible score ${min} to ${max}.`,
  );
  if (summary.twoLevel) {
    parts.push(rules.categories.get(summary.twoLevel)!.description!);
  } else {
    parts.push(
      'Two-level Wells: not determined (the answers still missing could place the score on either ' +
        'side of the cut-off of 2); do not treat as DVT unlikely.',
    );
  }
  if (summary.threeLevel) {
    parts.push(`${rules.categories.get(summary.threeLevel)!.description} probabilityDecimal is that prevalence in percent.`);
  } else if (summary.dvtProbability) {
    parts.push(
      `Three-level Wells: not determined; the prevalence of the categories still possible spans ${summary.dvtProbability.low}% ` +
        `to ${summary.dvtProbability.high}% (probabilityRange).`,
    );
  } else {
    parts.push('Three-level Wells: not determined.');
  }
  if (summary.counted.length) parts.push(`Criteria counted: ${summary.counted.map((c) => `${c.title} (${signed(c.points)})`).join('; ')}.`);
  else parts.push('No Wells criterion answered yes.');
  return parts.join(' ');
}

function pePrediction(summary: AssessmentSummary): RiskAssessmentPrediction {
  return {
    outcome: { coding: [{ ...SNOMED_PE }], text: 'Pulmonary embolism' },
    ...probability(undefined),
    qualitativeRisk: riskConcept('high', 'Red flag for pulmonary embolism'),
    rationale:
      `Pulmonary embolism red flags answered yes: ${summary.peRedFlags.map((f) => f.title).join('; ')}. ` +
      `Emergency assessment now, whatever the DVT score. Probability not quantified (0-100%).`,
  };
}

function differentialPrediction(cause: AssessmentSummary['differential'][number], rank: number): RiskAssessmentPrediction {
  return {
    extension: [{ url: EXT_DIFFERENTIAL_RANK, valueInteger: rank }],
    outcome: { coding: cause.codes, text: cause.text },
    ...probability(undefined),
    qualitativeRisk: riskConcept(cause.qualitativeRisk),
    rationale: `${
      cause.rationale.length
        ? `Rank ${rank} (weight ${cause.score}). Answers: ${cause.rationale.join('; ')}.`
        : `Rank ${rank} (weight 0). No answer points to this cause.`
    } Probability not quantified (0-100%); qualitativeRisk ranks the differential.`,
  };
}

function riskConcept(level: ThreeLevel, text?: string): CodeableConcept {
  const display = { low: 'Low likelihood', moderate: 'Moderate likelihood', high: 'High likelihood' }[level];
  return { coding: [{ system: RISK_PROBABILITY, code: level, display }], ...(text ? { text } : {}) };
}

const UCUM = 'http://unitsofmeasure.org';
const percent = (value: number) => ({ value, unit: '%', system: UCUM, code: '%' });

/**
 * Probabilities are percentages, the R4 convention (invariants ras-1: Range bounds in %, ras-2:
 * decimal <= 100). Where no published figure exists the range is the whole 0-100 %: stated as
 * not quantified rather than left out, since some validators require probability[x] (ras-2).
 */
function probability(
  range: { low: number; high: number } | undefined,
): Pick<RiskAssessmentPrediction, 'probabilityDecimal' | 'probabilityRange'> {
  if (range && range.low === range.high) return { probabilityDecimal: range.low };
  const { low, high } = range ?? { low: 0, high: 100 };
  return { probabilityRange: { low: percent(low), high: percent(high) } };
}

function scoreExtensions(summary: AssessmentSummary): Extension[] {
  return [
    ...(summary.wellsScore !== undefined ? [{ url: EXT_WELLS_SCORE, valueInteger: summary.wellsScore }] : []),
    { url: EXT_WELLS_SCORE_RANGE, valueRange: { low: { value: summary.scoreRange.min }, high: { value: summary.scoreRange.max } } },
  ];
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : `${n}`;
}
