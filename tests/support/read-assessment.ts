/**
 * Reads a calf-pain RiskAssessment the way an EHR or portal would: from the FHIR resource alone
 * (extensions, predictions, codes), never from the service's internal summary. Tests that pass
 * through this reader therefore test the public contract.
 */
import type { CodeableConcept, Extension, RiskAssessment, RiskAssessmentPrediction } from 'fhir/r4';
import { CS_CALF_PAIN, EXT_DIFFERENTIAL_RANK, EXT_WELLS_TWO_LEVEL, RISK_PROBABILITY, SNOMED } from '../../src/core/canonical';
import type { ThreeLevel, TwoLevel } from '../../src/clinical/types';

export const SNOMED_DVT = '128053003';
export const SNOMED_PE = '59282003';

export type CauseId =
  | 'calf-muscle-strain'
  | 'medial-gastrocnemius-strain'
  | 'plantaris-rupture'
  | 'achilles-tendinopathy-rupture'
  | 'bakers-cyst'
  | 'dvt'
  | 'leg-cramps';

/** The seven causes of the seed document, by the text each differential prediction names it with. */
export const CAUSE_BY_TEXT: Readonly<Record<string, CauseId>> = {
  'Calf muscle strain': 'calf-muscle-strain',
  'Medial gastrocnemius strain': 'medial-gastrocnemius-strain',
  'Plantaris muscle rupture': 'plantaris-rupture',
  'Achilles tendinopathy/rupture': 'achilles-tendinopathy-rupture',
  "Baker's cyst": 'bakers-cyst',
  'Blood clot (deep vein thrombosis)': 'dvt',
  'Leg cramps': 'leg-cramps',
};

export const CAUSE_IDS: readonly CauseId[] = Object.values(CAUSE_BY_TEXT);

export interface DifferentialEntry {
  rank: number;
  text: string;
  /** Cause id mapped from the outcome text; undefined when the text names none of the seven causes. */
  cause: CauseId | undefined;
  codes: { system?: string; code?: string; display?: string }[];
  qualitativeRisk: string | null;
  rationale: string | null;
}

export interface AssessmentReading {
  status: RiskAssessment['status'];
  /** Wells score (RiskAssessment extension ending /wells-score); null when not every criterion is answered. */
  score: number | null;
  /** Possible Wells score given the unanswered criteria (extension ending /wells-score-range). */
  range: [number, number];
  twoLevel: TwoLevel | null;
  threeLevel: ThreeLevel | null;
  /** A pulmonary embolism prediction (SNOMED CT 59282003) is present. */
  peFlag: boolean;
  /** Differential predictions, most likely (rank 1) first. */
  differential: DifferentialEntry[];
  topCause: CauseId | null;
  mitigation: string | null;
}

function hasCode(concept: CodeableConcept | undefined, system: string, code: string): boolean {
  return (concept?.coding ?? []).some((c) => c.system === system && c.code === code);
}

function extension(owner: { extension?: Extension[] } | undefined, test: (url: string) => boolean): Extension | undefined {
  return (owner?.extension ?? []).find((e) => test(e.url));
}

function rankOf(prediction: RiskAssessmentPrediction): number | undefined {
  return extension(prediction, (url) => url === EXT_DIFFERENTIAL_RANK)?.valueInteger;
}

function riskCode(concept: CodeableConcept | undefined): string | null {
  return (concept?.coding ?? []).find((c) => c.system === RISK_PROBABILITY)?.code ?? null;
}

/** Normalises typographic apostrophes so "Baker’s cyst" and "Baker's cyst" name the same cause. */
function causeFromText(text: string | undefined): CauseId | undefined {
  return text === undefined ? undefined : CAUSE_BY_TEXT[text.replace(/[\u2018\u2019]/g, "'").trim()];
}

export function readAssessment(ra: RiskAssessment): AssessmentReading {
  const predictions = ra.prediction ?? [];

  const scoreExt = extension(ra, (url) => url.endsWith('/wells-score'));
  const rangeExt = extension(ra, (url) => url.endsWith('/wells-score-range'));
  const low = rangeExt?.valueRange?.low?.value;
  const high = rangeExt?.valueRange?.high?.value;
  if (low === undefined || high === undefined) {
    throw new Error('RiskAssessment lacks the wells-score-range extension with valueRange low and high');
  }

  const dvtPredictions = predictions.filter((p) => hasCode(p.outcome, SNOMED, SNOMED_DVT) && rankOf(p) === undefined);
  if (dvtPredictions.length !== 1) {
    throw new Error(`Expected exactly one DVT prediction (SNOMED ${SNOMED_DVT}, no differential rank), found ${dvtPredictions.length}`);
  }
  const dvt = dvtPredictions[0];
  const twoLevelCode = (extension(dvt, (url) => url === EXT_WELLS_TWO_LEVEL)?.valueCodeableConcept?.coding ?? []).find(
    (c) => c.system === CS_CALF_PAIN,
  )?.code;
  const threeLevelCode = riskCode(dvt.qualitativeRisk);

  const differential: DifferentialEntry[] = predictions
    .filter((p) => rankOf(p) !== undefined)
    .map((p) => ({
      rank: rankOf(p) as number,
      text: p.outcome?.text ?? '',
      cause: causeFromText(p.outcome?.text),
      codes: (p.outcome?.coding ?? []).map(({ system, code, display }) => ({ system, code, display })),
      qualitativeRisk: riskCode(p.qualitativeRisk),
      rationale: p.rationale ?? null,
    }))
    .sort((a, b) => a.rank - b.rank);

  return {
    status: ra.status,
    score: scoreExt?.valueInteger ?? null,
    range: [low, high],
    twoLevel: twoLevelCode === 'likely' || twoLevelCode === 'unlikely' ? twoLevelCode : null,
    threeLevel: threeLevelCode === 'low' || threeLevelCode === 'moderate' || threeLevelCode === 'high' ? threeLevelCode : null,
    peFlag: predictions.some((p) => hasCode(p.outcome, SNOMED, SNOMED_PE)),
    differential,
    topCause: differential[0]?.cause ?? null,
    mitigation: ra.mitigation ?? null,
  };
}
