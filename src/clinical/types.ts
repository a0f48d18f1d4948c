import type { QuestionnaireResponse, RiskAssessment, Provenance } from 'fhir/r4';

export type TwoLevel = 'likely' | 'unlikely';
export type ThreeLevel = 'low' | 'moderate' | 'high';

/** What the CDS Hooks cards and the API need, derived in the same pass that builds the RiskAssessment. */
export interface AssessmentSummary {
  status: 'final' | 'preliminary';
  /** Present only when all ten Wells criteria are answered. */
  wellsScore?: number;
  scoreRange: { min: number; max: number };
  /** Absent when unanswered criteria could move the score across the cut-off. */
  twoLevel?: TwoLevel;
  threeLevel?: ThreeLevel;
  /**
   * DVT prevalence (percent) of the three-level category: one value when determined, otherwise the
   * lowest and highest over the categories the possible score range spans.
   */
  dvtProbability?: { low: number; high: number };
  /** Wells criteria answered yes, with their points. */
  counted: { linkId: string; title: string; points: number }[];
  /** Wells criteria (linkIds) not answered. */
  unanswered: { linkId: string; title: string }[];
  /** PE red-flag items answered yes. */
  peRedFlags: { linkId: string; title: string }[];
  /** Differential, most likely first. */
  differential: {
    id: string;
    text: string;
    /** SNOMED CT concept(s) where they exist, then the project code. */
    codes: { system?: string; code?: string; display?: string }[];
    qualitativeRisk: ThreeLevel;
    score: number;
    rationale: string[];
  }[];
  /** NICE NG158 next steps (plus emergency care for PE flags). */
  nextSteps: string[];
}

export interface Evaluation {
  riskAssessment: RiskAssessment;
  summary: AssessmentSummary;
}

export interface EvaluateOptions {
  /** Clock for occurrenceDateTime (tests pass a fixed one). */
  now?: Date;
}

export interface Evaluator {
  /**
   * Evaluates a QuestionnaireResponse (already validated) into a RiskAssessment. Pure: stores nothing.
   * basis references `QuestionnaireResponse/{id}` when the response has an id.
   */
  evaluate(response: QuestionnaireResponse, options?: EvaluateOptions): Evaluation;
  /** Provenance for a stored RiskAssessment (target) derived from a stored QuestionnaireResponse (entity). */
  provenance(riskAssessment: RiskAssessment, response: QuestionnaireResponse, now?: Date): Provenance;
}
