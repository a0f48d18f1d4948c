/**
 * The clinical vignettes in vignettes.yaml, run through the evaluation engine. Each row is a patient
 * story with the Wells score, range, categories, PE flag and most likely cause a clinician expects;
 * the RiskAssessment is read back through its public FHIR shape only and checked against R4.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadEvaluator } from '../src/clinical/engine';
import type { Evaluator } from '../src/clinical/types';
import { answerableLinkIds, buildResponse, type AnswerValue } from './support/build-response';
import { CAUSE_IDS, readAssessment, type CauseId } from './support/read-assessment';
import { expectValidR4 } from './support/r4-validator';
import { WELLS_ALTERNATIVE_LINK_ID, WELLS_LINK_IDS, WELLS_PLUS_ONE_LINK_IDS } from './support/wells';

interface Expectation {
  score: number | null;
  range: [number, number];
  twoLevel: 'likely' | 'unlikely' | null;
  threeLevel: 'low' | 'moderate' | 'high' | null;
  pe: boolean;
  topCause: CauseId;
  status: 'final' | 'preliminary';
}

interface Vignette {
  story: string;
  answers: Record<string, AnswerValue>;
  expect: Expectation;
}

const vignettes = parse(readFileSync(join(__dirname, 'vignettes.yaml'), 'utf8')) as Vignette[];

/** Wells 2003 weights, used only to check the table's own arithmetic (the engine takes them from its rules). */
const PLUS_ONE = WELLS_PLUS_ONE_LINK_IDS;
const ALTERNATIVE = WELLS_ALTERNATIVE_LINK_ID;
const WELLS = WELLS_LINK_IDS;
const PE_FLAGS = ['pe-shortness-of-breath', 'pe-chest-pain', 'pe-coughing-blood'];

const NOW = new Date('2025-03-14T10:00:00Z');

function wellsYes(v: Vignette): string[] {
  return WELLS.filter((linkId) => v.answers[linkId] === true);
}
function isFinal(v: Vignette): boolean {
  return WELLS.every((linkId) => typeof v.answers[linkId] === 'boolean');
}

describe('the vignette table', () => {
  test('has at least 36 stories, each with answers and a complete expectation', () => {
    expect(vignettes.length).toBeGreaterThanOrEqual(36);
    for (const v of vignettes) {
      expect(typeof v.story).toBe('string');
      expect(Object.keys(v.expect).sort()).toEqual(['pe', 'range', 'score', 'status', 'threeLevel', 'topCause', 'twoLevel'].sort());
      expect(CAUSE_IDS).toContain(v.expect.topCause);
    }
  });

  test('uses only linkIds of the calf-pain Questionnaire', () => {
    const known = new Set(answerableLinkIds());
    const unknown = vignettes.flatMap((v) => Object.keys(v.answers).filter((linkId) => !known.has(linkId)));
    expect(unknown).toEqual([]);
  });

  test('states scores, ranges and categories that follow from its own Wells answers', () => {
    for (const v of vignettes) {
      const counted = PLUS_ONE.filter((l) => v.answers[l] === true).length - (v.answers[ALTERNATIVE] === true ? 2 : 0);
      const min = counted - (v.answers[ALTERNATIVE] === undefined ? 2 : 0);
      const max = counted + PLUS_ONE.filter((l) => v.answers[l] === undefined).length;
      const twoLevel = min >= 2 ? 'likely' : max <= 1 ? 'unlikely' : null;
      const threeLevel = min >= 3 ? 'high' : max <= 0 ? 'low' : min >= 1 && max <= 2 ? 'moderate' : null;
      expect({ story: v.story, ...v.expect }).toMatchObject({
        story: v.story,
        score: isFinal(v) ? counted : null,
        range: [min, max],
        twoLevel,
        threeLevel,
        pe: PE_FLAGS.some((l) => v.answers[l] === true),
        status: isFinal(v) ? 'final' : 'preliminary',
      });
    }
  });

  test('covers every Wells criterion alone, both cut-offs at their edges, scores up to 9, the seven causes, each red flag, missing examination and both legs', () => {
    const finals = vignettes.filter(isFinal);
    for (const criterion of WELLS) {
      expect(finals.some((v) => wellsYes(v).length === 1 && wellsYes(v)[0] === criterion)).toBe(true);
    }
    const scores = new Set(finals.map((v) => v.expect.score));
    for (const score of [-2, -1, 0, 1, 2, 3, 9]) expect(scores).toContain(score);
    expect(new Set(vignettes.map((v) => v.expect.topCause))).toEqual(new Set(CAUSE_IDS));
    for (const flag of PE_FLAGS) {
      expect(vignettes.some((v) => PE_FLAGS.filter((f) => v.answers[f] === true).join() === flag)).toBe(true);
    }
    expect(vignettes.some((v) => v.expect.pe && v.expect.twoLevel === 'unlikely')).toBe(true);
    const preliminary = vignettes.filter((v) => !isFinal(v));
    expect(preliminary.some((v) => v.answers[ALTERNATIVE] === undefined)).toBe(true);
    expect(preliminary.some((v) => v.expect.twoLevel === null)).toBe(true);
    expect(preliminary.some((v) => v.expect.twoLevel !== null)).toBe(true);
    expect(vignettes.some((v) => v.answers['affected-side'] === 'both')).toBe(true);
  });
});

describe('building a response from vignette answers', () => {
  const [first] = vignettes;

  test('places each answer inside its Questionnaire group and yields valid R4', () => {
    const qr = buildResponse(first.answers);
    expect(qr.item?.map((i) => i.linkId)).toEqual(['history', 'risk-factors', 'examination', 'red-flags']);
    const examination = qr.item?.find((i) => i.linkId === 'examination');
    expect(examination?.item?.find((i) => i.linkId === 'wells-tenderness-deep-veins')?.answer).toEqual([{ valueBoolean: false }]);
    expectValidR4(qr);
  });

  test('turns a choice code into the answerOption coding', () => {
    const qr = buildResponse({ 'pain-site': 'inner-calf' });
    const answer = qr.item?.[0].item?.[0].answer?.[0];
    expect(answer?.valueCoding?.code).toBe('inner-calf');
    expect(answer?.valueCoding?.system).toBeDefined();
    expect(answer?.valueCoding?.display).toBeDefined();
  });

  test('refuses an unknown linkId, an unknown choice code and a mistyped answer', () => {
    expect(() => buildResponse({ 'wells-homans-sign': true })).toThrow(/wells-homans-sign/);
    expect(() => buildResponse({ 'pain-site': 'thigh' })).toThrow(/thigh/);
    expect(() => buildResponse({ 'wells-active-cancer': 'yes' })).toThrow(/wells-active-cancer/);
  });
});

describe('clinical vignettes', () => {
  let evaluator: Evaluator;
  beforeAll(() => {
    evaluator = loadEvaluator();
  });

  test.each(vignettes)('$story', (vignette) => {
    const response = buildResponse(vignette.answers, { id: 'vignette' });
    const { riskAssessment } = evaluator.evaluate(response, { now: NOW });
    const got = readAssessment(riskAssessment);

    expect({
      score: got.score,
      range: got.range,
      twoLevel: got.twoLevel,
      threeLevel: got.threeLevel,
      pe: got.peFlag,
      topCause: got.topCause,
      status: got.status,
    }).toEqual(vignette.expect);

    // Whatever the row, the reported category must hold over the whole possible range.
    const [min, max] = got.range;
    if (got.score !== null) expect(got.score >= min && got.score <= max).toBe(true);
    if (got.twoLevel === 'unlikely') expect(max).toBeLessThanOrEqual(1);
    if (got.twoLevel === 'likely') expect(min).toBeGreaterThanOrEqual(2);
    if (got.threeLevel === 'low') expect(max).toBeLessThanOrEqual(0);
    if (got.threeLevel === 'moderate') expect([min >= 1, max <= 2]).toEqual([true, true]);
    if (got.threeLevel === 'high') expect(min).toBeGreaterThanOrEqual(3);
    expect(got.status === 'final').toBe(got.score !== null);

    expectValidR4(riskAssessment);
  });
});
