import fs from 'node:fs';
import path from 'node:path';
import type { PlanDefinition } from 'fhir/r4';
import { createEvaluator, loadEvaluator } from '../src/clinical/engine';
import { RuleError } from '../src/clinical/rules';
import { buildResponse } from './support/build-response';
import { readAssessment } from './support/read-assessment';

const PLAN_PATH = path.join(__dirname, '..', 'fhir-resources', 'PlanDefinition-calf-pain-assessment.json');

describe('the blood-clot cause of the differential agrees with the Wells category', () => {
  const evaluator = loadEvaluator();
  const bloodClot = (answers: Record<string, boolean | string>) => {
    const reading = readAssessment(evaluator.evaluate(buildResponse(answers)).riskAssessment);
    return { reading, cause: reading.differential.find((d) => d.cause === 'dvt')! };
  };
  const allNo = {
    'wells-active-cancer': false,
    'wells-paralysis-or-cast': false,
    'wells-bedridden-or-surgery': false,
    'wells-tenderness-deep-veins': false,
    'wells-entire-leg-swollen': false,
    'wells-calf-swelling-3cm': false,
    'wells-pitting-edema': false,
    'wells-collateral-veins': false,
    'wells-previous-dvt': false,
    'wells-alternative-diagnosis': false,
  };

  it('is never low while the Wells category is undetermined (an empty form)', () => {
    const { reading, cause } = bloodClot({});
    expect(reading.threeLevel).toBeNull();
    expect(cause.qualitativeRisk).not.toBe('low');
  });

  it('takes the three-level category when it is determined, even with a PE red flag', () => {
    const { reading, cause } = bloodClot({ ...allNo, 'pe-chest-pain': true });
    expect(reading.threeLevel).toBe('low');
    expect(reading.peFlag).toBe(true);
    expect(cause.qualitativeRisk).toBe('low');
    expect(
      bloodClot({ ...allNo, 'wells-active-cancer': true, 'wells-previous-dvt': true, 'wells-pitting-edema': true }).cause.qualitativeRisk,
    ).toBe('high');
  });

  it('refuses to start when a risk-expression can give something other than low, moderate or high', () => {
    const plan = JSON.parse(fs.readFileSync(PLAN_PATH, 'utf8')) as PlanDefinition;
    const dvt = plan.action!.find((a) => a.id === 'differential')!.action!.find((a) => a.id === 'dvt')!;
    dvt.extension![0].valueExpression!.expression = "iif(%threeLevel.exists(), %threeLevel, 'unknown')";
    expect(() => createEvaluator(plan)).toThrow(RuleError);
  });
});
